"""Run a command and sample, each second, every process of its tree: resident memory split into anonymous pages
(the process's own heap) and file-backed pages (memory-mapped files: Arrow tables, .npy memmaps), from
/proc/<pid>/smaps_rollup. Prints each process's sample at its peak RSS as JSON (docs/results/gpu-and-scale.md reads the
corpus stage's growth with it).

    python benchmarks/rss_by_kind.py -- xarchkd corpus corpus-1000000.txt --teacher T --root /tmp/probe --num-proc 2
"""
from __future__ import annotations

import json
import subprocess
import sys
import time


def _tree(pid: int) -> list[int]:
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return [pid]
    return [pid] + [q for c in kids for q in _tree(int(c))]


def _sample(pid: int) -> dict | None:
    try:
        d = {k: int(v.split()[0]) // 1024 for k, v in (line.split(":", 1) for line in open(f"/proc/{pid}/smaps_rollup"))
             if k in ("Rss", "Pss", "Anonymous")}
    except (OSError, ValueError):
        return None
    return {"rss_mb": d["Rss"], "pss_mb": d["Pss"], "anonymous_mb": d["Anonymous"], "file_mb": d["Rss"] - d["Anonymous"]}


def main(argv: list[str]) -> int:
    cmd = argv[1:] if argv and argv[0] == "--" else argv
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak: dict[int, dict] = {}
    while proc.poll() is None:
        for pid in _tree(proc.pid):
            s = _sample(pid)
            if s and s["rss_mb"] > peak.get(pid, {}).get("rss_mb", -1):
                peak[pid] = {**s, "role": "main" if pid == proc.pid else "child"}
        time.sleep(1.0)
    print(json.dumps({"returncode": proc.returncode, "peaks": peak}, indent=1))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
