"""The teacher-logits cache: teacher outputs computed once, stored on disk, reused by every run.

Layout of one cache (a folder ``<root>/<task>-<fingerprint[:16]>/``)::

    manifest.json   what was cached, from which inputs (fingerprint), shapes, sha256 of each file
    offsets.npy     int64 [n_rows + 1]: row r owns items offsets[r]:offsets[r+1]
    NER:  logits.npy     float16 [n_words, n_labels]    full logits, one row per word
          hidden.npy     float16 [n_words, d_teacher]   (optional) last hidden state per word
    MLM:  values.npy     float16 [n_masked, k]          top-k logits at masked positions only
          indices.npy    uint16  [n_masked, k]          their vocabulary ids (int32 past 65,536 ids)
          positions.npy  int32   [n_masked]             token position of each masked item in its row

Arrays are plain ``.npy`` files opened with ``np.load(mmap_mode="r")`` (nanoGPT-style
memmaps: no loading step, no pickle). The fingerprint covers the teacher's weights
and tokenizer files, the rows' content (which already reflects tokenizer, max length
and masks), the task, dtype and k. Building happens in ``<folder>.partial`` under a
file lock; progress is flushed every few seconds so an interrupted build resumes at
the batch it stopped at and ends byte-identical to an uninterrupted one; the finished
folder appears by an atomic rename. Loading checks sizes and sha256 checksums, so a
truncated or corrupt cache is never read.

Under ``accelerate launch --num_processes N`` (GPUs, or CPU processes with gloo) the N processes
build one cache together (``shards.py``): each computes its share of the (fixed, length-sorted)
batches into the same files, so the cache is the one-process cache -- same fingerprint, same
bytes -- and a kill -9 of any rank resumes at the batches each one had flushed. The manifest's
``build`` records ``processes`` and ``shards`` (per rank: batches, rows, items, bytes, seconds).
While building, ``<folder>.partial`` also holds ``build.json`` (what is being built) and
``batches_done.npy`` (one byte per batch, set once its rows are flushed).

The teacher runs on the GPU when there is one (``device="auto"``), under fp16/bf16 autocast if
``mixed_precision`` asks; the stored arrays are float16 logits either way, so a cache has the same
format, byte for byte in layout, wherever it was built. The fingerprint does not depend on the
device or precision (a cache built on a GPU serves a CPU run and vice versa); the manifest's
``build`` records both (``device``, ``device_name``, ``precision``). An interrupted build resumes
only on the same kind of device and precision, so one cache never mixes the two.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock

from ..atomic import publish_dir, write_json
from ..data.batching import length_batches
from ..data.fingerprint import hash_arrays, hash_file, hash_json, hash_model_dir, open_checked_npy
from ..errors import CacheError
from ..say import say
from .shards import DONE_FILE, PLAN_FILE, compute_share, is_main_process, lay_out, on_main, plan_hash, process_state

FORMAT, VERSION = "xarchkd-cache", 1
DTYPE = np.float16
FLUSH_SECONDS = 5.0   # how often an unfinished build records its progress


@dataclass
class Cache:
    """An opened, verified cache. Arrays are read-only memmaps."""
    path: Path
    manifest: dict
    arrays: dict = field(default_factory=dict)

    @property
    def offsets(self) -> np.ndarray:
        return self.arrays["offsets"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, name: str, r: int) -> np.ndarray:
        """Items of row ``r`` from array ``name`` (e.g. ``logits``), as stored (fp16)."""
        o = self.offsets
        return self.arrays[name][o[r]:o[r + 1]]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())

    @property
    def teacher(self) -> dict:
        return self.manifest.get("teacher", {})


def cache_key(task: str, teacher_path: str, content_arrays, settings: dict) -> str:
    """The fingerprint of a cache: teacher files + data content + settings."""
    return hash_json({"task": task, "teacher": hash_model_dir(teacher_path), "data": hash_arrays(content_arrays),
                      "settings": settings, "format": [FORMAT, VERSION]})


def ner_cache(teacher, rows, root: str | Path, batch_size: int = 64, hidden: bool = False,
              progress: bool = True, path: str | Path | None = None, device: str = "auto",
              mixed_precision: str = "no") -> Cache:
    """Return the NER logits cache for ``rows`` (``ner_data.Rows``, or an on-disk ``rowstore.RowStore``:
    same rows, same cache), building it if needed.

    ``teacher`` is a ``Teacher`` or a path / resource name; the teacher is only loaded
    when the cache must be built, so a cache hit does no teacher work at all. A path is loaded
    onto ``device`` with ``mixed_precision`` autocast (see ``Teacher.load``); a ``Teacher`` runs
    where and how it was loaded.
    ``path`` points at an explicit cache folder instead of ``root/<key>``; it must then
    have been built for exactly these inputs.
    """
    from .teacher import Teacher
    tpath = teacher.path if isinstance(teacher, Teacher) else _resolve(teacher)
    settings = {"dtype": "float16", "hidden": bool(hidden)}
    key = cache_key("ner", tpath, rows.content_arrays(), settings)
    n_words = rows.n_words
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(rows.word_counts(), out=offsets[1:])

    def compute(tch: Teacher, arrays, batches, todo, on_batch):
        if tch.labels != list(rows.labels_vocab):
            raise CacheError(f"teacher {tch.name} has labels {tch.labels}, the data has {rows.labels_vocab}: "
                             "the label sets must match (same names, same order)")
        for bi in todo:
            idx = batches[bi]
            outs = _ner_batch(tch, rows, idx, hidden)
            rows.drop_pages()     # an on-disk store (rowstore.py): unmap the rows just read (they are read at random)
            for i, (lg, hs) in zip(idx, outs):
                arrays["logits"][offsets[i]:offsets[i + 1]] = lg
                if hidden:
                    arrays["hidden"][offsets[i]:offsets[i + 1]] = hs
            on_batch(bi)

    def shapes(tch):
        s = {"logits": ((n_words, len(rows.labels_vocab)), DTYPE)}
        if hidden:
            s["hidden"] = ((n_words, tch.model.config.hidden_size), DTYPE)
        return s

    batches = length_batches(rows.row_lengths(), batch_size, shuffle=False)
    build = _Build("ner", key, offsets, batches, shapes, compute,
                   extra={"labels": list(rows.labels_vocab), "n_words": n_words})
    return _get_or_build(build, teacher, root, path, progress, load=dict(device=device, mixed_precision=mixed_precision))


def _ner_batch(tch, rows, idx, hidden: bool):
    """Per row of batch ``idx``: (word logits [n_words, C], word hidden states [n_words, D] or None),
    float32 numpy (the teacher computes on its device; one copy back per batch)."""
    import torch
    from ..data.batching import pad_ids
    ids, mask = pad_ids([rows.input_ids[i] for i in idx], tch.tokenizer.pad_token_id or 0)
    logits, hs = tch.outputs(ids, mask, hidden=hidden)
    res = []
    for b, i in enumerate(idx):
        pos = torch.from_numpy(np.array(rows.word_pos[i], dtype=np.int64))    # a copy: a store's rows are read-only
        res.append((logits[b, pos].numpy(), hs[b, pos].numpy() if hidden else None))
    return res


def mlm_cache(teacher, rows, root: str | Path, k: int = 64, batch_size: int = 64, progress: bool = True,
              path: str | Path | None = None, device: str = "auto", mixed_precision: str = "no") -> Cache:
    """Return the sparse MLM cache (top-k logits at masked positions) for ``mlm_data.MaskedRows``;
    ``device`` and ``mixed_precision`` as for ``ner_cache``."""
    from .teacher import Teacher
    tpath = teacher.path if isinstance(teacher, Teacher) else _resolve(teacher)
    vocab = _vocab_size(tpath)
    index_dtype = np.dtype(np.uint16 if vocab <= 2 ** 16 else np.int32)    # BERT's 30,522 ids fit in 2 bytes
    key = cache_key("mlm", tpath, rows.content_arrays(), {"dtype": "float16", "k": k, "index_dtype": index_dtype.str})
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in rows.positions], out=offsets[1:])
    n = int(offsets[-1])

    def shapes(tch):
        return {"values": ((n, k), DTYPE), "indices": ((n, k), index_dtype), "positions": ((n,), np.int32)}

    def compute(tch, arrays, batches, todo, on_batch):
        from ..data.batching import flat_positions, pad_ids
        for bi in todo:
            idx = batches[bi]
            ids, mask = pad_ids([rows.input_ids[i] for i in idx], tch.tokenizer.pad_token_id or 0)
            which, pos = flat_positions([rows.positions[i] for i in idx])
            top = tch.masked_logits(ids, mask, which, pos).topk(k, dim=-1)   # LM head at masked tokens only
            start_item = 0
            for i in idx:
                n_i = len(rows.positions[i])
                sl, got = slice(offsets[i], offsets[i + 1]), slice(start_item, start_item + n_i)
                arrays["values"][sl] = top.values[got].numpy()
                arrays["indices"][sl] = top.indices[got].numpy()
                arrays["positions"][sl] = rows.positions[i]
                start_item += n_i
            on_batch(bi)

    batches = length_batches([len(x) for x in rows.input_ids], batch_size, shuffle=False)
    per_item = k * (np.dtype(DTYPE).itemsize + index_dtype.itemsize) + 4     # values + ids + the position
    build = _Build("mlm", key, offsets, batches, shapes, compute,
                   extra={"k": k, "n_masked": n, "vocab_size": vocab, "bytes_per_item": per_item,
                          "dense_fp16_bytes_per_item": 2 * vocab})
    c = _get_or_build(build, teacher, root, path, progress, load=dict(device=device, mixed_precision=mixed_precision))
    say(progress and is_main_process(), f"[xarchkd] MLM cache {c.path.name}: {n:,} masked tokens x top-{k} = {per_item} B per masked "
                   f"token, {c.size_bytes / 1e6:.1f} MB; dense fp16 logits would take {2 * vocab:,} B per token, "
                   f"{n * 2 * vocab / 1e6:,.0f} MB ({2 * vocab / per_item:.0f}x more)")
    return c


def _vocab_size(teacher_path: str) -> int:
    """The teacher's vocabulary size from its config.json (an MLM cache's id width depends on it)."""
    cfg = Path(teacher_path) / "config.json"
    try:
        return int(json.loads(cfg.read_text())["vocab_size"])
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CacheError(f"cannot read vocab_size from {cfg} ({e}): is {teacher_path} a masked-LM teacher "
                         "folder?") from None


def _resolve(teacher) -> str:
    from ..data.resources import resolve
    return resolve(str(teacher))


@dataclass
class _Build:
    """What one cache build makes: the task and fingerprint, the row offsets (``offsets.npy``), the fixed,
    length-sorted batches, the arrays (``shapes(tch)``: name -> (shape, dtype)), how the teacher fills them
    (``compute(tch, arrays, batches, todo, on_batch)`` fills ``arrays`` for the batch indices ``todo``, calling
    ``on_batch(bi)`` after each) and the task's keys of the manifest (``extra``)."""
    task: str
    key: str
    offsets: np.ndarray
    batches: list
    shapes: Callable
    compute: Callable
    extra: dict


