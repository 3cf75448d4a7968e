"""Student training speed: train sentences/s per block (lstm, sru, srupp, cnn), device and precision, in one run.

    python benchmarks/train_speed.py --sentences 2000 --epochs 1 --json train_speed.json
    python benchmarks/train_speed.py --blocks lstm --device cuda --precision bf16 --epochs 2

It runs the real training path: the NER recipe's config (``bert-<block>-ner``, its student, loss, batch
size and learning rate), rows encoded by ``prepare_ner`` from the first N CoNLL-2003 train sentences,
their teacher logits from a real ``ner_cache``, ``NerExamples`` batches, and ``xarchkd.distill.train.train_student``
(Accelerate, AdamW, clipping, checkpoints). Only the training steps are timed: from the first batch
of an epoch to the end of its last step (a CUDA synchronize before the clock stops); the per-epoch
evaluation is replaced by a no-op and checkpoint saving falls outside the timed span. The figure
reported per row is the last epoch's (use ``--epochs 2`` or more to leave warm-up out); all epochs are
in the JSON, with sentences per second of this process's CPU time (all its threads), a steadier figure
than wall time where other jobs share the cores.

The teacher is a small *randomly initialised* BERT token classifier (like the tests' tiny teacher)
with the MiniLM tokenizer, whose logits fill the cache: training speed does not depend on the
teacher's quality, only on the cached arrays' shapes, so no teacher fine-tune is needed.

On a CPU the cores may be shared with other jobs: say so next to any figure quoted from here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:          # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

BLOCKS = ("lstm", "sru", "srupp", "cnn")
TEACHER_SIZES = {   # hidden, layers, heads, intermediate
    "tiny": (32, 2, 2, 64),
    "small": (384, 6, 12, 1536),     # all-MiniLM-L6-v2's shape, random weights
}


def register_bundled_recipes() -> None:
    """Make the bundled recipes known even where the package is not installed (its entry points missing),
    e.g. a checkout on a GPU box run with ``PYTHONPATH=.``."""
    import xarchkd
    from recipes import RECIPES
    for r in RECIPES.values():
        xarchkd.register_recipe(r)


def data_labels(data: str = "conll2003") -> list[str]:
    """The data's tag set, "O" first (what a random teacher must know)."""
    from xarchkd.data.ner_data import load_splits
    tags = {t for s in load_splits(data).values() for seq in s["tags"] for t in seq}
    return ["O"] + sorted(tags - {"O"})


