"""Measuring: timing every model per setting in rotating turns, peak memory of a call, the CPU share the timed
loop got (too little means other processes shared the CPU: the numbers are flagged), and the machine."""
from __future__ import annotations

import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

MEMORY_METHOD = ("peak RSS growth during one warm-up call (VmHWM - VmRSS, high-water mark reset via "
                 "/proc/self/clear_refs); load_rss_mb = RSS growth while loading the model")


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


def rss_mb() -> float | None:
    """This process's resident set in MB (``None`` where /proc cannot tell)."""
    s = _proc_status()
    return s["VmRSS"] / 1024 if s else None


def rss_growth_mb(rss0):
    """The RSS growth in MB since ``rss0`` (an ``rss_mb()``), or ``None``."""
    now = rss_mb()
    return round(now - rss0, 1) if rss0 is not None and now is not None else None


def time_setting(entries: list, calls: dict, warmup: int, repeats: int, memory: bool, turn: int = 1) -> dict[str, dict]:
    """Timing in turns: each model makes ``turn`` consecutive calls (its weights stay in the CPU caches, as in a
    process that serves one model), then the next model takes its turn; the order of the models rotates by one
    per round, so a change of the machine's speed hits every model alike. ``turn=1``: every call interleaved
    (a small model then starts each call with caches a big one has just flushed).
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
        for rnd, start in enumerate(range(0, repeats, turn)):
            k = rnd % len(entries)
            for e in entries[k:] + entries[:k]:
                for r in range(start, min(start + turn, repeats)):
                    fn = calls[e.key][warmup + r]
                    t0 = time.perf_counter()
                    fn()
                    times[e.key].append(time.perf_counter() - t0)
    return {key: {"p50_ms": round(float(np.percentile(ts, 50)) * 1e3, 3),
                  "p95_ms": round(float(np.percentile(ts, 95)) * 1e3, 3),
                  "mean_ms": round(statistics.fmean(ts) * 1e3, 3), "peak_rss_mb": peak[key]}
            for key, ts in times.items()}


class num_threads:
    """Context manager: ``torch.set_num_threads(n)`` inside, the previous count after."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


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
