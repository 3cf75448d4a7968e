"""Sharded, resumable cache builds on Accelerate: one process or N (``accelerate launch --num_processes N``:
GPUs, or CPU processes with gloo) compute one cache together, in the one-process format and bytes.

How ``get_or_build`` does it:

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
- Every few seconds (``cache.FLUSH_SECONDS``) a rank flushes its arrays (and unmaps their written pages,
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

import json
import shutil
import time
from pathlib import Path

import numpy as np
from filelock import FileLock

from ..atomic import publish_dir, write_json, write_text
from ..data.memmaps import drop_pages
from ..errors import CacheError

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


def get_or_build(task, key, teacher, root, path, offsets, batches, shapes, compute, progress, extra, load):
    """Open the cache for ``key`` (under ``root`` or at ``path``), building it with every process of the
    launch if it is missing, unfinished or damaged. ``compute(tch, arrays, batches, todo, on_batch)`` fills
    ``arrays`` for the batch indices ``todo``, calling ``on_batch(bi)`` after each."""
    from ..distill.accel import inference_device
    from .cache import _say, open_cache
    from .teacher import Teacher
    dev = teacher.device if isinstance(teacher, Teacher) else inference_device(load.get("device", "auto"))
    state = process_state(cpu=dev.type != "cuda")
    main = state.is_main_process
    final = Path(path) if path is not None else Path(root) / f"{task}-{key[:16]}"
    lock = None
    if main:
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(final) + ".lock")
        lock.acquire()
    try:
        found = {}

        def look():
            if final.exists():
                try:
                    found["cache"] = open_cache(final, key)
                    return "hit"
                except CacheError as e:
                    if path is not None and "built for other inputs" in str(e):
                        raise
                    _say(progress, f"[xarchkd] {e}; rebuilding it")
                    shutil.rmtree(final)
            return "build"

        if on_main(state, look) == "hit":
            return found["cache"] if main else open_cache(final, key, verify=False)   # the main process verified it
        return _build(state, task, key, teacher, final, offsets, batches, shapes, compute, progress, extra, load)
    finally:
        if lock is not None:
            lock.release()


def _plan_hash(batches) -> str:
    """Which rows go in which batch: a resumed build must cut the same batches (padding follows them)."""
    import hashlib
    h = hashlib.sha256(np.array([len(b) for b in batches], dtype=np.int64).tobytes())
    if len(batches):
        h.update(np.concatenate(batches).astype(np.int64).tobytes())
    return h.hexdigest()


def _build(state, task, key, teacher, final, offsets, batches, shapes, compute, progress, extra, load):
    """Build the cache ``final`` with every process of the launch: lay out (or resume) ``<final>.partial``, compute
    this rank's share of the batches not done, then (main process) check, checksum and publish it."""
    from .cache import FORMAT, VERSION, open_cache
    from .teacher import Teacher
    tch = teacher if isinstance(teacher, Teacher) else Teacher.load(str(teacher), task=task, **load)
    engine = tch.build_info()
    work = final.with_name(final.name + ".partial")
    spec = {name: [list(shape), np.dtype(dt).str] for name, (shape, dt) in shapes(tch).items()}
    plan = {"key": key, "spec": spec, "n_batches": len(batches), "batches": _plan_hash(batches),
            "engine": {k: engine[k] for k in ("device", "precision")}}   # never resume across devices/precisions
    resumed_at = on_main(state, lambda: _lay_out(work, plan, offsets, progress))
    t0 = time.time()
    shard, bar, rows_before = _compute_share(state, task, work, spec, offsets, batches,
                                             lambda arrays, mine, on_batch: compute(tch, arrays, batches, mine,
                                                                                    on_batch), progress)
    if state.num_processes > 1:
        from accelerate.utils import gather_object
        shards = gather_object([shard])          # also the barrier: every rank has flushed and marked
    else:
        shards = [shard]
    manifest = {"format": FORMAT, "version": VERSION, "task": task, "fingerprint": key, "n_rows": len(offsets) - 1,
                "n_items": int(offsets[-1]), "files": None, "arrays": spec, "teacher": tch.summary(), **extra,
                "build": {"seconds": None, "rows_per_s": None, "resumed_at_batch": resumed_at, "bytes": None,
                          **engine, "processes": state.num_processes, "shards": shards}}  # None: filled in by _finish
    on_main(state, lambda: _finish(work, final, manifest, bar, t0, len(offsets) - 1 - rows_before, progress))
    return open_cache(final, key, verify=False)   # its checksums were just computed from these files


