"""``run_bench``: load every model, time every setting with the models in rotating turns, score F1, build the report;
``main_from_args``: the ``xarchkd bench`` command."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from .inputs import Corpus, timed_calls
from .models import load_entries
from .options import BenchConfig, config_from_args
from .report import add_speedups, model_records, summary_table
from .timing import BUSY_SHARE, MEMORY_METHOD, cpu_share, machine_info, oversubscription_warnings, time_setting


def run_bench(teachers: list[str], students: list[str], cfg: BenchConfig | None = None,
              progress: bool | Callable = True, **overrides) -> dict:
    """Load every model, time every setting with the models in rotating turns, score F1; return the report.

    ``cfg`` (or keyword overrides of its fields, e.g. ``repeats=5``) says what to measure.
    The report: ``models`` (one record per model and variant: params, size_mb, f1, notes, ...),
    ``latency`` (model-only rows per threads x batch_size x length), ``end_to_end`` (text in ->
    entities out rows per threads x batch_size, real sentences), plus machine and config.
    """
    from ...data.ner_data import load_splits
    cfg = cfg or BenchConfig()
    if overrides:
        cfg = BenchConfig(**{**asdict(cfg), **overrides})
    say = progress if callable(progress) else ((lambda m: print(f"[bench] {m}", flush=True)) if progress
                                               else (lambda m: None))
    entries = _entries(teachers, students, cfg, say)
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
                    calls = timed_calls(live, corpus, batch, length, mode, cfg.warmup + repeats, cfg.seed + batch)
                    c0, w0 = time.process_time(), time.perf_counter()
                    stats = time_setting(live, calls, cfg.warmup, repeats, cfg.memory, cfg.turn)
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
    add_speedups(latency)
    add_speedups(e2e)
    warnings_ = oversubscription_warnings(busy)
    for w in warnings_:
        say(f"WARNING: {w}")
    return {"format": "xarchkd-bench", "version": 1, "machine": machine_info(), "config": asdict(cfg),
            "warnings": warnings_, "busy_settings": busy,
            "memory_method": MEMORY_METHOD if cfg.memory else "not measured",
            "sent_per_s": "batch size / mean latency of one call",
            "models": model_records(entries, corpus, cfg, latency, say), "latency": latency, "end_to_end": e2e,
            "install_mb": _install_sizes(cfg)}


def _entries(teachers: list[str], students: list[str], cfg: BenchConfig, say) -> list:
    """Every model's entries (``load_entries``), then each student's ONNX Runtime fp32 and int8 ones."""
    entries = load_entries(teachers, students, cfg, say)
    if cfg.onnx and cfg.task == "ner":
        from .onnx import available, onnx_entries
        if not available():
            say("no ONNX rows: the export extra is not installed (pip install 'xarchkd[export]')")
        else:
            entries += [x for e in list(entries) if e.kind == "student" and e.variant == "fp32"
                        for x in onnx_entries(e, cfg.threads)]
    return entries


def _install_sizes(cfg: BenchConfig) -> dict:
    """MB on disk of what each path imports: the ONNX runtime's distributions against PyTorch's."""
    if not (cfg.onnx and cfg.task == "ner"):
        return {}
    from .onnx import PYTORCH_DIST, RUNTIME_DIST, install_mb, requirements
    return {"onnx_runtime": install_mb(requirements(RUNTIME_DIST)), "pytorch": install_mb(requirements(PYTORCH_DIST))}


def main_from_args(args) -> int:
    """Run ``xarchkd bench`` with parsed ``args``: the report's table on stdout, the report as JSON to ``--json``."""
    from ...errors import ConfigError
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
