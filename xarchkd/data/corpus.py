"""Transfer corpora of any size: plain text, JSON lines or parquet -- one file or a folder of them -- into an
on-disk rows store (``rowstore.py``), with memory that stays flat as the corpus grows.

``corpus_rows`` runs five stages, each a pass over Arrow files on disk (Hugging Face ``datasets``, memory-mapped;
never a Python list of the corpus):

1. read: ``load_dataset("text" | "json" | "parquet")`` -> one text column (a line of a text file, the ``field``
   of a JSON record or parquet row);
2. split, in ``num_proc`` processes: each text -> sentences (``text.split_sentences``) -> CoNLL-style words
   (``text.words``), keeping sentences of ``min_words..max_words`` words, in corpus order;
3. choose: when the corpus has more than ``n`` sentences, a seeded subset of ``n`` of them (kept in corpus order);
4. encode, in ``num_proc`` processes: words -> sub-word rows by ``ner_data.encode_sentences``, so the rows are
   the ones an in-memory ``Rows`` of the same sentences holds;
5. write: the rows are appended batch by batch to the store's flat ``.npy`` arrays (``RowStoreWriter``).

The store is keyed by a fingerprint of the corpus files' bytes, the reading settings, the choice of sentences, the
tokenizer files, ``max_length`` and the label names, and reused by every later call (``<root>/rows-<key>``;
``datasets``' Arrow files go to ``<root>/hf-datasets``). A bad input -- a missing file, a folder without corpus
files, an unreadable JSON line, a record or parquet file without the text field -- is one ``DataError`` line
naming the file (and line); ``check_corpus`` finds all but a bad JSON line past the first ``lines`` in well under a
second, before any teacher work, and stage 1 finds the rest.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import CacheError, DataError
from ..say import say

FORMATS = {".txt": "text", ".text": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
ROWS_VERSION = 2            # bump when splitting or encoding changes what a corpus's rows are (2: caseless words'
                            # shape, labels past a bare ▁, sentences split before non-ASCII capitals)
WRITE_BATCH = 8192          # rows per append to the store


def default_num_proc() -> int:
    """Processes for splitting and encoding: ``$XARCHKD_NUM_PROC``, else the CPUs this process may use."""
    env = os.environ.get("XARCHKD_NUM_PROC", "").strip()
    if env:
        if not env.isdigit():
            from ..errors import ConfigError
            raise ConfigError(f"XARCHKD_NUM_PROC={env!r}: expected a number of processes")
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def corpus_files(path: str | os.PathLike) -> tuple[list[Path], str]:
    """The files of a corpus and their reader (``text``, ``json`` or ``parquet``): a file (read by its suffix;
    any other suffix is plain text), or every ``.txt``/``.text``/``.jsonl``/``.json``/``.parquet`` file under a
    folder, sorted by path (one kind per folder)."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_file():
        return [p], FORMATS.get(p.suffix.lower(), "text")
    if not p.is_dir():
        raise DataError("no such file or folder", str(p))
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FORMATS
                   and not any(part.startswith(".") for part in f.relative_to(p).parts))
    if not files:
        raise DataError(f"no corpus files ({', '.join(FORMATS)}) in this folder", str(p))
    kinds = sorted({FORMATS[f.suffix.lower()] for f in files})
    if len(kinds) > 1:
        raise DataError(f"mixes {' and '.join(kinds)} files: a corpus folder holds one kind", str(p))
    return files, kinds[0]


def check_corpus(path, field: str = "text", lines: int = 100) -> tuple[list[Path], str]:
    """The quick checks of a corpus (each file readable; a parquet file's ``field`` column is text; a JSON-lines
    file's first ``lines`` lines are objects with a string ``field``); returns ``corpus_files(path)``."""
    files, kind = corpus_files(path)
    for f in files:
        try:
            with open(f, "rb") as fh:
                fh.read(1)
        except OSError as e:
            raise DataError(f"cannot read it ({e.strerror or e})", str(f)) from None
        if kind == "parquet":
            _check_parquet(f, field)
        elif kind == "json":
            _check_jsonl(f, field, lines)
    return files, kind


def _check_parquet(f: Path, field: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        schema = pq.read_schema(f)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"not a readable parquet file ({str(e).splitlines()[0]})", str(f)) from None
    if field not in schema.names:
        raise DataError(f"has no column {field!r} (columns: {', '.join(schema.names) or 'none'})", str(f))
    typ = schema.field(field).type
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        raise DataError(f"column {field!r} holds {typ}, not text", str(f))


