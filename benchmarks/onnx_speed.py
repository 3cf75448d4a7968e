"""CPU latency of a NER student three ways: PyTorch eager, its ONNX graph in fp32, and in int8 (ONNX Runtime).

    nice -n 10 .venv/bin/python benchmarks/onnx_speed.py STUDENT [--export DIR] [--teacher DIR] \
        [--batches 1,32] [--reps 30] [--threads 2] [--sentences 256] --json onnx_speed.json

``--export``: a folder written by ``xarchkd export STUDENT DIR --int8`` (default: exported into a temporary folder
first). Sentences are the first ``--sentences`` of the CoNLL-2003 test split (``--data``). Per batch size, two modes:

- ``model``: the forward pass alone, on the same padded batches for all three (ids, mask, word positions, shapes in;
  word logits out);
- ``e2e``: text in, entities out. PyTorch: ``data.text.words`` split, ``encode_sentences``, ``predict_student``
  (its own decode), ``entity_spans``; ONNX: ``xarchkd_runtime.Tagger.tag`` (the same split, ``tokenizers``, numpy
  Viterbi, spans with character offsets).

Calls are interleaved (each repeat runs every variant once, in a rotated order) so background load hits all alike.
Writes ``{"setting": ..., "results": [{variant, mode, batch, p50_ms, p95_ms, mean_ms, sent_per_s}]}``; the
setting records the thread count, the CPU count and the load average at start and end (a shared machine shows).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def sentences(data: str, n: int) -> list[list[str]]:
    from xarchkd.data.ner_data import load_splits
    return [list(w) for w in load_splits(data, "IOB2", need=("test",))["test"]["words"][:n]]


def variants(student: str, export: Path, teacher: str | None, threads: int):
    """``{name: (model_fn(batch feed), e2e_fn(texts))}`` for torch, onnx-fp32 and onnx-int8."""
    from xarchkd.data.ner_data import encode_sentences
    from xarchkd_runtime.spans import entity_spans
    from xarchkd.data.text import words as split_words
    from xarchkd.distill.predict import predict_student
    from xarchkd.load import load_student
    from xarchkd_runtime import Tagger
    model, tok, _ = load_student(student, teacher)
    torch.set_num_threads(threads)

    @torch.inference_mode()
    def torch_model(feed):
        t = {k: torch.from_numpy(v) for k, v in feed.items()}
        return model(t["input_ids"], t["attention_mask"], positions=t["positions"], shapes=t["shapes"]).logits

    def torch_e2e(texts):
        ws = [split_words(t) for t in texts]
        rows = encode_sentences(ws, None, tok, model.cfg.labels, 128)
        return [entity_spans(tags) for tags in predict_student(model, rows, batch_size=len(texts))]

    out = {"torch": (torch_model, torch_e2e)}
    for name, int8 in (("onnx-fp32", False), ("onnx-int8", True)):
        tagger = Tagger(export, int8=int8, threads=threads, batch_size=10 ** 6)
        out[name] = ((lambda tg: lambda feed: tg.session.run(["logits"], {k: feed[k] for k in tg.feeds}))(tagger),
                     tagger.tag)
    return out, tok, model.cfg.labels


def feeds(sents, tok, labels, batch: int) -> list[dict]:
    """Padded model inputs (numpy int64), ``batch`` sentences each, as ``predict_tags`` pads them."""
    from xarchkd.data.batching import pad_ids, pad_words
    from xarchkd.data.ner_data import encode_sentences
    rows = encode_sentences(sents, None, tok, labels, 128)
    out = []
    for k in range(0, len(rows) - batch + 1, batch):
        idx = list(range(k, k + batch))
        ids, mask = pad_ids([rows.input_ids[i] for i in idx], tok.pad_token_id)
        out.append({"input_ids": ids.numpy().astype(np.int64), "attention_mask": mask.numpy().astype(np.int64),
                    "positions": pad_words([rows.word_pos[i] for i in idx], 0).numpy().astype(np.int64),
                    "shapes": pad_words([rows.shapes[i] for i in idx], 0).numpy().astype(np.int64)})
    return out


def timed(fns: dict, inputs: list, reps: int) -> dict[str, list[float]]:
    """Milliseconds per call of each fn, interleaved and rotated, after one untimed warm-up call each."""
    names = list(fns)
    for n in names:
        fns[n](inputs[0])
    ms = {n: [] for n in names}
    for r in range(reps):
        x = inputs[r % len(inputs)]
        for n in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[n](x)
            ms[n].append((time.perf_counter() - t0) * 1000)
    return ms


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("student")
    ap.add_argument("--export", default=None, help="an export folder with model.int8.onnx (default: export now)")
    ap.add_argument("--teacher", default=None, help="teacher folder, for a student saved without its tokenizer")
    ap.add_argument("--data", default="conll2003")
    ap.add_argument("--sentences", type=int, default=256)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="onnx_speed.json")
    a = ap.parse_args(argv)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(a.export) if a.export else Path(tmp) / "export"
        if not a.export:
            from xarchkd.tools.export import export_student
            export_student(a.student, str(export), int8=True, tokenizer=a.teacher)
        fns, tok, labels = variants(a.student, export, a.teacher, a.threads)
        sents = sentences(a.data, a.sentences)
        texts = [" ".join(s) for s in sents]
        results = []
        for batch in [int(b) for b in a.batches.split(",")]:
            model_ms = timed({n: f[0] for n, f in fns.items()}, feeds(sents, tok, labels, batch), a.reps)
            e2e_ms = timed({n: f[1] for n, f in fns.items()},
                           [texts[k:k + batch] for k in range(0, len(texts) - batch + 1, batch)], a.reps)
            for mode, ms in (("model", model_ms), ("e2e", e2e_ms)):
                for n, xs in ms.items():
                    xs = sorted(xs)
                    results.append({"variant": n, "mode": mode, "batch": batch, "p50_ms": statistics.median(xs),
                                    "p95_ms": xs[min(len(xs) - 1, int(0.95 * len(xs)))],
                                    "mean_ms": statistics.mean(xs), "sent_per_s": batch * 1000 / statistics.mean(xs)})
        sizes = {f.name: round(f.stat().st_size / 2 ** 20, 2) for f in export.glob("*.onnx")}
    report = {"setting": {"student": a.student, "export": a.export, "threads": a.threads, "reps": a.reps,
                          "sentences": len(sents), "cpus": os.cpu_count(), "loadavg_start": load0,
                          "loadavg_end": os.getloadavg(), "onnx_mb": sizes}, "results": results}
    Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"{r['mode']:5s} b{r['batch']:<3d} {r['variant']:9s} p50 {r['p50_ms']:8.2f} ms  "
              f"{r['sent_per_s']:8.1f} sent/s")
    return report


if __name__ == "__main__":
    main()
