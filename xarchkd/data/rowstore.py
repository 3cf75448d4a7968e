"""The on-disk rows store: NER rows (``ner_data.Rows``) as flat memmapped arrays plus offsets, for row sets
larger than memory (a transfer corpus of millions of sentences, ``corpus.py``).

Layout of one store (a folder, e.g. ``<cache root>/rows-<fingerprint[:16]>/``)::

    manifest.json     format, fingerprint, counts, label names, what it was made from, sha256 of each file
    input_ids.npy     int32 [n_tokens]     every row's sub-word ids, row after row
    shapes.npy        int8  [n_tokens]     the word shape of each sub-word (0 at [CLS]/[SEP])
    tok_offsets.npy   int64 [n_rows + 1]   row r's sub-words are input_ids[tok_offsets[r]:tok_offsets[r + 1]]
    word_pos.npy      int32 [n_words]      each word's first sub-word position in its row
    labels.npy        int16 [n_words]      each word's gold label id (-1: none, as in every transfer row)
    word_offsets.npy  int64 [n_rows + 1]   row r's words are word_pos[word_offsets[r]:word_offsets[r + 1]]
    sent_id.npy       int64 [n_rows]       the sentence of each row (a long sentence spans several rows)
    token_counts.npy  int64 [vocab_size]   how often each sub-word id occurs (the student's pruned vocabulary)

The arrays are written as rows are made (``RowStoreWriter``: appends, nothing kept in memory), in
``<folder>.partial``, which is renamed into place once the checksums and manifest are written. A ``RowStore``
reads like ``Rows`` (``len``, ``n_words``, ``labels_vocab``, ``input_ids[i]``, ``content_arrays()`` ...) from
memmaps, so ``cache.ner_cache`` builds a teacher cache from it batch by batch, and a row set and a store of
the same sentences have the same content arrays -- hence the same cache fingerprint and bytes.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import CacheError
from .batching import Ragged
from .memmaps import NpyAppender, drop_pages
from .ner_data import NO_LABEL, Rows

FORMAT, VERSION = "xarchkd-rows", 1
COLUMNS = {"input_ids": np.int32, "shapes": np.int8, "tok_offsets": np.int64, "word_pos": np.int32,
           "labels": np.int16, "word_offsets": np.int64, "sent_id": np.int64, "token_counts": np.int64}
_RAGGED = {"input_ids": "tok_offsets", "shapes": "tok_offsets", "word_pos": "word_offsets", "labels": "word_offsets"}


class RaggedView:
    """Row ``i`` of one ragged column of a store, as a read-only memmap slice (``view[i]``); ``len`` and
    iteration like the list of arrays a ``Rows`` holds."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values, self.offsets = values, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class RowStore:
    """An opened, verified rows store (read-only memmaps); reads like ``ner_data.Rows``."""

    def __init__(self, path: Path, manifest: dict, arrays: dict):
        self.path, self.manifest, self.arrays = Path(path), manifest, arrays
        self.labels_vocab = list(manifest["labels"])
        self.sent_id = arrays["sent_id"]
        for name, off in _RAGGED.items():
            setattr(self, name, RaggedView(arrays[name], arrays[off]))

    def __len__(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def n_words(self) -> int:
        return int(self.manifest["n_words"])

    @property
    def n_sentences(self) -> int:
        return int(self.manifest["n_sentences"])

    def row_lengths(self) -> np.ndarray:
        """Sub-words per row (int64)."""
        return np.diff(self.arrays["tok_offsets"])

    def word_counts(self) -> np.ndarray:
        """Words per row (int64)."""
        return np.diff(self.arrays["word_offsets"])

    def id_counts(self, vocab_size: int) -> np.ndarray:
        """How often each sub-word id ``0..vocab_size-1`` occurs in the rows (counted as they were written)."""
        c = np.asarray(self.arrays["token_counts"])[:vocab_size]
        return np.pad(c, (0, vocab_size - len(c)))

    def ragged(self, name: str) -> Ragged:
        """Column ``name`` (``input_ids``, ``shapes``, ``word_pos`` or ``labels``) as a memmapped ``Ragged``."""
        return Ragged(self.arrays[name], self.arrays[_RAGGED[name]])

    def content_arrays(self):
        """The arrays ``Rows.content_arrays`` gives for the same rows (same dtypes): a cache's fingerprint."""
        a = self.arrays
        return [a["input_ids"], a["word_pos"], a["labels"], self.row_lengths(), a["sent_id"]]

    def drop_pages(self) -> None:
        """Unmap the pages read so far (``memmaps.drop_pages``): a long pass keeps a flat resident set."""
        drop_pages(*self.arrays.values())

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


class RowStoreWriter:
    """Writes a store in ``<folder>.partial`` by appending rows; ``finish`` checksums it, writes the manifest
    and renames it to ``folder``. Sentence ids continue across ``add`` calls (``first_piece`` marks where a
    sentence starts)."""

    def __init__(self, folder: str | Path, labels_vocab: list[str], vocab_size: int):
        self.final = Path(folder)
        self.work = self.final.with_name(self.final.name + ".partial")
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.labels_vocab = list(labels_vocab)
        self.out = {n: NpyAppender(self.work / f"{n}.npy", dt) for n, dt in COLUMNS.items() if n != "token_counts"}
        self.out["tok_offsets"].append([0])
        self.out["word_offsets"].append([0])
        self.counts = np.zeros(vocab_size, dtype=np.int64)
        self.n_rows = self.n_tokens = self.n_words = 0
        self.next_sent = 0

    def add(self, ids, n_tok, shapes, pos, n_pos, first_piece, labels=None) -> None:
        """Append rows given flat: ``ids``/``shapes`` (their sub-words, ``n_tok`` per row), ``pos`` (word
        positions, ``n_pos`` per row), ``first_piece`` (True where a row starts a sentence), ``labels``
        (per word; default -1: no gold)."""
        n_tok, n_pos = np.asarray(n_tok, dtype=np.int64), np.asarray(n_pos, dtype=np.int64)
        ids = np.asarray(ids)
        self.out["input_ids"].append(ids)
        self.out["shapes"].append(shapes)
        self.out["word_pos"].append(pos)
        self.out["labels"].append(np.full(len(pos), NO_LABEL, np.int16) if labels is None else labels)
        self.out["tok_offsets"].append(self.n_tokens + np.cumsum(n_tok))
        self.out["word_offsets"].append(self.n_words + np.cumsum(n_pos))
        sid = self.next_sent - 1 + np.cumsum(np.asarray(first_piece, dtype=bool))
        if len(sid) and sid[0] < 0:
            raise ValueError("the first row of a store must start a sentence")
        self.out["sent_id"].append(sid)
        if len(sid):
            self.next_sent = int(sid[-1]) + 1
        self.counts += np.bincount(ids, minlength=len(self.counts))[:len(self.counts)]
        self.n_rows += len(n_tok)
        self.n_tokens += int(n_tok.sum())
        self.n_words += int(n_pos.sum())

    def add_rows(self, rows: Rows) -> None:
        """Append an in-memory ``Rows`` (its sentence ids renumbered to follow the store's)."""
        first = np.r_[True, rows.sent_id[1:] != rows.sent_id[:-1]] if len(rows) else np.zeros(0, bool)
        cat = lambda seqs, dt: np.concatenate(seqs).astype(dt) if len(seqs) else np.zeros(0, dt)
        self.add(cat(rows.input_ids, np.int32), [len(x) for x in rows.input_ids], cat(rows.shapes, np.int8),
                 cat(rows.word_pos, np.int32), [len(x) for x in rows.word_pos], first, cat(rows.labels, np.int16))

    def finish(self, key: str, extra: dict | None = None) -> "RowStore":
        """Close the files, write checksums and the manifest, rename the folder into place; return it opened."""
        from ..atomic import publish_dir, write_text
        from .fingerprint import hash_file
        for w in self.out.values():
            w.close()
        np.save(self.work / "token_counts.npy", self.counts)
        files = {f.stem: {"bytes": f.stat().st_size, "sha256": hash_file(f).hexdigest()}
                 for f in sorted(self.work.glob("*.npy"))}
        manifest = {"format": FORMAT, "version": VERSION, "fingerprint": key, "n_rows": self.n_rows,
                    "n_sentences": self.next_sent, "n_tokens": self.n_tokens, "n_words": self.n_words,
                    "labels": self.labels_vocab, "vocab_size": len(self.counts), **(extra or {}), "files": files}
        write_text(self.work / "manifest.json", json.dumps(manifest, indent=2))
        publish_dir(self.work, self.final)
        return open_store(self.final, key, verify=False)     # its checksums were just computed from these files


def write_rows(rows: Rows, folder: str | Path, vocab_size: int, key: str = "", extra: dict | None = None) -> RowStore:
    """An in-memory ``Rows`` as a store at ``folder`` (same rows, same content arrays)."""
    w = RowStoreWriter(folder, rows.labels_vocab, vocab_size)
    w.add_rows(rows)
    return w.finish(key, extra)


def open_store(path: str | Path, key: str | None = None, verify: bool = True) -> RowStore:
    """Open a finished store; check its format, fingerprint (if ``key``), file sizes and (``verify``) sha256
    checksums. A damaged or foreign folder is a ``CacheError`` naming it."""
    from .fingerprint import open_checked_npy
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except FileNotFoundError:
        raise CacheError(f"rows store at {path} has no manifest.json (an unfinished or foreign folder)") from None
    except (OSError, ValueError) as e:
        raise CacheError(f"rows store at {path}: manifest.json is unreadable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CacheError(f"{path} is not an {FORMAT} v{VERSION} rows store")
    if key is not None and manifest.get("fingerprint") != key:
        raise CacheError(f"rows store at {path} was made from other inputs (fingerprint "
                         f"{str(manifest.get('fingerprint'))[:16]} != {key[:16]})")
    arrays = {name: open_checked_npy(path / f"{name}.npy", manifest.get("files", {}).get(name),
                                     f"rows store at {path}", verify) for name in COLUMNS}
    return RowStore(path, manifest, arrays)
