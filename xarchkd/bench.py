"""CPU latency and size benchmark: teachers and students side by side, in one process.

    xarchkd bench --teacher DIR --student DIR [--student DIR ...] --json OUT

Every model (each teacher; each student in fp32, int8 dynamic quantisation and TorchScript) is
loaded into this one process, and the timed calls are *interleaved*: in each repeat every model
runs once on the same batch, in an order rotated per repeat, so background load hits all models
alike and a speedup is a ratio taken side by side.

Settings: ``torch.set_num_threads`` in ``threads`` x batch sizes x lengths x mode.

- length ``"real"``: batches of real sentences drawn (seeded) from the CoNLL-2003 test split;
  an integer ``L``: windows of exactly ``L`` sub-words (with [CLS]/[SEP]) cut from the same text,
  every sub-word treated as a word.
- mode ``"model"``: the forward pass only (padded ids in, logits at word positions out);
  ``"e2e"`` (real sentences only): text in -> entities out, i.e. whitespace split, tokenisation
  (``encode_sentences``), padding, forward, argmax, entity spans (seqeval's ``get_entities``).

Per model and setting: ``p50_ms``, ``p95_ms``, ``mean_ms``, ``sent_per_s`` (batch / mean latency),
``params``, ``size_mb`` (bytes on disk of the weights file as loaded/saved), ``peak_rss_mb`` and,
for students, ``speedup_p50`` (teacher p50 / student p50 for each teacher, same setting).

Memory: ``peak_rss_mb`` is the peak resident-set growth during one warm-up call (Linux:
``VmHWM - VmRSS`` after resetting the high-water mark through ``/proc/self/clear_refs``), i.e.
activation/workspace memory of that call; ``load_rss_mb`` is the RSS growth when the model was
loaded. Both are ``None`` where ``/proc`` is not available.

Quality: each model's F1 (seqeval, via ``finetune.evaluate_tags``) on the test split (or its first
``eval_limit`` sentences), so the cost of int8 / export is visible next to fp32 on the same sentences.
A teacher folder without a token-classification head (e.g. the ``mpnet-base`` encoder) gets a random
head: its latency is real, its F1 is reported as ``None`` (n/a).

Masked-LM models: with ``task="mlm"`` (``--task mlm``) teachers load as ``AutoModelForMaskedLM`` and
the students must be MLM students; all are timed as fill-mask (what ``xarchkd fill`` does): each row's
middle word becomes the mask token and only that position goes through the vocabulary-wide LM head
(the teacher through ``teacher.MaskedLogits``). No F1 and no end-to-end rows (their quality is the
run's top-k accuracy in ``results.json``).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from students import NUM_SHAPES

from .batching import pad_ids, pad_words
from .bench_args import _length, add_arguments, add_parser  # noqa: F401  (the CLI's options, read without torch)
from .ner_data import encode_sentences, join_sentences

CONLL_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
QUANTISABLE = (nn.Linear, nn.LSTM)    # what quantize_dynamic is asked to convert
MEMORY_METHOD = ("peak RSS growth during one warm-up call (VmHWM - VmRSS, high-water mark reset via "
                 "/proc/self/clear_refs); load_rss_mb = RSS growth while loading the model")


@dataclass
class BenchConfig:
    """What to measure (defaults: the issue's full grid)."""
    threads: tuple = (1, 2)
    batch_sizes: tuple = (1, 32)
    lengths: tuple = ("real", 32, 128)   # "real" (CoNLL test sentences) or a sub-word count
    repeats: int = 30                    # timed calls per model and model-only setting
    warmup: int = 3
    e2e: int = 30                        # timed calls per model for end to end (real sentences); 0: none
    task: str = "ner"                    # "ner" (token classification) | "mlm" (masked-LM teachers and students)
    int8: bool = True
    export: bool = True
    memory: bool = True                  # measure peak RSS growth of a warm-up call
    eval_limit: int | None = None        # sentences of the split scored for F1; None = all, 0 = no F1
    data: str = "conll2003"
    split: str = "test"
    seed: int = 0

    def __post_init__(self):
        self.lengths = tuple(_length(x) for x in self.lengths)
        self.threads, self.batch_sizes = tuple(self.threads), tuple(self.batch_sizes)


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
    decode: str = "argmax"       # how word logits become tags (``xarchkd.decode``); a student's own setting
    task: str = "ner"            # "ner" | "mlm"
    notes: str = ""
    load_rss_mb: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name} {self.variant}"

    def record(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("forward", "tokenizer", "labels", "extra")}
        return {**d, **self.extra}