def _get_or_build(b: _Build, teacher, root, path, progress: bool, load: dict) -> Cache:
    """Open the cache for ``b.key`` (under ``root`` or at ``path``), building it with every process of the
    launch (``shards.py``) if it is missing, unfinished or damaged. The main process alone holds the file
    lock and decides; the other ranks get its answer."""
    from ..distill.accel import inference_device
    from .teacher import Teacher
    dev = teacher.device if isinstance(teacher, Teacher) else inference_device(load.get("device", "auto"))
    state = process_state(cpu=dev.type != "cuda")
    main = state.is_main_process
    final = Path(path) if path is not None else Path(root) / f"{b.task}-{b.key[:16]}"
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
                    found["cache"] = open_cache(final, b.key)
                    return "hit"
                except CacheError as e:
                    if path is not None and "built for other inputs" in str(e):
                        raise
                    say(True, f"[xarchkd] {e}; rebuilding it")     # a repair is said, --quiet or not
                    shutil.rmtree(final)
            return "build"

        if on_main(state, look) == "hit":
            return found["cache"] if main else open_cache(final, b.key, verify=False)   # the main process verified it
        return _build(state, b, teacher, final, progress, load)
    finally:
        if lock is not None:
            lock.release()


def _build(state, b: _Build, teacher, final: Path, progress: bool, load: dict) -> Cache:
    """Build the cache ``final`` with every process of the launch: lay out (or resume) ``<final>.partial``, compute
    this rank's share of the batches not done, then (main process) check, checksum and publish it."""
    from .teacher import Teacher
    tch = teacher if isinstance(teacher, Teacher) else Teacher.load(str(teacher), task=b.task, **load)
    engine = tch.build_info()
    work = final.with_name(final.name + ".partial")
    spec = {name: [list(shape), np.dtype(dt).str] for name, (shape, dt) in b.shapes(tch).items()}
    plan = {"key": b.key, "spec": spec, "n_batches": len(b.batches), "batches": plan_hash(b.batches),
            "engine": {k: engine[k] for k in ("device", "precision")}}   # never resume across devices/precisions
    resumed_at = on_main(state, lambda: lay_out(work, plan, b.offsets, progress))
    t0 = time.time()
    shard, bar, rows_before = compute_share(state, b.task, work, spec, b.offsets, b.batches,
                                            lambda arrays, mine, on_batch: b.compute(tch, arrays, b.batches, mine,
                                                                                     on_batch),
                                            progress, FLUSH_SECONDS)
    if state.num_processes > 1:
        from accelerate.utils import gather_object
        shards = gather_object([shard])          # also the barrier: every rank has flushed and marked
    else:
        shards = [shard]
    n_rows = len(b.offsets) - 1
    manifest = {"format": FORMAT, "version": VERSION, "task": b.task, "fingerprint": b.key, "n_rows": n_rows,
                "n_items": int(b.offsets[-1]), "files": None, "arrays": spec, "teacher": tch.summary(), **b.extra,
                "build": {"seconds": None, "rows_per_s": None, "resumed_at_batch": resumed_at, "bytes": None,
                          **engine, "processes": state.num_processes, "shards": shards}}  # None: filled in by _finish
    on_main(state, lambda: _finish(work, final, manifest, bar, t0, n_rows - rows_before, progress))
    return open_cache(final, b.key, verify=False)   # its checksums were just computed from these files