def random_teacher(folder: str | Path, tokenizer: str = "minilm-l6", labels: list[str] | None = None,
                   size: str = "tiny", seed: int = 0) -> Path:
    """Save a randomly initialised BertForTokenClassification with ``tokenizer``'s vocabulary and ``labels``
    (default: CoNLL-2003's) in ``folder``: a teacher whose cached logits cost nothing to make."""
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from xarchkd.data.resources import resolve
    folder = Path(folder)
    tok = AutoTokenizer.from_pretrained(resolve(tokenizer))
    labels = labels or data_labels()
    hidden, layers, heads, inter = TEACHER_SIZES[size]
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=inter, max_position_embeddings=512, num_labels=len(labels),
                     id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    BertForTokenClassification(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def combos(devices: list[str], precisions: list[str]) -> list[tuple[str, str]]:
    """(device, precision) pairs to run: bf16/fp16 only on CUDA; CUDA only when present."""
    out = []
    for d in devices:
        if d == "cuda" and not torch.cuda.is_available():
            print("[train_speed] no CUDA device: skipping --device cuda", file=sys.stderr)
            continue
        out += [(d, p) for p in precisions if d == "cuda" or p == "fp32"]
    return out


def time_training(block: str, device: str, precision: str, sentences: int, epochs: int, teacher: str,
                  work: Path, data: str = "conll2003", batch_size: int = 0, impl: str = "") -> dict:
    """Train the ``bert-<block>-ner`` student on the first ``sentences`` train sentences; time its steps."""
    from students import StudentConfig, StudentModel
    from xarchkd.data.disk_examples import NerExamples
    from xarchkd.distill.train import train_student
    from xarchkd.recipe import resolve_config
    from xarchkd.tasks.ner import build_vocab_map, prepare_ner
    from xarchkd.teachers.cache import ner_cache

    sets = {"teacher.name": str(teacher), "teacher.finetune": False, "data.name": data,
            "data.train_limit": sentences, "data.eval_limit": 1, "train.epochs": epochs,
            "train.mixed_precision": {"fp32": "no"}.get(precision, precision), "train.cpu": device == "cpu",
            "out": str(work / f"{block}-{device}-{precision}")}
    if batch_size:
        sets["train.batch_size"] = batch_size
    cfg = resolve_config(f"bert-{block}-ner", sets)
    if impl and block in ("sru", "srupp"):
        cfg.student.block_args = {**cfg.student.block_args, "impl": impl}
    tpath, tok, labels, rows = prepare_ner(cfg, progress=False)
    train_rows = rows["train"].rows
    examples = NerExamples([(train_rows, ner_cache(tpath, train_rows, work / "cache", progress=False))],
                           tok.pad_token_id)
    scfg = StudentConfig(**{**cfg.student.__dict__, "task": "ner", "vocab_size": len(tok), "num_labels": len(labels),
                            "labels": labels, "pad_id": tok.pad_token_id, "unk_id": tok.unk_token_id})
    token_map, kept = build_vocab_map([train_rows], len(tok), [tok.unk_token_id, tok.pad_token_id, tok.cls_token_id,
                                                               tok.sep_token_id, tok.mask_token_id])
    scfg.kept_vocab = len(kept)
    torch.manual_seed(cfg.train.seed)
    model = StudentModel(scfg)
    model.set_vocab(token_map)

    cuda = device == "cuda"
    starts, ends = [], []       # (wall, process CPU) clocks at each epoch's first batch and after its last step
    collate = examples.collate

    def timed_collate(idx):     # the first batch of an epoch starts its clock
        if len(starts) == len(ends):
            if cuda:
                torch.cuda.synchronize()
            starts.append((time.perf_counter(), time.process_time()))
        return collate(idx)

    def stop_clock(_model):     # called right after an epoch's last step: stop its clock, evaluate nothing
        if cuda:
            torch.cuda.synchronize()
        ends.append((time.perf_counter(), time.process_time()))
        return {"score": 0.0}

    examples.collate = timed_collate
    train_student(model, examples, stop_clock, cfg.loss, cfg.train, cfg.out, progress=False)
    secs = [e[0] - s[0] for s, e in zip(starts, ends)]
    cpu_secs = [e[1] - s[1] for s, e in zip(starts, ends)]
    n = len(np.unique(train_rows.sent_id))      # sentences (a long one may fill several rows)
    return {"block": block, "device": device, "precision": precision, "sentences": n, "rows": len(examples),
            "batch_size": cfg.train.batch_size, "params": model.num_parameters(),
            "epoch_seconds": [round(s, 3) for s in secs],
            "sentences_per_s": round(n / secs[-1], 1), "first_epoch_sentences_per_s": round(n / secs[0], 1),
            # all of this process's threads: steadier than wall time where other jobs share the cores
            "sentences_per_cpu_s": round(n / cpu_secs[-1], 1), "torch_threads": torch.get_num_threads()}


def collate_ms(sentences: int, teacher: str, work: Path, data: str = "conll2003", batch_size: int = 32) -> float:
    """Mean milliseconds ``NerExamples.collate`` takes per training batch (an epoch's batches, logits included)."""
    from xarchkd.data.batching import length_batches
    from xarchkd.data.disk_examples import NerExamples
    from xarchkd.recipe import resolve_config
    from xarchkd.tasks.ner import prepare_ner
    from xarchkd.teachers.cache import ner_cache
    cfg = resolve_config("bert-lstm-ner", {"teacher.name": str(teacher), "teacher.finetune": False,
                                           "data.name": data, "data.train_limit": sentences, "data.eval_limit": 1})
    tpath, tok, _, rows = prepare_ner(cfg, progress=False)
    ex = NerExamples([(rows["train"].rows, ner_cache(tpath, rows["train"].rows, work / "cache", progress=False))],
                     tok.pad_token_id)
    batches = [b.tolist() for b in length_batches(ex.lengths, batch_size, shuffle=True, seed=1)]
    for b in batches[:5]:
        ex.collate(b)
    t = time.perf_counter()
    for b in batches:
        ex.collate(b)
    return 1000 * (time.perf_counter() - t) / len(batches)


def environment() -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", default=",".join(BLOCKS), help="comma-separated blocks (default: %(default)s)")
    ap.add_argument("--sentences", type=int, default=2000, help="first N CoNLL-2003 train sentences (default: 2000)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs; the last one is reported (default: 1)")
    ap.add_argument("--device", default="cpu,cuda", help="cpu and/or cuda (cuda skipped without one; default: both)")
    ap.add_argument("--precision", default="fp32,bf16", help="fp32, bf16, fp16 (half precision on CUDA only)")
    ap.add_argument("--batch-size", type=int, default=0, help="batch size (default: the recipe's, 32)")
    ap.add_argument("--impl", default="", help="student.block_args.impl for sru/srupp (default: the block's own)")
    ap.add_argument("--teacher", default="tiny", choices=sorted(TEACHER_SIZES),
                    help="size of the random teacher filling the cache (default: tiny)")
    ap.add_argument("--tokenizer", default="minilm-l6", help="tokenizer resource or folder (default: minilm-l6)")
    ap.add_argument("--data", default="conll2003", help="CoNLL data resource or folder (default: conll2003)")
    ap.add_argument("--json", help="write the rows and the environment to this JSON file")
    a = ap.parse_args(argv)
    register_bundled_recipes()
    pairs = combos(a.device.split(","), a.precision.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="train_speed-") as tmp:
        work = Path(tmp)
        teacher = random_teacher(work / "teacher", a.tokenizer, data_labels(a.data), a.teacher)
        ms = collate_ms(a.sentences, str(teacher), work, a.data, a.batch_size or 32)
        print(f"collate: {ms:.2f} ms per batch of {a.batch_size or 32} (NerExamples.collate, logits included)")
        print(f"{'block':6} {'device':6} {'prec':5} {'train sent/s':>12} {'epoch 1 sent/s':>14} {'sent/CPU-s':>10} "
              f"{'params':>9}  error")
        for device, precision in pairs:
            for block in a.blocks.split(","):
                try:
                    r = time_training(block, device, precision, a.sentences, a.epochs, str(teacher), work, a.data,
                                      a.batch_size, a.impl)
                    print(f"{block:6} {device:6} {precision:5} {r['sentences_per_s']:12,.0f} "
                          f"{r['first_epoch_sentences_per_s']:14,.0f} {r['sentences_per_cpu_s']:10,.0f} "
                          f"{r['params']:9,}", flush=True)
                except Exception as e:  # one failing block must not hide the others
                    r = {"block": block, "device": device, "precision": precision,
                         "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]}
                    print(f"{block:6} {device:6} {precision:5} {'-':>12} {'-':>14} {'-':>10} {'-':>9}  {r['error']}",
                          flush=True)
                rows.append(r)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": " ".join(sys.argv), "environment": environment(),
                                            "collate_ms_per_batch": round(ms, 3), "rows": rows}, indent=2))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