# ---------------------------------------------------------------- memory

def _proc_status() -> dict | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) for k in ("VmRSS", "VmHWM")}


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb(fn: Callable) -> float | None:
    """Run ``fn()`` once; return its peak RSS growth in MB (``None`` where /proc cannot tell)."""
    before = _proc_status()
    if before is None or not _reset_peak():
        fn()
        return None
    before = _proc_status()
    fn()
    after = _proc_status()
    return round(max(0, after["VmHWM"] - before["VmRSS"]) / 1024, 2)


def _rss_mb() -> float | None:
    s = _proc_status()
    return s["VmRSS"] / 1024 if s else None


# ---------------------------------------------------------------- loading

def _file_mb(paths) -> float:
    return round(sum(Path(p).stat().st_size for p in paths) / 1e6, 2)


def teacher_entry(path: str, task: str = "ner", labels: list[str] | None = None) -> Entry:
    """A teacher folder (or resource name) as an ``Entry``, loaded on the CPU by ``load.load_teacher``. NER: without
    a token-classification head on disk, a random one with ``labels`` (default CoNLL's) is attached (latency only,
    F1 n/a). MLM: vocabulary logits at the given positions only (the LM head runs there alone)."""
    from .load import has_ner_head, load_teacher
    from .resources import resolve
    rss0 = _rss_mb()
    trained = task == "mlm" or has_ner_head(resolve(path))
    t = load_teacher(path, task, labels=None if trained else list(labels or CONLL_LABELS), device="cpu")
    folder = Path(t.path)
    info = dict(params=t.params, size_mb=_file_mb(list(folder.glob("*.safetensors")) or
                                                  list(folder.glob("pytorch_model*.bin"))),
                path=str(folder), load_rss_mb=_delta(rss0), extra={"model_type": t.model.config.model_type})
    name = t.info.get("encoder") or folder.name
    if task == "mlm":
        def forward(ids, mask, pos, shapes=None):     # the LM head at the given positions only
            return t.masked_logits(ids, mask, torch.arange(len(pos)).repeat_interleave(pos.shape[1]), pos.reshape(-1))
        return Entry("mlm teacher " + name, "teacher", "fp32", forward, t.tokenizer, [], task="mlm",
                     notes="masked-LM: quality is top-k accuracy (results.json), F1 n/a", **info)
    return Entry("teacher " + name + ("" if trained else " (random head)"), "teacher", "fp32", t.word_logits,
                 t.tokenizer, t.labels, head="trained" if trained else "random",
                 notes="" if trained else "no token-classification head on disk: random head, F1 n/a", **info)


def _delta(rss0):
    now = _rss_mb()
    return round(now - rss0, 1) if rss0 is not None and now is not None else None


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
    rss0 = _rss_mb()
    from .load import load_student
    model, tok, folder = load_student(path, fallback_tokenizer)
    c = model.cfg
    base = c.block if not taken or c.block not in taken else f"{c.block}:{student_name(folder)}"
    if taken is not None:
        taken.add(base)
    params = model.num_parameters()
    common = dict(kind="student", tokenizer=tok, labels=list(c.labels), params=params, path=str(folder),
                  block=c.block, task=c.task, decode=c.decode)
    extra = {"run": student_name(folder), "embed_dim": c.embed_dim, "hidden": c.hidden, "layers": c.layers}

    def wrap(m):
        return lambda ids, mask, pos, shapes: m(ids, mask, pos, shapes).logits

    out = [Entry(base, variant="fp32", forward=wrap(model), size_mb=_file_mb([folder / "model.safetensors"]),
                 load_rss_mb=_delta(rss0), extra=dict(extra), **common)]
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


