"""The benchmarked models: each teacher, and each student in fp32, int8 (dynamic quantisation) and TorchScript,
as ``Entry``s (a forward function plus what the report needs to know), loaded by ``xarchkd.load``."""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from students import NUM_SHAPES

from .options import BenchConfig
from .timing import rss_growth_mb, rss_mb

CONLL_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


QUANTISABLE = (nn.Linear, nn.LSTM)    # what quantize_dynamic is asked to convert


@dataclass
class Entry:
    """One benchmarked model: a forward function plus what the report needs to know about it."""
    name: str
    kind: str                    # "teacher" | "student"
    variant: str                 # "fp32" | "int8" | "torchscript"
    forward: Callable            # (ids [B,T], mask [B,T], positions [B,P], shapes [B,T]) -> logits [B,P,C]
    tokenizer: object
    labels: list[str]
    params: int
    size_mb: float
    path: str
    block: str | None = None
    head: str = "trained"        # teachers: "trained" | "random" (no token-classification head on disk)
    decode: str = "argmax"       # how word logits become tags (``xarchkd.distill.decode``); a student's own setting
    crf: object = None           # a decode="crf" student's tag-transition scores
    task: str = "ner"            # "ner" | "mlm"
    notes: str = ""
    load_rss_mb: float | None = None
    extra: dict = field(default_factory=dict)
    e2e: Callable | None = None  # text in -> entities out, where it is not ``inputs.tag_texts`` (the ONNX runtime)

    @property
    def key(self) -> str:
        return f"{self.name} {self.variant}"

    def record(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("forward", "tokenizer", "labels", "extra", "e2e", "crf")}
        return {**d, **self.extra}


def _file_mb(paths) -> float:
    return round(sum(Path(p).stat().st_size for p in paths) / 1e6, 2)


def teacher_entry(path: str, task: str = "ner", labels: list[str] | None = None) -> Entry:
    """A teacher folder (or resource name) as an ``Entry``, loaded on the CPU by ``load.load_teacher``. NER: without
    a token-classification head on disk, a random one with ``labels`` (default CoNLL's) is attached (latency only,
    F1 n/a). MLM: vocabulary logits at the given positions only (the LM head runs there alone)."""
    from ...data.resources import resolve
    from ...load import has_ner_head, load_teacher
    rss0 = rss_mb()
    trained = task == "mlm" or has_ner_head(resolve(path))
    t = load_teacher(path, task, labels=None if trained else list(labels or CONLL_LABELS), device="cpu")
    folder = Path(t.path)
    info = dict(params=t.params, size_mb=_file_mb(list(folder.glob("*.safetensors")) or
                                                  list(folder.glob("pytorch_model*.bin"))),
                path=str(folder), load_rss_mb=rss_growth_mb(rss0), extra={"model_type": t.model.config.model_type})
    name = t.info.get("encoder") or folder.name
    if task == "mlm":
        def forward(ids, mask, pos, shapes=None):     # the LM head at the given positions only
            return t.masked_logits(ids, mask, torch.arange(len(pos)).repeat_interleave(pos.shape[1]), pos.reshape(-1))
        return Entry("mlm teacher " + name, "teacher", "fp32", forward, t.tokenizer, [], task="mlm",
                     notes="masked-LM: quality is top-k accuracy (results.json), F1 n/a", **info)
    return Entry("teacher " + name + ("" if trained else " (random head)"), "teacher", "fp32", t.word_logits,
                 t.tokenizer, t.labels, head="trained" if trained else "random",
                 notes="" if trained else "no token-classification head on disk: random head, F1 n/a", **info)


def student_name(folder: Path) -> str:
    """A run's name for its student folder (``runs/bert-lstm-ner/student`` -> ``bert-lstm-ner``)."""
    return folder.parent.name if folder.name == "student" else folder.name


