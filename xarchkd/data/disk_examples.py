"""A NER run's student training rows: parts of rows (in-memory ``Rows`` or on-disk ``rowstore.RowStore``) with
their memmapped teacher caches, as the training loop's dataset (``ner_examples`` picks one of the two).

``NerExamples`` keeps the rows of every part in memory, concatenated. ``DiskNerExamples`` needs no row in memory:
it builds the same batches as ``NerExamples`` for the same rows (same tensors, same dtypes),
but reads the rows of a store and the teacher outputs of every cache from their memmaps, batch by batch, and keeps
no per-row Python objects: its memory is the row lengths (8 bytes a row) plus the in-memory parts. Its
``lengths`` are ``batching.BlockLengths``, so the training loop's ``length_batches`` makes ``block_batches``: a
seeded order of blocks of consecutive rows, shuffled and length-sorted within a window of blocks, so an epoch
reads the memmaps one window at a time. Every ``block_rows * window`` rows it unmaps the pages it has read
(``memmaps.drop_pages``), so the resident set stays flat however large the rows and caches on disk are.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from .batching import BlockLengths, PartedRagged, Ragged, ids_and_positions, pad_flat, ragged_index
from .memmaps import drop_pages
from .ner_data import NO_LABEL
from .rowstore import RowStore

BLOCK_ROWS = 4096     # consecutive rows a block reads
WINDOW = 16           # blocks shuffled together (65,536 rows; a few tens of MB of rows and logits)


class NerExamples(torch.utils.data.Dataset):
    """Training rows from one or more (rows, cache) parts; ``collate`` builds padded batches.

    The rows of all parts are kept concatenated (``Ragged``), so a batch is a few fancy indexes and
    masked assignments (no Python loop over rows or tokens); teacher outputs are gathered from each
    part's memmapped cache with one fancy index over the batch's item ranges.
    """

    def __init__(self, parts: list, pad_id: int):
        self.parts, self.pad_id = parts, pad_id
        self.index = [(p, r) for p, (rows, _) in enumerate(parts) for r in range(len(rows))]
        self.lengths = [len(parts[p][0].input_ids[r]) for p, r in self.index]
        self.with_teacher = all(c is not None for _, c in parts)
        self.with_hidden = self.with_teacher and all("hidden" in c.arrays for _, c in parts)
        self._part = np.repeat(np.arange(len(parts)), [len(rows) for rows, _ in parts])
        self._row = np.concatenate([np.arange(len(rows)) for rows, _ in parts]) if parts else np.zeros(0, np.int64)
        cat = lambda name: Ragged.of([x for rows, _ in parts for x in getattr(rows, name)])
        self._ids, self._pos, self._labels, self._shapes = (cat(n) for n in ("input_ids", "word_pos", "labels",
                                                                             "shapes"))
        self._offsets = [np.asarray(c.offsets) for _, c in parts] if self.with_teacher else []

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        return i

    def collate(self, indices) -> dict:
        return _collate(self, indices, partial(_stack, self))


def _collate(ex, indices, stack) -> dict:
    """The padded batch of rows ``indices`` of ``ex`` (``NerExamples`` or ``DiskNerExamples``: the same columns);
    ``stack(name, idx, n_words, pos_mask)`` gives a teacher array's ``[B, W, D]`` tensor."""
    idx = np.asarray(indices, dtype=np.int64)
    batch, n_words, pos_mask = ids_and_positions(ex._ids, ex._pos, idx, ex.pad_id)
    batch["gold"] = torch.from_numpy(pad_flat(ex._labels.take(idx)[0], n_words, pos_mask.shape[1], NO_LABEL, np.int64))
    batch["shapes"] = ex._shapes.pad(idx, 0, min_width=1)
    if ex.with_teacher:
        batch["teacher_logits"] = stack("logits", idx, n_words, pos_mask)
        if ex.with_hidden:
            batch["teacher_hidden"] = stack("hidden", idx, n_words, pos_mask)
    return batch


