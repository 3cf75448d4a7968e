"""F1 of a student as it ships: PyTorch, its ONNX export and the int8 export, on the same split.

    python benchmarks/export_f1.py runs/panel/ncbi-disease/bert-lstm-ner/student --out runs/export-f1/ncbi.json

Exports the student (``xarchkd export --int8``) into ``--export`` (default: a folder beside ``--out``), tags the data
the student was trained on (its ``xarchkd_student.json``; ``--data`` for another folder) with each variant: the
student through PyTorch (``xarchkd eval``'s path), the exported graphs through ``xarchkd_runtime.Tagger`` (ONNX Runtime,
no torch in its path) and scores each with seqeval's default entity F1. Prints one line per variant; writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("student", help="a NER student folder (a run's OUT/student)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--export", default=None, help="export folder (default: <out without .json>-export)")
    p.add_argument("--data", default=None, help="data folder (default: the student's own)")
    p.add_argument("--split", default="test")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from xarchkd.data.ner_data import load_splits
    from xarchkd.data.ner_data import encode_sentences
    from xarchkd.distill.metrics import evaluate_tags, ner_scores
    from xarchkd.distill.predict import predict_student
    from xarchkd.load import load_model
    from xarchkd_runtime import Tagger
    from xarchkd.tasks.ner import trained_on
    from xarchkd.tools.export import export_student

    own = trained_on(args.student)
    data = args.data or own.get("path") or own.get("name")
    split = load_splits(data, own.get("scheme", "auto"), need=(args.split,))[args.split]
    words, gold = [list(w) for w in split["words"]], [list(t) for t in split["tags"]]
    out_dir = Path(args.export or str(Path(args.out).with_suffix("")) + "-export")
    if not (out_dir / "model.int8.onnx").is_file():
        export_student(args.student, str(out_dir), int8=True)
    kind, model, tok = load_model(args.student)
    rows = encode_sentences(words, gold, tok, model.cfg.labels, 128)      # as `xarchkd eval` encodes them
    results = {"student": args.student, "data": str(data), "split": args.split, "sentences": len(words),
               "scoring": "seqeval default (conlleval-compatible)"}
    results["pytorch"] = evaluate_tags(predict_student(model, rows), rows, gold)["f1"]
    for name, int8 in (("onnx_fp32", False), ("onnx_int8", True)):
        tagger = Tagger(str(out_dir), int8=int8)
        results[name] = ner_scores(gold, tagger.tag_words(words))["f1"]
    for f in ("model.onnx", "model.int8.onnx"):
        results[f"{f}_mb"] = round((out_dir / f).stat().st_size / 1e6, 2)
    for name in ("pytorch", "onnx_fp32", "onnx_int8"):
        print(f"{name:10s} {args.split} F1 {results[name]:.4f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
