"""The report: each model's record (with its F1 on the benchmark sentences and peak memory), speed-ups of
students over teachers in the same setting, and the plain-text summary table."""
from __future__ import annotations

from ...data.ner_data import encode_sentences
from .inputs import Corpus
from .models import Entry
from .timing import num_threads

def entry_f1(entry: Entry, corpus: Corpus) -> float | None:
    """seqeval F1 of ``entry`` on the corpus sentences (``None`` for a random-head teacher or an MLM model)."""
    from ...distill.metrics import evaluate_tags
    from ...distill.predict import predict_tags
    if entry.head != "trained" or entry.forward is None or entry.task != "ner":
        return None
    rows = encode_sentences(corpus.words, corpus.tags, entry.tokenizer, entry.labels, 128)
    pred = predict_tags(entry.forward, rows, entry.labels, entry.decode, entry.tokenizer.pad_token_id or 0, 64,
                        crf=entry.crf)
    return round(float(evaluate_tags(pred, rows, corpus.tags)["f1"]), 4)


def model_records(entries, corpus, cfg, latency, say) -> list[dict]:
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


def add_speedups(results: list[dict]) -> None:
    """Give each student row ``speedup_p50`` = {teacher: teacher p50 / student p50} in the same setting."""
    key = lambda r: (r["threads"], r["batch_size"], str(r["length"]))   # noqa: E731
    teachers = {}
    for r in results:
        if r["kind"] == "teacher":
            teachers.setdefault(key(r), []).append(r)
    for r in results:
        if r["kind"] == "student":
            r["speedup_p50"] = {t["model"]: round(t["p50_ms"] / r["p50_ms"], 2) for t in teachers.get(key(r), [])}


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
