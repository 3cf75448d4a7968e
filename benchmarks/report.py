"""Render a bench JSON (``xarchkd bench --json``), plus optional runs' results.json, into Markdown and a PNG.

    python benchmarks/report.py benchmarks/bench.json runs/bert-*-ner --png docs/latency_vs_f1.png

Prints Markdown tables (models; model-only latency; end to end) for docs/results/speed.md. The plot
(needs matplotlib: ``pip install -e .[bench]``): CPU latency p50 at batch 1, 2 threads, real CoNLL
test sentences (log x) against test F1, marker area ~ MB on disk. A run folder's results.json gives
the full-test F1 of its fp32 student (and of its teacher); other F1s come from the bench JSON, which
may have scored a subset (the tables say how many sentences). Models without an F1 (a random-head
teacher) are drawn as a vertical line at their latency.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_runs(paths) -> dict[str, dict]:
    """``{resolved folder: {"f1", "kind"}}`` from run folders (or results.json files): students and teachers."""
    out = {}
    for p in paths:
        f = Path(p) / "results.json" if Path(p).is_dir() else Path(p)
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        if r.get("task") != "ner":
            continue
        if r.get("student_dir"):
            out[str(Path(r["student_dir"]).resolve())] = {"f1": r["student"]["f1"], "run": f.parent.name}
        if r.get("teacher", {}).get("path"):
            out[str(Path(r["teacher"]["path"]).resolve())] = {"f1": r["teacher"]["f1"], "run": f.parent.name}
    return out


def full_f1(m: dict, runs: dict):
    """(F1, where from) for a model record: the run's full-test F1 for an fp32 model, else the bench's."""
    run = runs.get(str(Path(m["path"]).resolve()))
    if run and m["variant"] == "fp32" and run["f1"] is not None:
        return run["f1"], "run"
    return m.get("f1"), "bench"


def _f1_cells(m, runs) -> str:
    """The bench's F1 (same sentences for every model) | the run's full-test F1 (fp32 only)."""
    bench = "n/a" if m.get("f1") is None else f"{m['f1']:.4f}"
    f1, src = full_f1(m, runs)
    return f"{bench} | {f1:.4f}" if src == "run" else f"{bench} | "


def _p50(rep, m, threads, bs, length="real", table="latency"):
    for r in rep[table]:
        if (r["model"], r["variant"], r["threads"], r["batch_size"], str(r["length"])) == \
                (m["name"], m["variant"], threads, bs, str(length)):
            return r
    return None


def model_table(rep, runs) -> str:
    """One row per model and variant: size, F1, the headline latencies and speed-ups."""
    t = max(rep["config"]["threads"])
    big = max(rep["config"]["batch_sizes"])
    out = [f"| model | variant | params | MB on disk | F1 (bench sentences) | full-test F1 (run) | p50 ms b1 t{t} | p50 ms b{big} t{t} | sent/s b{big} t{t} | "
           f"speed-up p50 b1 t{t} | e2e p50 ms b1 t{t} | peak RSS MB | notes |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in rep["models"]:
        one, many, e2e = _p50(rep, m, t, 1), _p50(rep, m, t, big), _p50(rep, m, t, 1, table="end_to_end")
        sp = ", ".join(f"{v:.1f}× vs {k}" for k, v in (one or {}).get("speedup_p50", {}).items())
        out.append(f"| {m['name']} | {m['variant']} | {m['params'] / 1e6:.2f}M | {m['size_mb']:.1f} | {_f1_cells(m, runs)} | "
                   f"{_ms(one)} | {_ms(many)} | {many['sent_per_s']:.0f} | {sp} | {_ms(e2e)} | "
                   f"{m.get('peak_rss_mb_b32x128') if m.get('peak_rss_mb_b32x128') is not None else ''} | "
                   f"{m.get('notes', '')} |" if many else
                   f"| {m['name']} | {m['variant']} | | | | | | | | | | | {m.get('notes', '')} |")
    return "\n".join(out)


def _ms(r) -> str:
    return f"{r['p50_ms']:.2f}" if r else "-"


def latency_table(rep, table="latency") -> str:
    """Every measured setting: p50 / p95 / sent/s and the speed-up over each teacher."""
    out = ["| model | variant | threads | batch | input | p50 ms | p95 ms | sent/s | speed-up (p50) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rep[table]:
        sp = ", ".join(f"{v:.1f}× vs {k}" for k, v in r.get("speedup_p50", {}).items())
        length = "real sentences" if r["length"] == "real" else f"{r['length']} sub-words"
        out.append(f"| {r['model']} | {r['variant']} | {r['threads']} | {r['batch_size']} | {length} | "
                   f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['sent_per_s']:.0f} | {sp} |")
    return "\n".join(out)


def headline_table(rep, runs, threads: int = 2) -> str:
    """The README's table: teachers, and students in fp32 and int8, at batch 1, real sentences, ``threads``
    threads; speed and size against the biggest teacher."""
    big = max((m for m in rep["models"] if m["kind"] == "teacher"), key=lambda m: m["params"])
    name = big["name"].removeprefix("teacher ").removesuffix(" (random head)")
    out = [f"| model | params | MB on disk | test F1 | CPU p50 ms, 1 sentence, {threads} threads | "
           f"faster than {name} | smaller than {name} |", "|---|---|---|---|---|---|---|"]
    rb = _p50(rep, big, threads, 1)
    for m in rep["models"]:
        r = _p50(rep, m, threads, 1)
        if m["variant"] not in ("fp32", "int8") or r is None:
            continue
        f1, _ = full_f1(m, runs)
        f1 = m.get("f1") if f1 is None else f1
        label = m["name"] if m["variant"] == "fp32" else f"{m['name']} {m['variant']}"
        out.append(f"| {label} | {m['params'] / 1e6:.1f}M | {m['size_mb']:.1f} | "
                   f"{'n/a (no NER head)' if f1 is None else f'{f1:.4f}'} | {r['p50_ms']:.2f} | "
                   f"{rb['p50_ms'] / r['p50_ms']:.0f}x | "
                   f"{big['size_mb'] / m['size_mb']:.0f}x |")
    return "\n".join(out)


def render(rep, runs) -> str:
    mc = rep["machine"]
    n = next((m["f1_sentences"] for m in rep["models"] if m.get("f1_sentences")), 0)
    head = (f"F1 (bench sentences): seqeval F1 on the first {n} {rep['config']['split']} sentences, the same for "
            f"every model. Machine: {mc['cpu']}, {mc['cores']} cores, torch {mc['torch']} (quantized engine "
            f"{mc['quantized_engine']}); {rep['config']['repeats']} interleaved repeats per setting. "
            f"Memory: {rep['memory_method']}.")
    return "\n\n".join([head, "### Models\n\n" + model_table(rep, runs),
                        "### Model-only latency\n\n" + latency_table(rep),
                        "### End to end (text in -> entities out, tokenisation included)\n\n"
                        + latency_table(rep, "end_to_end")])


def plot(rep, runs, png: str, threads: int = 2) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"fp32": "tab:blue", "int8": "tab:orange", "torchscript": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in rep["models"]:
        r = _p50(rep, m, threads, 1)
        if r is None:
            continue
        f1, _ = full_f1(m, runs)
        label = f"{m['name']} {m['variant']}"
        if f1 is None:
            ax.axvline(r["p50_ms"], color="tab:red", ls="--", lw=1)
            ax.annotate(f"{label} (F1 n/a)", (r["p50_ms"], 0.02), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=7, color="tab:red", xytext=(3, 0), textcoords="offset points")
            continue
        color = "tab:red" if m["kind"] == "teacher" else colors.get(m["variant"], "gray")
        ax.scatter(r["p50_ms"], f1, s=max(20, 4 * m["size_mb"]), color=color, alpha=0.6, edgecolors="k")
        ax.annotate(label, (r["p50_ms"], f1), fontsize=7, xytext=(5, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"CPU latency p50 (ms, log), batch 1, {threads} threads, real CoNLL-2003 test sentences")
    ax.set_ylabel("CoNLL-2003 test F1")
    ax.set_title("Teachers (red) and students: fp32 blue, int8 orange, TorchScript green; area ~ MB")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(png, dpi=120)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench_json")
    ap.add_argument("runs", nargs="*", help="run folders (or results.json files) for full-test F1")
    ap.add_argument("--png", default=None, help="write the latency-vs-F1 plot here")
    ap.add_argument("--threads", type=int, default=2, help="thread count of the plotted latency")
    ap.add_argument("--headline", action="store_true", help="print only the README's table")
    a = ap.parse_args()
    report, run_f1 = json.loads(Path(a.bench_json).read_text()), load_runs(a.runs)
    print(headline_table(report, run_f1, a.threads) if a.headline else render(report, run_f1))
    if a.png:
        plot(report, run_f1, a.png, a.threads)