def _parquet_nulls(files: list[Path], field: str) -> None:
    """Raise a ``DataError`` naming the first parquet file whose ``field`` column has null (missing) texts."""
    import pyarrow.parquet as pq
    for f in files:
        nulls = pq.read_table(f, columns=[field]).column(field).null_count
        if nulls:
            raise DataError(f"column {field!r} has {nulls} null values: every row needs its text", str(f))


def _check_jsonl(f: Path, field: str, lines: int | None = None) -> None:
    """Raise a ``DataError`` naming ``f`` and the line of its first line (of the first ``lines``) that is not a
    JSON object with a string ``field``. A ``.json`` file holding one JSON array is left to the reader."""
    with open(f, "rb") as fh:
        for no, raw in enumerate(fh, 1):
            if lines is not None and no > lines:
                return
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise DataError(f"not UTF-8 (byte {raw[e.start:e.start + 1]!r})", str(f), no) from None
            if not text:
                continue
            if no == 1 and text.startswith("["):
                return          # a JSON array, not JSON lines
            try:
                rec = json.loads(text)
            except ValueError as e:
                raise DataError(f"not valid JSON ({getattr(e, 'msg', e)} at column {getattr(e, 'colno', '?')})",
                                str(f), no) from None
            if not isinstance(rec, dict):
                raise DataError(f"a JSON {type(rec).__name__}, not an object with a {field!r} field", str(f), no)
            if not isinstance(rec.get(field), str):
                has = f"{field!r} is {type(rec[field]).__name__}" if field in rec else \
                    f"no {field!r} field (fields: {', '.join(map(str, rec)) or 'none'})"
                raise DataError(f"{has}: each record needs its text as a string {field!r}", str(f), no)


def read_corpus(files: list[Path], kind: str, field: str, cache_dir: Path):
    """Stage 1: the corpus as a memory-mapped ``datasets.Dataset`` with one column, ``field`` (``text`` for a
    text file). A JSON line or record that cannot be read is a ``DataError`` naming its file and line."""
    import datasets
    names = [str(f) for f in files]
    try:
        if kind == "text":
            return datasets.load_dataset("text", data_files=names, split="train", cache_dir=str(cache_dir),
                                         encoding_errors="replace")
        if kind == "parquet":
            ds = datasets.load_dataset("parquet", data_files=names, split="train", cache_dir=str(cache_dir),
                                       columns=[field])
            if ds.data.column(field).null_count:
                _parquet_nulls(files, field)
            return ds
        with _quiet("datasets.packaged_modules.json.json"):      # its log line would repeat the error below
            ds = datasets.load_dataset("json", data_files=names, split="train", cache_dir=str(cache_dir))
    except DataError:
        raise
    except Exception as e:              # datasets wraps the reader's error: find the line it means
        if kind == "json":
            for f in files:
                _check_jsonl(f, field)
        where = names[0] if len(names) == 1 else str(Path(names[0]).parent)
        raise DataError(f"cannot read it as {kind} ({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})",
                        where) from None
    if field not in ds.column_names or ds.data.column(field).null_count or \
            getattr(ds.features[field], "dtype", None) not in ("string", "large_string"):
        for f in files:
            _check_jsonl(f, field)       # names the first record without a string field
        raise DataError(f"records have no string {field!r} field (fields: {', '.join(ds.column_names)})", names[0])
    return ds.select_columns([field])


def _split_batch(batch, field: str, min_words: int, max_words: int) -> dict:
    from .text import split_sentences, words
    out = []
    for text in batch[field]:
        for s in split_sentences(text):
            ws = words(s)
            if min_words <= len(ws) <= max_words:
                out.append(ws)
    return {"words": out}


_TOKENIZERS: dict = {}


def _tokenizer(path: str):
    if path not in _TOKENIZERS:
        from transformers import AutoTokenizer
        _TOKENIZERS[path] = AutoTokenizer.from_pretrained(path)
    return _TOKENIZERS[path]