# ---------------------------------------------------------------- inputs

def _tok_key(tok) -> str:
    vocab = sorted(tok.get_vocab().items())
    return hashlib.sha1(json.dumps([type(tok).__name__, vocab]).encode()).hexdigest()[:12]


@dataclass
class Corpus:
    """The benchmark sentences, encoded once per distinct tokenizer."""
    words: list[list[str]]
    tags: list[list[str]]
    _rows: dict = field(default_factory=dict)

    def rows(self, tok):
        key = _tok_key(tok)
        if key not in self._rows:
            self._rows[key] = encode_sentences(self.words, None, tok, CONLL_LABELS, 128)
        return self._rows[key]


def model_batch(rows, tok, sentences: np.ndarray | None, length: int | None, rng: np.random.Generator, batch: int):
    """(ids, mask, positions, shapes) for real ``sentences`` (all their rows) or a ``length``-token window batch."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    if length is None:
        want = set(sentences.tolist())
        idx = [i for i, s in enumerate(rows.sent_id.tolist()) if s in want]
        ids, mask = pad_ids([rows.input_ids[i] for i in idx], pad)
        return ids, mask, pad_words([rows.word_pos[i] for i in idx], 0), pad_words([rows.shapes[i] for i in idx], 0)
    stream = np.concatenate([x[1:-1] for x in rows.input_ids]).astype(np.int64)
    shape_stream = np.concatenate([x[1:-1] for x in rows.shapes]).astype(np.int64)
    starts = rng.integers(0, len(stream) - (length - 2), size=batch)
    special = np.zeros((batch, 1), dtype=np.int64)     # [CLS]/[SEP] have shape 0
    ids = np.concatenate([np.full((batch, 1), tok.cls_token_id), np.stack([stream[s:s + length - 2] for s in starts]),
                          np.full((batch, 1), tok.sep_token_id)], 1)
    shapes = np.concatenate([special, np.stack([shape_stream[s:s + length - 2] for s in starts]), special], 1)
    ids = torch.as_tensor(ids, dtype=torch.long)
    return ids, torch.ones_like(ids), torch.arange(1, length - 1).repeat(batch, 1), torch.as_tensor(shapes)


def fill_mask_batch(ids, mask, pos, shapes, tok):
    """A fill-mask batch from a model batch: each row's middle word (its first sub-word) becomes the
    mask token, and that is the one position asked for."""
    n_words = (pos > 0).sum(1).clamp(min=1)
    mid = pos[torch.arange(len(pos)), n_words // 2].clamp(min=1)      # min 1: never [CLS], even in an empty row
    ids = ids.clone()
    ids[torch.arange(len(ids)), mid] = tok.mask_token_id
    return ids, mask, mid[:, None], shapes


def tag_texts(entry: Entry, texts: list[str]) -> list[list[tuple]]:
    """End to end: sentences as text in, entities ``(type, start, end, "words")`` out (``end`` exclusive), through
    the one prediction path (``predict.predict_tags``, the model's own decode) and span decoder (``spans``)."""
    from .predict import predict_tags
    from .spans import entity_spans
    words = [t.split() for t in texts]
    rows = encode_sentences(words, None, entry.tokenizer, entry.labels, 128)
    tags = predict_tags(entry.forward, rows, entry.labels, entry.decode, entry.tokenizer.pad_token_id or 0,
                        batch_size=len(rows))
    return [[(t, s, e, " ".join(ws[s:e])) for s, e, t in entity_spans(ts)]
            for ws, ts in zip(words, join_sentences(rows.sent_id, tags))]


# ---------------------------------------------------------------- quality

def entry_f1(entry: Entry, corpus: Corpus) -> float | None:
    """seqeval F1 of ``entry`` on the corpus sentences (``None`` for a random-head teacher or an MLM model)."""
    from .metrics import evaluate_tags
    from .predict import predict_tags
    if entry.head != "trained" or entry.forward is None or entry.task != "ner":
        return None
    rows = encode_sentences(corpus.words, corpus.tags, entry.tokenizer, entry.labels, 128)
    pred = predict_tags(entry.forward, rows, entry.labels, entry.decode, entry.tokenizer.pad_token_id or 0, 64)
    return round(float(evaluate_tags(pred, rows, corpus.tags)["f1"]), 4)


# ---------------------------------------------------------------- timing

def _calls(entries: list[Entry], corpus: Corpus, batch: int, length, mode: str, n_calls: int, seed: int) -> dict:
    """``{entry key: [zero-argument call per repeat]}``; every model gets the same sentences per call."""
    rng = np.random.default_rng(seed)
    n = len(corpus.words)
    picks = [rng.choice(n, size=batch, replace=n < batch) for _ in range(n_calls)]
    window_seeds = rng.integers(0, 2**31, size=n_calls)
    calls = {}
    for e in entries:
        if mode == "e2e":
            texts = [[" ".join(corpus.words[i]) for i in p] for p in picks]
            calls[e.key] = [(lambda t=t, e=e: tag_texts(e, t)) for t in texts]
        else:
            rows = corpus.rows(e.tokenizer)
            fixed = None if length == "real" else int(length)
            batches = [model_batch(rows, e.tokenizer, p, fixed, np.random.default_rng(s), batch)
                       for p, s in zip(picks, window_seeds)]
            if e.task == "mlm":
                batches = [fill_mask_batch(*b, e.tokenizer) for b in batches]
            calls[e.key] = [(lambda b=b, e=e: e.forward(*b)) for b in batches]
    return calls


def time_setting(entries: list[Entry], calls: dict, warmup: int, repeats: int, memory: bool) -> dict[str, dict]:
    """Interleaved timing: each repeat runs every model once, the order rotated by one per repeat.
    Returns ``{entry key: {"p50_ms", "p95_ms", "mean_ms", "peak_rss_mb"}}``."""
    times: dict = {e.key: [] for e in entries}
    peak: dict = {e.key: None for e in entries}
    with torch.inference_mode():
        for w in range(warmup):
            for e in entries:
                if w == 0 and memory:
                    peak[e.key] = peak_rss_mb(calls[e.key][w])
                else:
                    calls[e.key][w]()
        for r in range(repeats):
            k = r % len(entries)
            for e in entries[k:] + entries[:k]:
                fn = calls[e.key][warmup + r]
                t0 = time.perf_counter()
                fn()
                times[e.key].append(time.perf_counter() - t0)
    return {key: {"p50_ms": round(float(np.percentile(ts, 50)) * 1e3, 3),
                  "p95_ms": round(float(np.percentile(ts, 95)) * 1e3, 3),
                  "mean_ms": round(statistics.fmean(ts) * 1e3, 3), "peak_rss_mb": peak[key]}
            for key, ts in times.items()}


def load_entries(teachers: list[str], students: list[str], cfg: BenchConfig, progress: Callable) -> list[Entry]:
    """Every teacher, then each student's fp32 / int8 / TorchScript variants (names made unique)."""
    from .errors import ConfigError
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


def run_bench(teachers: list[str], students: list[str], cfg: BenchConfig | None = None,
              progress: bool | Callable = True, **overrides) -> dict:
    """Load every model, time every setting with the models interleaved, score F1; return the report.

    ``cfg`` (or keyword overrides of its fields, e.g. ``repeats=5``) says what to measure.
    The report: ``models`` (one record per model and variant: params, size_mb, f1, notes, ...),
    ``latency`` (model-only rows per threads x batch_size x length), ``end_to_end`` (text in ->
    entities out rows per threads x batch_size, real sentences), plus machine and config.
    """
    from .conll import load_splits
    cfg = cfg or BenchConfig()
    if overrides:
        cfg = BenchConfig(**{**asdict(cfg), **overrides})
    say = progress if callable(progress) else ((lambda m: print(f"[bench] {m}", flush=True)) if progress
                                               else (lambda m: None))
    entries = load_entries(teachers, students, cfg, say)
    split = load_splits(cfg.data, need=(cfg.split,))[cfg.split]
    corpus = Corpus([list(w) for w in split["words"]], [list(t) for t in split["tags"]])
    live = [e for e in entries if e.forward is not None]
    latency, e2e, busy = [], [], []
    threads_before = torch.get_num_threads()
    try:
        for threads in cfg.threads:
            torch.set_num_threads(threads)
            for batch in cfg.batch_sizes:
                settings = [("model", length, cfg.repeats) for length in cfg.lengths]
                if cfg.e2e and "real" in cfg.lengths and cfg.task == "ner":   # text in -> entities out
                    settings.append(("e2e", "real", cfg.e2e))
                for mode, length, repeats in settings:
                    t0 = time.perf_counter()
                    calls = _calls(live, corpus, batch, length, mode, cfg.warmup + repeats, cfg.seed + batch)
                    c0, w0 = time.process_time(), time.perf_counter()
                    stats = time_setting(live, calls, cfg.warmup, repeats, cfg.memory)
                    share = cpu_share(time.process_time() - c0, time.perf_counter() - w0)
                    if share < BUSY_SHARE:
                        busy.append({"threads": threads, "batch_size": batch, "mode": mode, "length": length,
                                     "cpu_per_wall": share})
                    for e in live:
                        st = stats[e.key]
                        row = {"model": e.name, "kind": e.kind, "task": e.task, "variant": e.variant,
                               "threads": threads,
                               "batch_size": batch, "length": length, **st,
                               "sent_per_s": round(batch / (st["mean_ms"] / 1e3), 2),
                               "params": e.params, "size_mb": e.size_mb}
                        (e2e if mode == "e2e" else latency).append(row)
                    say(f"threads={threads} batch={batch} {mode} length={length}: {time.perf_counter() - t0:.1f}s")
    finally:
        torch.set_num_threads(threads_before)
    _add_speedups(latency)
    _add_speedups(e2e)
    warnings_ = oversubscription_warnings(busy)
    for w in warnings_:
        say(f"WARNING: {w}")
    return {"format": "xarchkd-bench", "version": 1, "machine": machine_info(), "config": asdict(cfg),
            "warnings": warnings_, "busy_settings": busy,
            "memory_method": MEMORY_METHOD if cfg.memory else "not measured",
            "sent_per_s": "batch size / mean latency of one call",
            "models": _model_records(entries, corpus, cfg, latency, say), "latency": latency, "end_to_end": e2e}


def _model_records(entries, corpus, cfg, latency, say) -> list[dict]:
    n = len(corpus.words) if cfg.eval_limit is None else min(cfg.eval_limit, len(corpus.words))
    sub = Corpus(corpus.words[:n], corpus.tags[:n])
    biggest = max(cfg.threads)
    out = []
    with num_threads(biggest):
        for e in entries:
            rec = e.record()
            rec["skipped"] = e.forward is None
            rec["f1"] = entry_f1(e, sub) if n else None
            rec["f1_sentences"] = n if rec["f1"] is not None else 0
            peaks = [r["peak_rss_mb"] for r in latency if r["model"] == e.name and r["variant"] == e.variant
                     and r["batch_size"] == max(cfg.batch_sizes) and r["length"] == max(
                         [x for x in cfg.lengths if x != "real"], default="real") and r["threads"] == biggest]
            rec["peak_rss_mb_b32x128"] = peaks[0] if peaks else None   # at the largest batch x length measured
            out.append(rec)
            if n:
                say(f"F1 {e.name} {e.variant}: {rec['f1']} ({n} sentences)")
    return out


class num_threads:
    """Context manager: ``torch.set_num_threads(n)`` inside, the previous count after."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def _add_speedups(results: list[dict]) -> None:
    """Give each student row ``speedup_p50`` = {teacher: teacher p50 / student p50} in the same setting."""
    key = lambda r: (r["threads"], r["batch_size"], str(r["length"]))   # noqa: E731
    teachers = {}
    for r in results:
        if r["kind"] == "teacher":
            teachers.setdefault(key(r), []).append(r)
    for r in results:
        if r["kind"] == "student":
            r["speedup_p50"] = {t["model"]: round(t["p50_ms"] / r["p50_ms"], 2) for t in teachers.get(key(r), [])}


BUSY_SHARE = 0.8     # below this many CPU-seconds per wall second, the timed loop was kept waiting for a core


def cpu_share(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU-seconds this process used per wall-clock second (all its threads together), rounded."""
    return round(cpu_seconds / max(wall_seconds, 1e-9), 3)


def oversubscription_warnings(busy: list[dict]) -> list[str]:
    """One line per kind of evidence that other work shared the CPU while timing: settings whose timed loop
    got under ``BUSY_SHARE`` CPU-seconds per wall second (a forward pass computes all the time, so an idle
    machine gives it at least one core), and a 1-minute load average above the core count + 1 (the bench
    itself counts for about one)."""
    out = []
    if busy:
        worst = min(busy, key=lambda b: b["cpu_per_wall"])
        out.append(f"{len(busy)} setting(s) got under {BUSY_SHARE} CPU-seconds per wall second (worst "
                   f"{worst['cpu_per_wall']} at threads={worst['threads']} batch={worst['batch_size']} "
                   f"{worst['mode']} length={worst['length']}): other processes shared the CPU, so these "
                   "latencies are inflated; rerun on an idle machine")
    load, cores = (os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0), os.cpu_count() or 1
    if load > cores + 1:
        out.append(f"1-minute load average {load:.1f} on {cores} cores: the machine was oversubscribed")
    return out


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "quantized_engine": torch.backends.quantized.engine, "loadavg_1min_at_end": load}


