"""Render a bench JSON (and the runs' results.json) into Markdown tables and a PNG plot.

    python benchmarks/report.py benchmarks/bench.json --png docs/latency_vs_f1.png > /tmp/tables.md

Plot: CPU latency (p50, batch 1, 2 threads, real sentences) vs test F1, marker area ~ MB on disk.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def pick(rep, threads=2, bs=1, length="real"):
    return [r for r in rep["latency"] if r["threads"] == threads and r["batch_size"] == bs and r["length"] == length]


def latency_table(rep) -> str:
    out = ["| model | variant | threads | batch | input | p50 ms | p95 ms | sent/s | speedup (p50) vs teachers |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rep["latency"]:
        sp = ", ".join(f"{v}x vs {k}" for k, v in r.get("speedup_p50", {}).items())
        out.append(f"| {r['model']} | {r['variant']} | {r['threads']} | {r['batch_size']} | {r['length']} | "
                   f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['sent_per_s']:.0f} | {sp} |")
    return "\n".join(out)


def model_table(rep) -> str:
    out = ["| model | variant | params | MB on disk | test F1 | peak RSS MB (b32×128) | notes |",
           "|---|---|---|---|---|---|---|"]
    for m in rep["models"]:
        f1 = f"{m['f1']:.4f}" if m.get("f1") is not None else "n/a"
        if m.get("f1_sentences"):
            f1 += f" ({m['f1_sentences']} sent.)"
        out.append(f"| {m['name']} | {m['variant']} | {m['params'] / 1e6:.2f}M | {m['size_mb']:.1f} | {f1} | "
                   f"{m.get('peak_rss_mb_b32x128') or ''} | {m.get('notes', '')} |")
    return "\n".join(out)


def e2e_table(rep) -> str:
    out = ["| model | variant | p50 ms | p95 ms |", "|---|---|---|---|"]
    out += [f"| {r['model']} | {r['variant']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} |" for r in rep["end_to_end"]]
    return "\n".join(out)


def plot(rep, png: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    f1 = {(m["name"], m["variant"]): m for m in rep["models"]}
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in pick(rep):
        m = f1[(r["model"], r["variant"])]
        if m.get("f1") is None:
            continue
        color = "tab:red" if r["kind"] == "teacher" else {"fp32": "tab:blue", "int8": "tab:orange",
                                                          "torchscript": "tab:green"}[r["variant"]]
        ax.scatter(r["p50_ms"], m["f1"], s=max(20, m["size_mb"] * 4), color=color, alpha=0.6, edgecolors="k")
        ax.annotate(f"{r['model']} {r['variant']}", (r["p50_ms"], m["f1"]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("CPU latency p50, batch 1, 2 threads, real CoNLL test sentences (ms, log)")
    ax.set_ylabel("CoNLL-2003 test F1")
    ax.set_title("xarchkd students vs teacher (marker area ~ MB on disk)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_json")
    ap.add_argument("--png", default=None)
    a = ap.parse_args()
    rep = json.loads(Path(a.bench_json).read_text())
    print("### Models\n\n" + model_table(rep) + "\n\n### Model-only latency\n\n" + latency_table(rep)
          + "\n\n### End to end (text in -> entities out, batch 1)\n\n" + e2e_table(rep))
    if a.png:
        plot(rep, a.png)