def _stack(ex: NerExamples, name: str, idx: np.ndarray, n_words: np.ndarray, pos_mask: np.ndarray) -> torch.Tensor:
    """Cached teacher array ``name`` for rows ``idx`` of ``ex`` as a zero-padded float32 ``[B, W, D]`` tensor:
    per part, one fancy index over the rows' item ranges in its memmap, then one masked assignment."""
    parts, rows = ex._part[idx], ex._row[idx]
    dim = ex.parts[0][1].arrays[name].shape[1]
    if len(ex.parts) == 1:
        flat = ex.parts[0][1].arrays[name][ragged_index(ex._offsets[0][rows], n_words)]
    else:
        flat = np.empty((int(n_words.sum()), dim), dtype=np.float32)
        starts = np.cumsum(n_words) - n_words        # where each batch row's items start in ``flat``
        for p in np.unique(parts):
            sel = parts == p
            flat[ragged_index(starts[sel], n_words[sel])] = \
                ex.parts[p][1].arrays[name][ragged_index(ex._offsets[p][rows[sel]], n_words[sel])]
    out = np.zeros(pos_mask.shape + (dim,), dtype=np.float32)
    out[pos_mask] = flat
    return torch.from_numpy(out)


def _ragged(rows, name: str) -> Ragged:
    """Column ``name`` of a part: a store's memmaps as they are, an in-memory ``Rows``'s arrays concatenated."""
    return rows.ragged(name) if isinstance(rows, RowStore) else Ragged.of(getattr(rows, name))


class DiskNerExamples(torch.utils.data.Dataset):
    """Training rows from ``(rows, cache)`` parts, rows and caches read from disk per batch (see the module)."""

    def __init__(self, parts: list, pad_id: int, block_rows: int = BLOCK_ROWS, window: int = WINDOW):
        self.parts, self.pad_id = parts, pad_id
        self.lengths = BlockLengths(np.concatenate([r.row_lengths() for r, _ in parts]) if parts else
                                    np.zeros(0, np.int64), block_rows, window)
        self.with_teacher = all(c is not None for _, c in parts)
        self.with_hidden = self.with_teacher and all("hidden" in c.arrays for _, c in parts)
        cols = {n: PartedRagged([_ragged(r, n) for r, _ in parts]) for n in ("input_ids", "word_pos", "labels",
                                                                              "shapes")}
        self._ids, self._pos, self._labels, self._shapes = (cols[n] for n in ("input_ids", "word_pos", "labels",
                                                                              "shapes"))
        self._teacher = {}
        if self.with_teacher:
            for name in ("logits",) + (("hidden",) if self.with_hidden else ()):
                self._teacher[name] = PartedRagged([Ragged(c.arrays[name], np.asarray(c.offsets)) for _, c in parts])
        self.drop_every, self._read = block_rows * window, 0

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        return i

    def collate(self, indices) -> dict:
        batch = _collate(self, indices, self._stack)
        self._read += len(indices)
        if self._read >= self.drop_every:
            self.drop_pages()
        return batch

    def _stack(self, name: str, idx: np.ndarray, n_words: np.ndarray, pos_mask: np.ndarray) -> torch.Tensor:
        """Teacher array ``name`` of rows ``idx`` as a zero-padded float32 ``[B, W, D]`` tensor (``n_words`` is
        unused: the store knows each row's items; it is taken to share ``_collate`` with the in-memory ``_stack``)."""
        flat, _ = self._teacher[name].take(idx)
        out = np.zeros(pos_mask.shape + flat.shape[1:], dtype=np.float32)
        out[pos_mask] = flat
        return torch.from_numpy(out)

    def drop_pages(self) -> None:
        """Unmap the pages of every store and cache read so far."""
        for rows, cache in self.parts:
            rows.drop_pages()
            if cache is not None:
                drop_pages(*cache.arrays.values())
        self._read = 0


def ner_examples(parts: list, pad_id: int):
    """The training rows of a NER run: ``DiskNerExamples`` when a part is an on-disk store, else
    ``NerExamples`` (all rows in memory; its batches unchanged)."""
    if any(isinstance(rows, RowStore) for rows, _ in parts):
        return DiskNerExamples(parts, pad_id)
    return NerExamples(parts, pad_id)