# ---------------------------------------------------------------- command line

def config_from_args(args) -> BenchConfig:
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 30)
    return BenchConfig(threads=args.threads, batch_sizes=args.batch_sizes, lengths=args.lengths, repeats=repeats,
                       warmup=args.warmup if args.warmup is not None else (1 if args.quick else 3),
                       e2e=repeats if args.e2e_repeats is None else args.e2e_repeats, memory=args.memory,
                       int8=args.int8, export=args.export,
                       eval_limit=args.eval_limit if args.eval_limit is not None else (200 if args.quick else None),
                       data=args.data, seed=args.seed, task=args.task)


def main_from_args(args) -> int:
    from .errors import ConfigError
    if not args.teacher and not args.student:
        raise ConfigError("give at least one --teacher or --student")
    report = run_bench(args.teacher, args.student, config_from_args(args),
                       progress=lambda m: print(f"[bench] {m}", flush=True))
    print(summary_table(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"bench: {args.json}")
    return 0


def summary_table(report: dict) -> str:
    """A plain-text overview: p50 ms per model and variant for each threads/batch/length (e2e: end to end)."""
    rows = [(r, str(r["length"])) for r in report["latency"]] + [(r, "e2e") for r in report["end_to_end"]]
    settings = sorted({(r["threads"], r["batch_size"], ln) for r, ln in rows}, key=str)
    p50 = {(r["model"], r["variant"], r["threads"], r["batch_size"], ln): r["p50_ms"] for r, ln in rows}
    head = ["model", "variant", "MB", "F1"] + [f"t{t}/b{b}/{ln}" for t, b, ln in settings]
    lines = [head]
    for m in report["models"]:
        f1 = "n/a" if m["f1"] is None else f"{m['f1']:.4f}"
        cells = [f"{p50[k]:.2f}" if (k := (m["name"], m["variant"], *s)) in p50 else "-" for s in settings]
        lines.append([m["name"], m["variant"], f"{m['size_mb']:.1f}", f1] + cells)
    w = [max(len(r[i]) for r in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)) for r in lines]
    notes = [f"  {m['name']} {m['variant']}: {m['notes']}" for m in report["models"] if m.get("notes")]
    warned = [f"  WARNING: {w}" for w in report.get("warnings", [])]
    return "\n".join(["p50 ms (threads/batch/length; e2e = text in -> entities out):", *text,
                      *(["notes:", *notes] if notes else []), *warned])
