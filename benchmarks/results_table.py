"""Render run folders' results.json into the Markdown tables of benchmarks/RESULTS.md.

    python benchmarks/results_table.py runs/bert-*-ner runs/bert-*-ner-nokd
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def load(folders):
    out = []
    for f in folders:
        p = Path(f) / "results.json"
        if p.is_file():
            out.append((Path(f).name, json.loads(p.read_text())))
    return out


def ner_table(runs) -> str:
    head = ("| run | student | KD | train rows | params | MB | test F1 | valid F1 | teacher test F1 | gap | "
            "train s |\n|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, r in runs:
        if r["task"] != "ner":
            continue
        s, t = r["student"], r["teacher"]
        rows.append(f"| {name} | {s['arch']} | {'yes' if r.get('kd', True) else 'no'} | {r.get('train_rows', '')} | "
                    f"{s['params'] / 1e6:.2f}M | {s['size_mb']:.1f} | {s['f1']:.4f} | {s.get('valid_f1', 0):.4f} | "
                    f"{t['f1']:.4f} | {100 * (t['f1'] - s['f1']):+.1f} | {r['train_seconds']:.0f} |")
    return "\n".join([head, *rows])


def mlm_table(runs) -> str:
    head = ("| run | student | params | MB | top-1 | top-5 | rel top-1 | rel top-5 | teacher top-1 / top-5 | "
            "cache MB (train) | train s |\n|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, r in runs:
        if r["task"] != "mlm":
            continue
        s, t, c = r["student"], r["teacher"], r["cache"]
        rows.append(f"| {name} | {s['arch']} | {s['params'] / 1e6:.2f}M | {s['size_mb']:.1f} | {s['top1']:.3f} | "
                    f"{s['top5']:.3f} | {s['rel_top1']:.3f} | {s['rel_top5']:.3f} | {t['top1']:.3f} / {t['top5']:.3f} | "
                    f"{c['train_bytes'] / 1e6:.1f} | {r['train_seconds']:.0f} |")
    return "\n".join([head, *rows])


if __name__ == "__main__":
    runs = load(sys.argv[1:])
    if any(r["task"] == "ner" for _, r in runs):
        print(ner_table(runs))
    if any(r["task"] == "mlm" for _, r in runs):
        print(mlm_table(runs))