def _lay_out(work: Path, plan: dict, offsets, progress: bool) -> int:
    """Keep a matching unfinished build in ``work``, or lay out a fresh one (every array at full size, the offsets,
    the done marks, then ``build.json``); return how many batches are done."""
    from .cache import _say
    try:
        same = json.loads((work / PLAN_FILE).read_text()) == plan
    except (OSError, ValueError):
        same = False
    if same:              # build.json is written last, so every file it describes exists
        n_done = int(np.load(work / DONE_FILE, mmap_mode="r").sum())
        _say(progress, f"[xarchkd] resuming cache build: {n_done}/{plan['n_batches']} batches done")
        return n_done
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name, (shape, dt) in plan["spec"].items():
        np.lib.format.open_memmap(work / f"{name}.npy", mode="w+", dtype=np.dtype(dt), shape=tuple(shape))
    np.save(work / "offsets.npy", offsets)
    np.lib.format.open_memmap(work / DONE_FILE, mode="w+", dtype=np.uint8, shape=(plan["n_batches"],))
    write_text(work / PLAN_FILE, json.dumps(plan))
    return 0


def _compute_share(state, task: str, work: Path, spec: dict, offsets, batches, compute, progress: bool):
    """This rank's share of the batches not yet done, computed into the memmaps of ``work`` by
    ``compute(arrays, mine, on_batch)``, flushed and marked every ``cache.FLUSH_SECONDS``. Returns this rank's
    shard record, the progress bar (main process: all ranks' rows) and the rows done before this build."""
    from tqdm.auto import tqdm
    from . import cache as C
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
        if time.time() - last_flush[0] >= C.FLUSH_SECONDS:
            flush()

    compute(arrays, mine, on_batch)
    flush()
    items = int(sum(np.diff(offsets)[batches[b]].sum() for b in mine))
    item_bytes = sum(np.dtype(dt).itemsize * int(np.prod(shape[1:])) for shape, dt in spec.values())
    shard = {"rank": state.process_index, "batches": len(mine), "rows": int(batch_rows[mine].sum()),
             "items": items, "bytes": items * item_bytes, "seconds": round(time.time() - t0, 2)}
    return shard, bar, rows_before


def _finish(work: Path, final: Path, manifest: dict, bar, t0: float, computed: int, progress: bool) -> str:
    """Main process: check every batch is marked, drop the build files, write each file's sha256 and the
    manifest, and publish ``work`` as ``final``."""
    from ..data.fingerprint import hash_file
    from .cache import _say
    bar.update(bar.total - bar.n)
    bar.close()
    left = int((np.load(work / DONE_FILE) == 0).sum())
    if left:
        raise CacheError(f"cache build at {work}: {left} batches were not computed by any process")
    seconds = time.time() - t0
    (work / DONE_FILE).unlink()
    (work / PLAN_FILE).unlink()
    files = {f.stem: {"bytes": f.stat().st_size, "sha256": hash_file(f).hexdigest()} for f in sorted(work.glob("*.npy"))}
    manifest["files"] = files
    manifest["build"].update(seconds=round(seconds, 2), rows_per_s=round(computed / max(seconds, 1e-9), 1),
                             bytes=sum(v["bytes"] for v in files.values()))
    write_json(work / "manifest.json", manifest)
    publish_dir(work, final)
    b, n_proc = manifest["build"], manifest["build"]["processes"]
    _say(progress, f"[xarchkd] cached {manifest['task']} teacher outputs for {manifest['n_rows']} rows "
                   f"({manifest['n_items']} items) in {b['seconds']:.1f}s ({b['rows_per_s']:.0f} rows/s, {n_proc} "
                   f"process{'es' if n_proc > 1 else ''}), {b['bytes'] / 1e6:.1f} MB at {final}")
    return "ok"