def _encode_batch(batch, tokenizer_path: str, labels: list, max_length: int) -> dict:
    from .ner_data import encode_sentences
    rows = encode_sentences(batch["words"], None, _tokenizer(tokenizer_path), labels, max_length, source="corpus")
    first = np.r_[True, rows.sent_id[1:] != rows.sent_id[:-1]] if len(rows) else np.zeros(0, bool)
    return {"input_ids": rows.input_ids, "shapes": rows.shapes, "word_pos": rows.word_pos, "first": first}


def corpus_sentences(ds, field: str, num_proc: int, min_words: int = 3, max_words: int = 60):
    """Stage 2: a dataset with one row per kept sentence, column ``words`` (its CoNLL-style words)."""
    import datasets
    return ds.map(_split_batch, batched=True, num_proc=_procs(num_proc, ds), remove_columns=ds.column_names,
                  fn_kwargs={"field": field, "min_words": min_words, "max_words": max_words},
                  features=datasets.Features({"words": _list(datasets.Value("string"))}),
                  desc="splitting sentences")


def encode_corpus(sents, tokenizer_path: str, labels: list[str], max_length: int, num_proc: int):
    """Stage 4: a dataset with one row per model row (``input_ids``, ``shapes``, ``word_pos``, and ``first``:
    the row starts a sentence), as ``encode_sentences`` makes them."""
    import datasets
    feats = datasets.Features({"input_ids": _list(datasets.Value("int32")), "shapes": _list(datasets.Value("int8")),
                               "word_pos": _list(datasets.Value("int32")), "first": datasets.Value("bool")})
    return sents.map(_encode_batch, batched=True, num_proc=_procs(num_proc, sents), remove_columns=["words"],
                     fn_kwargs={"tokenizer_path": tokenizer_path, "labels": list(labels), "max_length": max_length},
                     features=feats, desc="encoding sub-words")


def _list(value):
    import datasets
    return (getattr(datasets, "List", None) or datasets.Sequence)(value)     # datasets >= 4 / 3


def _procs(num_proc: int, ds) -> int | None:
    n = min(max(1, num_proc), max(1, len(ds)))
    return n if n > 1 else None


def write_store(rows_ds, folder: Path, labels: list[str], vocab_size: int, key: str, extra: dict,
                progress: bool = True):
    """Stage 5: append the rows of ``rows_ds`` to a new store at ``folder``, ``WRITE_BATCH`` rows at a time."""
    import pyarrow.compute as pc
    from tqdm.auto import tqdm
    from .rowstore import RowStoreWriter

    def flat(col):
        return pc.list_flatten(col).to_numpy(), pc.list_value_length(col).to_numpy()

    w = RowStoreWriter(folder, labels, vocab_size)
    bar = tqdm(total=len(rows_ds), unit="row", unit_scale=True, desc="writing rows", mininterval=2,
               disable=not progress)
    for tbl in rows_ds.with_format("arrow").iter(batch_size=WRITE_BATCH):
        ids, n_tok = flat(tbl["input_ids"])
        shapes, _ = flat(tbl["shapes"])
        pos, n_pos = flat(tbl["word_pos"])
        w.add(ids, n_tok, shapes, pos, n_pos, tbl["first"].to_numpy())
        bar.update(len(tbl))
    bar.close()
    return w.finish(key, extra)


def corpus_key(files: list[Path], kind: str, field: str, tokenizer_path: str, labels: list[str], max_length: int,
               min_words: int, max_words: int) -> str:
    """The fingerprint of a corpus's rows (before a choice of some of its sentences): the files' bytes and
    everything else that decides the rows."""
    from .fingerprint import TOKENIZER_FILES, hash_file, hash_json, hash_model_dir
    return hash_json({"rows_version": ROWS_VERSION, "files": [hash_file(f).hexdigest() for f in files],
                      "reader": kind, "field": field if kind != "text" else "", "words": [min_words, max_words],
                      "tokenizer": hash_model_dir(tokenizer_path, TOKENIZER_FILES), "max_length": max_length,
                      "labels": list(labels)})


