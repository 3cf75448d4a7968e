"""Sharded, resumable cache builds on Accelerate: one process or N (``accelerate launch --num_processes N``:
GPUs, or CPU processes with gloo) compute one cache together, in the one-process format and bytes.

This module is the per-rank side: the process state (``process_state``, ``is_main_process``, ``on_main``),
the build folder's plan (``plan_hash``, ``lay_out``) and one rank's share of the batches (``compute_share``).
``cache.py`` owns the build (its lock, its manifest, publishing it) and calls these; nothing here imports it.

How a build goes:

- The batches are fixed before any work is shared (length-sorted, exactly as for one process), so a row's
  teacher output never depends on how many processes build the cache: every batch is padded and computed
  as in a one-process build, whichever rank computes it.
- The main process alone holds the cache's file lock and decides (a finished cache is reused, a corrupt
  one rebuilt); ``broadcast_object_list`` gives the other ranks its answer (or its error).
- The main process lays out ``<folder>.partial``: every array at its full size (``.npy`` memmaps),
  ``offsets.npy``, ``build.json`` (fingerprint, shapes, batch count, device and precision) and
  ``batches_done.npy`` (one byte per batch). Then every rank opens the same files and writes the rows of
  its share of the batches not yet done: dealt round-robin (long and short batches alike for each rank)
  and handed out by Accelerate's ``split_between_processes``. Batches own disjoint item ranges, so no two
  ranks ever write the same bytes.
- Every few seconds (``cache.FLUSH_SECONDS``, passed in) a rank flushes its arrays (and unmaps their written pages,
  so its resident memory stays flat however large the cache), then marks its finished batches
  in ``batches_done.npy``. A kill -9 of any rank (which ends the launch) leaves every flushed batch
  marked; the next build -- with the same or another number of processes -- deals out only the rest.
- ``gather_object`` collects each rank's shard record (batches, rows, items, bytes, seconds); the main
  process checks every batch is marked, drops the two build files, writes the sha256 checksums and the
  manifest (``build.processes``, ``build.shards``) and renames the folder into place.

The ranks must see one filesystem (one machine, or a filesystem shared by the machines). The main
process's progress bar counts rows of all ranks (from ``batches_done.npy``) and shows rows/s and an ETA.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..data.memmaps import drop_pages
from ..disk import DiskFullError, saving
from ..errors import CacheError
from ..say import say

DONE_FILE, PLAN_FILE = "batches_done.npy", "build.json"


def process_state(cpu: bool):
    """Accelerate's ``PartialState`` for this process: its rank and the number of processes. Under
    ``accelerate launch`` it joins the launch's process group; ``cpu=True`` is what makes Accelerate see
    a multi-process CPU launch as MULTI_CPU (gloo) rather than N independent runs. An already initialised
    state (e.g. a teacher fine-tune's Accelerator) is returned as it is."""
    from accelerate import PartialState
    return PartialState(cpu=cpu)


def is_main_process() -> bool:
    """True on the main process of a launch, and in a process no launch started."""
    from accelerate import PartialState
    return PartialState().is_main_process if PartialState._shared_state != {} else True   # as PartialState.initialized


def on_main(state, fn):
    """``fn()`` on the main process only; every rank returns its result or raises its error (so no rank
    waits for an answer that never comes). A barrier, too: the other ranks go on once ``fn`` is done."""
    if state.num_processes == 1:
        return fn()
    from accelerate.utils import broadcast_object_list
    box = [None]
    if state.is_main_process:
        try:
            box[0] = ("ok", fn())
        except CacheError as e:
            box[0] = ("error", str(e))
            broadcast_object_list(box)
            raise
        except BaseException as e:
            box[0] = ("error", f"the main process failed: {type(e).__name__}: {e}")
            broadcast_object_list(box)
            raise
    broadcast_object_list(box)
    kind, value = box[0]
    if kind == "error":
        raise CacheError(value)
    return value


def plan_hash(batches) -> str:
    """Which rows go in which batch: a resumed build must cut the same batches (padding follows them)."""
    import hashlib
    h = hashlib.sha256(np.array([len(b) for b in batches], dtype=np.int64).tobytes())
    if len(batches):
        h.update(np.concatenate(batches).astype(np.int64).tobytes())
    return h.hexdigest()


def lay_out(work: Path, plan: dict, offsets, progress: bool) -> int:
    """Keep a matching unfinished build in ``work``, or lay out a fresh one (every array at full size, the offsets,
    the done marks, then ``build.json``); return how many batches are done."""
    try:
        same = json.loads((work / PLAN_FILE).read_text()) == plan
    except (OSError, ValueError):
        same = False
    if same:              # build.json is written last, so every file it describes exists
        n_done = int(np.load(work / DONE_FILE, mmap_mode="r").sum())
        say(progress, f"[xarchkd] resuming cache build: {n_done}/{plan['n_batches']} batches done")
        return n_done
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        with saving(work, "no teacher work was done yet: free space and run again"):
            for name, (shape, dt) in plan["spec"].items():
                np.lib.format.open_memmap(work / f"{name}.npy", mode="w+", dtype=np.dtype(dt), shape=tuple(shape))
                _reserve(work / f"{name}.npy")
            np.save(work / "offsets.npy", offsets)
            np.lib.format.open_memmap(work / DONE_FILE, mode="w+", dtype=np.uint8, shape=(plan["n_batches"],))
            _reserve(work / DONE_FILE)
            write_text(work / PLAN_FILE, json.dumps(plan))
    except DiskFullError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return 0


def _reserve(path: Path) -> None:
    """Give a freshly laid-out (sparse) array file its disk blocks now: a disk too small for the cache is then a
    clean error here, not a crash (SIGBUS) when a memory-mapped page is written back in the middle of the build."""
    fallocate = getattr(os, "posix_fallocate", None)      # not on macOS: the file stays sparse there
    if fallocate is None:
        return
    with open(path, "r+b") as f:
        try:
            fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):   # a file system that cannot
                raise