def _finish(work: Path, final: Path, manifest: dict, bar, t0: float, computed: int, progress: bool) -> str:
    """Main process: check every batch is marked, drop the build files, write each file's sha256 and the
    manifest, and publish ``work`` as ``final``."""
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
    say(progress, f"[xarchkd] cached {manifest['task']} teacher outputs for {manifest['n_rows']} rows "
                   f"({manifest['n_items']} items) in {b['seconds']:.1f}s ({b['rows_per_s']:.0f} rows/s, {n_proc} "
                   f"process{'es' if n_proc > 1 else ''}), {b['bytes'] / 1e6:.1f} MB at {final}")
    return "ok"


def open_cache(path: str | Path, key: str | None = None, verify: bool = True) -> Cache:
    """Open a finished cache; check format, fingerprint (if ``key``), sizes and checksums."""
    path = Path(path)
    mf = path / "manifest.json"
    if not mf.is_file():
        raise CacheError(f"cache at {path} has no manifest.json (an unfinished or foreign folder)")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CacheError(f"cache at {path}: manifest.json is corrupt ({e})") from None
    if not isinstance(manifest, dict):
        raise CacheError(f"cache at {path}: manifest.json has the wrong shape (a JSON {type(manifest).__name__}, "
                         "not an object)")
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CacheError(f"cache at {path} is not an {FORMAT} v{VERSION} cache")
    if key is not None and manifest.get("fingerprint") != key:
        raise CacheError(f"cache at {path} was built for other inputs (teacher, data or settings differ: "
                         f"fingerprint {str(manifest.get('fingerprint', '?'))[:16]} != {key[:16]})")
    problem = _manifest_problem(manifest)
    if problem:
        raise CacheError(f"cache at {path}: manifest.json has the wrong shape ({problem})")
    arrays = {name: open_checked_npy(path / f"{name}.npy", meta, f"cache at {path}", verify)
              for name, meta in manifest["files"].items()}
    return Cache(path, manifest, arrays)