def corpus_rows(path, tokenizer_path: str, labels: list[str], root, max_length: int = 128, n: int | None = None,
                seed: int = 0, field: str = "text", num_proc: int | None = None, progress: bool = True,
                min_words: int = 3, max_words: int = 60):
    """The rows store of a corpus (``path``: a text, JSON-lines or parquet file, or a folder of one kind), built
    once under ``root`` and reused: ``n`` sentences of ``min_words..max_words`` words (all when None or when the
    corpus has no more; else a seeded choice of ``n``, in corpus order), encoded with the tokenizer at
    ``tokenizer_path`` for a teacher with ``labels``. Returns a ``rowstore.RowStore`` (it reads like
    ``ner_data.Rows``). A later call with the same inputs opens the store after ``datasets`` finds stages 1-2 in its
    own cache (a second or so): the store's fingerprint says how many sentences were chosen, which needs the count."""
    import time
    from filelock import FileLock
    from .fingerprint import hash_json
    from .rowstore import open_store
    files, kind = check_corpus(path, field)
    base = corpus_key(files, kind, field, tokenizer_path, labels, max_length, min_words, max_words)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    num_proc = num_proc or default_num_proc()
    with FileLock(str(root / f"rows-{base[:16]}.lock")), _progress_bars(progress):
        t0 = time.time()
        ds = read_corpus(files, kind, field, root / "hf-datasets")
        sents = corpus_sentences(ds, field if kind != "text" else "text", num_proc, min_words, max_words)
        found = len(sents)
        if found == 0:
            raise DataError(f"no sentences of {min_words}..{max_words} words", str(path))
        take = n if n is not None and n < found else None
        key = hash_json({"corpus": base, "take": [take, seed] if take is not None else None})
        final = root / f"rows-{key[:16]}"
        if final.exists():
            try:
                return open_store(final, key)
            except CacheError as e:
                say(True, f"[xarchkd] {e}; rebuilding it")     # a repair is said, --quiet or not
                shutil.rmtree(final)
        if n is not None and n > found:
            say(True, f"[xarchkd] {path} has {found} usable sentences; using all of them instead of {n}")
        if take is not None:
            sents = sents.select(np.sort(np.random.default_rng(seed).choice(found, take, replace=False)))
        t_split = time.time()
        rows_ds = encode_corpus(sents, tokenizer_path, labels, max_length, num_proc)
        t_encode = time.time()
        extra = {"source": {"path": str(path), "files": len(files), "reader": kind, "field": field,
                            "bytes": sum(f.stat().st_size for f in files), "sentences_found": found,
                            "take": take, "seed": seed, "words": [min_words, max_words],
                            "max_length": max_length, "tokenizer": str(tokenizer_path)},
                 "build": {"num_proc": num_proc, "split_seconds": round(t_split - t0, 2),
                           "encode_seconds": round(t_encode - t_split, 2)}}
        store = write_store(rows_ds, final, labels, len(_tokenizer(tokenizer_path)), key, extra, progress)
        for f in {c["filename"] for c in rows_ds.cache_files}:   # the store holds these rows now
            Path(f).unlink(missing_ok=True)
        secs = time.time() - t0
        _record_build(store, secs, time.time() - t_encode)
        say(progress, f"[xarchkd] rows store {final.name}: {store.n_sentences:,} sentences -> {len(store):,} rows, "
                       f"{store.manifest['n_tokens']:,} sub-words in {secs:.1f}s ({len(store) / max(secs, 1e-9):,.0f} "
                       f"rows/s, {num_proc} process{'es' if num_proc > 1 else ''}), {store.size_bytes / 1e6:.1f} MB")
        return store


def _record_build(store, seconds: float, write_seconds: float) -> None:
    """Add the total and write times to the manifest's ``build`` (they are known only once it is written)."""
    from ..atomic import write_text
    m = store.manifest
    m["build"].update(seconds=round(seconds, 2), write_seconds=round(write_seconds, 2),
                      rows_per_s=round(m["n_rows"] / max(seconds, 1e-9), 1))
    write_text(store.path / "manifest.json", json.dumps(m, indent=2))


class _quiet:
    """A logger silenced for a block."""

    def __init__(self, name: str):
        import logging
        self.logger = logging.getLogger(name)

    def __enter__(self):
        self.was, self.logger.disabled = self.logger.disabled, True

    def __exit__(self, *exc):
        self.logger.disabled = self.was


class _progress_bars:
    """``datasets``' progress bars on or off for a block (then as they were)."""

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self):
        import datasets
        self.was = not datasets.are_progress_bars_disabled()
        (datasets.enable_progress_bars if self.on else datasets.disable_progress_bars)()

    def __exit__(self, *exc):
        import datasets
        (datasets.enable_progress_bars if self.was else datasets.disable_progress_bars)()