def compute_share(state, task: str, work: Path, spec: dict, offsets, batches, compute, progress: bool,
                  flush_seconds: float):
    """This rank's share of the batches not yet done, computed into the memmaps of ``work`` by
    ``compute(arrays, mine, on_batch)``, flushed and marked every ``flush_seconds``. Returns this rank's
    shard record, the progress bar (main process: all ranks' rows) and the rows done before this build."""
    from tqdm.auto import tqdm
    n_proc, main = state.num_processes, state.is_main_process
    arrays = {name: np.load(work / f"{name}.npy", mmap_mode="r+") for name in spec}
    done = np.load(work / DONE_FILE, mmap_mode="r+")
    batch_rows = np.array([len(b) for b in batches], dtype=np.int64)
    rows_before = int(batch_rows[done.astype(bool)].sum())
    todo = np.flatnonzero(done == 0)
    if n_proc > 1:        # every rank reads the same marks before any rank writes new ones (else the deals differ
        state.wait_for_everyone()                     # and batches fall between them)
    dealt = [int(b) for r in range(n_proc) for b in todo[r::n_proc]]   # rank r's chunk below is todo[r::n_proc]
    with state.split_between_processes(dealt) as mine:
        mine = list(mine)
    bar = tqdm(total=len(offsets) - 1, initial=rows_before, unit="row", unit_scale=True, mininterval=2,
               desc=f"caching {task} teacher outputs" + (f" ({n_proc} processes)" if n_proc > 1 else ""),
               disable=not (progress and main))
    t0, pending, last_flush = time.time(), [], [time.time()]

    def flush():
        for a in arrays.values():
            a.flush()
        drop_pages(*arrays.values())     # written pages leave this process (a cache larger than memory builds)
        if pending:           # marked only once their rows are flushed
            done[pending] = 1
            done.flush()
            pending.clear()
        last_flush[0] = time.time()
        if main:              # every rank's flushed rows
            bar.update(int(batch_rows[done.astype(bool)].sum()) - bar.n)

    def on_batch(bi):
        pending.append(bi)
        if main:
            bar.update(int(batch_rows[bi]))
        if time.time() - last_flush[0] >= flush_seconds:
            flush()

    compute(arrays, mine, on_batch)
    flush()
    items = int(sum(np.diff(offsets)[batches[b]].sum() for b in mine))
    item_bytes = sum(np.dtype(dt).itemsize * int(np.prod(shape[1:])) for shape, dt in spec.values())
    shard = {"rank": state.process_index, "batches": len(mine), "rows": int(batch_rows[mine].sum()),
             "items": items, "bytes": items * item_bytes, "seconds": round(time.time() - t0, 2)}
    return shard, bar, rows_before
