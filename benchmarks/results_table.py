"""Render run folders' results.json into the Markdown tables of docs/results/.

    python benchmarks/results_table.py runs/bert-*-ner runs/bert-*-ner-nokd runs/bert-*-ner-aug* ...
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


def transfer_table(runs) -> str:
    """NER runs by transfer source: extra rows, epochs, the extra rows' cache size and build time."""
    from xarchkd.data.transfer import Source
    head = ("| run | student | transfer | extra rows | train rows | epochs | test F1 | valid F1 | gap to teacher (test) | "
            "extra cache MB | extra cache build s | train s |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, r in runs:
        if r["task"] != "ner" or not r.get("kd", True):
            continue
        tr, caches = r.get("transfer") or {}, r.get("caches") or []
        extra = caches[1] if len(caches) > 1 else None
        named = tr.get("source") or "+".join(  # results.json: "source" (a string) before 2026-12-03, then "sources"
            Source(**x).spec + (f"*{x['weight']:g}" if x["weight"] != 1 else "") for x in tr.get("sources", []))
        src = f"{named} x{tr['factor']:g}" if named else "labelled only"
        rows.append(f"| {name} | {r['student']['arch']} | {src} | {tr.get('rows', 0):,} | {r['train_rows']:,} | "
                    f"{len(r['history'])} | {r['student']['f1']:.4f} | {r['student'].get('valid_f1', 0):.4f} | "
                    f"{100 * (r['teacher']['f1'] - r['student']['f1']):+.1f} | "
                    f"{extra['mb'] if extra else ''} | {extra['build_seconds'] if extra else ''} | "
                    f"{r['train_seconds']:.0f} |")
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
        if any((r.get("transfer") or {}).get("source") or (r.get("transfer") or {}).get("sources") for _, r in runs):
            print("\n" + transfer_table(runs))
    if any(r["task"] == "mlm" for _, r in runs):
        print(mlm_table(runs))