# What every reader of a manifest looks up, per task (besides "files").
MANIFEST_KEYS = {"ner": {"n_rows": int, "build": dict}, "mlm": {"n_rows": int, "build": dict, "k": int,
                                                                  "bytes_per_item": int,
                                                                  "dense_fp16_bytes_per_item": int}}


def _manifest_problem(manifest: dict) -> str | None:
    """What is missing from an ``xarchkd-cache`` manifest that readers rely on, or None: a ``files`` table
    with ``offsets`` and each file's int ``bytes`` and str ``sha256``, and the task's keys (``MANIFEST_KEYS``)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or "offsets" not in files:
        return "no 'files' table listing offsets.npy"
    for name, meta in files.items():
        if not (isinstance(meta, dict) and isinstance(meta.get("bytes"), int) and isinstance(meta.get("sha256"), str)):
            return f"files.{name} has no int 'bytes' and str 'sha256'"
    keys = MANIFEST_KEYS.get(manifest.get("task"))
    if keys is None:
        return f"task {manifest.get('task')!r} is not one of {', '.join(MANIFEST_KEYS)}"
    for k, t in keys.items():
        if not isinstance(manifest.get(k), t) or isinstance(manifest.get(k), bool):
            return f"no {t.__name__} {k!r}"
    return None


# --- the student's frozen ``static_dim`` table: the teacher's view of each sub-word, through the cache ---
# A student's trained embedding rows only know the sub-words its training data had: a pruned table reads every
# other one as [UNK], a full one leaves their rows at their initial value while the rest move. The teacher knows
# every sub-word from its pre-training. ``static_table`` runs the teacher once on each id of its vocabulary alone
# (``[CLS] id [SEP]``) and keeps the last hidden state at that id; ``pca_embeddings`` reduces it to the student's
# ``static_dim``. The forward passes are one ``ner_cache`` (one row per id, ``hidden=True``): fingerprinted, written
# atomically, resumable and shared by every later run.

def vocab_rows(tokenizer, labels: list[str]):
    """One row per id of ``tokenizer``'s vocabulary: ``[CLS] id [SEP]``, its one word at position 1."""
    from ..data.ner_data import NO_LABEL, Rows
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    n = len(tokenizer)
    return Rows(input_ids=[np.array([cls, i, sep], dtype=np.int64) for i in range(n)],
                word_pos=[np.array([1], dtype=np.int64)] * n, labels=[np.array([NO_LABEL], dtype=np.int64)] * n,
                sent_id=np.arange(n, dtype=np.int64), labels_vocab=list(labels))


def static_table(teacher, tokenizer, labels: list[str], dim: int, root: str | Path,
                 progress: bool = True, **engine):
    """``[len(tokenizer), dim]`` float32 tensor from ``teacher`` (a ``Teacher`` or a folder): its last hidden state
    for each sub-word alone, reduced by PCA to ``dim`` columns at unit variance. ``engine`` (``device``,
    ``mixed_precision``) goes to ``ner_cache``."""
    import torch
    from .teacher import pca_embeddings
    cache = ner_cache(teacher, vocab_rows(tokenizer, labels), root, batch_size=256, hidden=True,
                      progress=progress, **engine)
    hidden = torch.from_numpy(np.asarray(cache.arrays["hidden"], dtype=np.float32))
    return pca_embeddings(hidden, dim)
