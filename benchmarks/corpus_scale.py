"""Corpus -> cache -> one student epoch at several corpus sizes: peak memory and rows/s of each stage (docs/results/gpu-and-scale.md).

For each size N it writes an N-sentence corpus (``make_corpus.py``), then runs each stage as its own process:

- ``corpus``: ``xarchkd corpus FILE`` -- read, split and encode into an on-disk rows store (``--num-proc``);
- ``cache``:  ``xarchkd cache --rows STORE`` -- the teacher's logits for every row of the store;
- ``epoch``:  ``xarchkd run bert-cnn-ner`` with ``data.transfer=corpus:FILE`` and ``train.epochs=1`` -- finds the
  store and both caches by fingerprint (no teacher forward), trains one epoch over the labelled CoNLL-2003 train
  rows plus the store's rows, scores valid and test.

Memory of a stage: ``peak RSS`` is the largest resident set any one of its processes reached (``wait4``'s
``ru_maxrss``: the stage's process, or a ``datasets`` worker it started); ``peak PSS`` is the largest sum over the
stage's process tree, sampled every second from ``/proc/<pid>/smaps_rollup`` (shared pages counted once), so the
workers of a ``num_proc`` stage count together. Pages of the page cache that no process maps are counted by neither.

The teacher is ``minilm-l6`` with a token-classification head of CoNLL's 9 labels (random, seeded: the cost per row
is what is measured, not the labels), made once under ``--work``. Before the sizes, the labelled train split's cache
is built (and measured, as a reference) so that no size's epoch stage builds it.

Each stage runs with one torch thread (``--threads``) and ``datasets`` with ``--num-proc`` processes.

    python benchmarks/corpus_scale.py --sizes 10000 100000 1000000 --work /tmp/corpus-scale --json benchmarks/corpus_scale.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
HERE = Path(__file__).resolve().parent
XARCHKD = [sys.executable, "-m", "xarchkd.cli"]
STUDENT = ["--set", "student.embed_dim=64", "--set", "student.hidden=64", "--set", "student.layers=2"]
CONLL_TRAIN = 14041


def make_teacher(folder: Path) -> Path:
    """minilm-l6 with a seeded random 9-label token-classification head, saved as a teacher folder."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from xarchkd.data.resources import fetch
    src = fetch("minilm-l6")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        str(src), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(tmp)
    tmp.replace(folder)
    return folder


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


THREADS = {"OMP_NUM_THREADS": "1"}     # one torch thread: on 2 shared cores, 2 threads ran 3-35x slower (waiting on
                                       # each other while other processes held the cores)


def measure(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` (stdout+stderr to ``log``); its wall seconds, peak RSS (MB, largest process) and peak tree PSS."""
    peak = [0]
    with open(log, "w") as out:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **THREADS})
        stop = threading.Event()

        def sample():
            while not stop.wait(1.0):
                peak[0] = max(peak[0], sum(_pss_kb(p) for p in _tree(proc.pid)))
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        th.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}); see {log}")
    return {"seconds": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "peak_pss_mb": round(peak[0] / 1024, 1)}


def last_json(log: Path) -> dict:
    """The JSON object a command printed last (its stdout ends with it)."""
    text = log.read_text()
    start = text.rindex("\n{") + 1 if "\n{" in text else text.index("{")
    return json.JSONDecoder().raw_decode(text, start)[0]


def one_size(n: int, work: Path, teacher: Path, num_proc: int) -> dict:
    corpus = work / f"corpus-{n}.txt"
    if not corpus.is_file():
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(n), str(corpus)], check=True)
    root = work / "cache"
    row = {"sentences": n, "corpus_mb": round(corpus.stat().st_size / 1e6, 1)}
    log = work / f"log-{n}-corpus.txt"
    row["corpus"] = measure(XARCHKD + ["corpus", str(corpus), "--teacher", str(teacher), "--root", str(root),
                                       "--num-proc", str(num_proc)], log)
    st = last_json(log)
    row["corpus"].update(rows=st["rows"], store_mb=round(st["bytes"] / 1e6, 1), build=st["build"],
                         rows_per_s=round(st["rows"] / row["corpus"]["seconds"], 1))
    log = work / f"log-{n}-cache.txt"
    row["cache"] = measure(XARCHKD + ["cache", "--teacher", str(teacher), "--rows", st["path"], "--root",
                                      str(root)], log)
    c = last_json(log)
    row["cache"].update(rows=c["rows"], cache_mb=round(c["bytes"] / 1e6, 1), build_seconds=c["build"]["seconds"],
                        rows_per_s=c["build"]["rows_per_s"], forwards=c["teacher_forwards_this_call"])
    out = work / f"run-{n}"
    factor = -(-n * 10000 // CONLL_TRAIN) / 10000            # round(factor x 14,041) >= n: the whole corpus
    row["epoch"] = measure(XARCHKD + ["run", "bert-cnn-ner", "--out", str(out), "--quiet",
                                      "--set", f"teacher.name={teacher}", "--set", "teacher.finetune=false",
                                      "--set", f"cache_dir={root}", "--set", f"data.transfer=corpus:{corpus}",
                                      "--set", f"data.transfer_factor={factor}", "--set", "train.epochs=1",
                                      "--set", "train.min_steps=0"] + STUDENT, work / f"log-{n}-epoch.txt")
    res = json.loads((out / "results.json").read_text())
    row["epoch"].update(train_rows=res["train_rows"], transfer_rows=res["transfer"]["rows"],
                        train_seconds=res["train_seconds"],
                        rows_per_s=round(res["train_rows"] / res["train_seconds"], 1),
                        student_params=res["student"]["params"])
    return row


def table(rows: list[dict]) -> str:
    out = ["| sentences | stage | rows | seconds | rows/s | peak RSS MB (largest process) | peak PSS MB (process tree) |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        for stage, what in (("corpus", "rows"), ("cache", "rows"), ("epoch", "train_rows")):
            s = r[stage]
            out.append(f"| {r['sentences']:,} | {stage} | {s[what]:,} | {s['seconds']} | {s['rows_per_s']:,} | "
                       f"{s['peak_rss_mb']:,} | {s['peak_pss_mb']:,} |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000, 1000000])
    ap.add_argument("--work", default="/tmp/corpus-scale")
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the measurements here")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each stage (OMP_NUM_THREADS)")
    args = ap.parse_args(argv)
    THREADS["OMP_NUM_THREADS"] = str(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    teacher = make_teacher(work / "teacher-minilm-l6-ner-head")
    report = {"teacher": str(teacher), "num_proc": args.num_proc, "torch_threads": args.threads, "student": STUDENT,
              "sizes": []}
    log = work / "log-labelled-cache.txt"
    report["labelled_cache"] = measure(XARCHKD + ["cache", "--teacher", str(teacher), "--split", "train", "--root",
                                                  str(work / "cache")], log)
    report["labelled_cache"]["build"] = last_json(log)["build"]
    for n in args.sizes:
        report["sizes"].append(one_size(n, work, teacher, args.num_proc))
        print(json.dumps(report["sizes"][-1]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    print(table(report["sizes"]))


if __name__ == "__main__":
    main()