def quantize(model: nn.Module) -> tuple[nn.Module, int]:
    """int8 dynamic quantisation (``torch.ao.quantization.quantize_dynamic``) of every ``nn.Linear`` and
    ``nn.LSTM`` of ``model`` (left unchanged); returns the quantised copy and how many modules it converted."""
    q = torch.ao.quantization.quantize_dynamic(model, set(QUANTISABLE), dtype=torch.qint8).eval()
    return q, sum(1 for m in q.modules() if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic"))


def quantized_summary(model: nn.Module, q: nn.Module) -> dict:
    """Which module types of ``model`` were converted in ``q``, the share of parameters they hold,
    and the parameter-holding module types left in fp32."""
    conv = {n for n, m in q.named_modules() if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")}
    kinds: dict = {}
    covered = 0
    for n, m in model.named_modules():
        if n in conv:
            kinds[type(m).__name__] = kinds.get(type(m).__name__, 0) + 1
            covered += sum(p.numel() for p in m.parameters())
    left = sorted({type(m).__name__ for n, m in q.named_modules()
                   if n not in conv and any(True for _ in m.parameters(recurse=False))})
    return {"quantized_modules": kinds, "quantized_param_fraction": round(covered / max(1, sum(
        p.numel() for p in model.parameters())), 4), "fp32_modules": left}


class _Logits(nn.Module):
    """``StudentModel`` with a plain-tensor output, for ``torch.jit.trace``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask, pos, shapes):
        return self.model(ids, mask, pos, shapes).logits


def export_student(model: nn.Module, vocab_size: int, pad_id: int) -> tuple[torch.jit.ScriptModule | None, str]:
    """TorchScript by ``torch.jit.trace`` on one padded batch, then checked on a batch of another
    shape against eager mode; returns ``(module, note)`` or ``(None, reason)`` when it does not hold."""
    def batch(b, t, p, seed):
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(1, vocab_size, (b, t), generator=g)
        mask = torch.ones(b, t, dtype=torch.long)
        if b > 1:
            mask[-1, t // 2:] = 0
            ids[-1, t // 2:] = pad_id
        pos = torch.randint(1, max(2, t // 2), (b, p), generator=g)
        return ids, mask, pos, torch.randint(0, NUM_SHAPES, (b, t), generator=g)
    wrapped = _Logits(model).eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(wrapped, batch(4, 16, 6, 0), check_trace=False)
            traced = torch.jit.freeze(traced)
            check = batch(3, 23, 5, 1)
            diff = float((traced(*check) - wrapped(*check)).abs().max())
    except Exception as e:   # noqa: BLE001 -- any tracing failure is a recorded skip, not a crash
        return None, f"skipped: torch.jit.trace failed ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
    if not diff <= 1e-4:
        return None, f"skipped: traced graph differs from eager on another shape (max abs diff {diff:.2e})"
    return traced, f"torch.jit.trace + freeze; checked on another shape (max abs diff {diff:.1e})"


def _int8_note(info: dict) -> str:
    done = ", ".join(f"{n} {k}" for k, n in info["quantized_modules"].items()) or "nothing"
    return (f"dynamic int8 on {done} ({100 * info['quantized_param_fraction']:.0f}% of parameters); "
            f"left fp32: {', '.join(info['fp32_modules'])}")


def _saved_mb(obj, save) -> float:
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # torch.jit.save's "switch to torch.export"
        p = Path(d) / "m.pt"
        save(obj, p)
        return _file_mb([p])


def student_entries(path: str, cfg: BenchConfig, fallback_tokenizer=None, taken: set | None = None) -> list[Entry]:
    """The fp32 / int8 / TorchScript entries of one student folder (a variant that cannot be built
    is returned as an entry with ``forward=None`` and the reason in ``note``)."""
    rss0 = rss_mb()
    from ...load import load_student
    model, tok, folder = load_student(path, fallback_tokenizer)
    c = model.cfg
    base = c.block if not taken or c.block not in taken else f"{c.block}:{student_name(folder)}"
    if taken is not None:
        taken.add(base)
    params = model.num_parameters()
    common = dict(kind="student", tokenizer=tok, labels=list(c.labels), params=params, path=str(folder),
                  block=c.block, task=c.task, decode=c.decode, crf=getattr(model, "crf", None))
    extra = {"run": student_name(folder), "embed_dim": c.embed_dim, "hidden": c.hidden, "layers": c.layers}

    def wrap(m):
        return lambda ids, mask, pos, shapes: m(ids, mask, pos, shapes).logits

    out = [Entry(base, variant="fp32", forward=wrap(model), size_mb=_file_mb([folder / "model.safetensors"]),
                 load_rss_mb=rss_growth_mb(rss0), extra=dict(extra), **common)]
    if cfg.int8:
        try:
            q, _ = quantize(model)
            info = quantized_summary(model, q)
            out.append(Entry(base, variant="int8", forward=wrap(q),
                             size_mb=_saved_mb(q.state_dict(), torch.save),
                             notes=_int8_note(info),
                             extra={**extra, **info}, **common))
        except Exception as e:   # noqa: BLE001
            out.append(Entry(base, variant="int8", forward=None, size_mb=0.0,
                             notes=f"skipped: quantize_dynamic failed ({type(e).__name__}: {e})", extra=dict(extra),
                             **common))
    if cfg.export:
        traced, note = export_student(model, c.vocab_size, c.pad_id)
        size = _saved_mb(traced, torch.jit.save) if traced is not None else 0.0
        out.append(Entry(base, variant="torchscript",
                         forward=(lambda *batch: traced(*batch)) if traced is not None else None,
                         size_mb=size, notes=note, extra=dict(extra), **common))
    return out


def load_entries(teachers: list[str], students: list[str], cfg: BenchConfig, progress: Callable) -> list[Entry]:
    """Every teacher, then each student's fp32 / int8 / TorchScript variants (names made unique)."""
    from ...errors import ConfigError
    if cfg.task not in ("ner", "mlm"):
        raise ConfigError(f"bench task {cfg.task!r}: use 'ner' or 'mlm'")
    entries: list[Entry] = []
    for t in teachers:
        e = teacher_entry(t, cfg.task)
        while any(x.name == e.name for x in entries):
            e.name += "'"
        entries.append(e)
        progress(f"loaded {e.name} ({e.params / 1e6:.1f}M params, {e.size_mb:.1f} MB)")
    fallback = entries[0].tokenizer if entries else None
    taken: set = set()
    for s in students:
        entries += student_entries(s, cfg, fallback, taken)
        if entries[-1].task != cfg.task:
            raise ConfigError(f"student {s} is a {entries[-1].task!r} student; this bench is for task "
                              f"{cfg.task!r} (pass --task {entries[-1].task})")
        progress(f"loaded student {s}: " + "; ".join(f"{e.variant}: {e.notes or 'ok'}" for e in entries
                                                     if e.path == entries[-1].path and e.variant != "fp32"))
    return entries
