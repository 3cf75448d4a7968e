"""Student training rows that need not fit in memory: parts of rows (in-memory ``Rows`` or on-disk
``rowstore.RowStore``) with their memmapped teacher caches, batched in blocks.

``DiskNerExamples`` builds the same batches as ``ner.NerExamples`` for the same rows (same tensors, same dtypes),
but reads the rows of a store and the teacher outputs of every cache from their memmaps, batch by batch, and keeps
no per-row Python objects: its memory is the row lengths (8 bytes a row) plus the in-memory parts. Its
``lengths`` are ``batching.BlockLengths``, so the training loop's ``length_batches`` makes ``block_batches``: a
seeded order of blocks of consecutive rows, shuffled and length-sorted within a window of blocks, so an epoch
reads the memmaps one window at a time. Every ``block_rows * window`` rows it unmaps the pages it has read
(``memmaps.drop_pages``), so the resident set stays flat however large the rows and caches on disk are.
"""
from __future__ import annotations

import numpy as np
import torch

from .batching import BlockLengths, PartedRagged, Ragged, ids_and_positions, pad_flat
from .memmaps import drop_pages
from .ner_data import NO_LABEL
from .rowstore import RowStore

BLOCK_ROWS = 4096     # consecutive rows a block reads
WINDOW = 16           # blocks shuffled together (65,536 rows; a few tens of MB of rows and logits)


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
        idx = np.asarray(indices, dtype=np.int64)
        batch, n_words, pos_mask = ids_and_positions(self._ids, self._pos, idx, self.pad_id)
        batch["gold"] = torch.from_numpy(pad_flat(self._labels.take(idx)[0], n_words, pos_mask.shape[1], NO_LABEL,
                                                  np.int64))
        batch["shapes"] = self._shapes.pad(idx, 0, min_width=1)
        if self.with_teacher:
            batch["teacher_logits"] = self._stack("logits", idx, pos_mask)
            if self.with_hidden:
                batch["teacher_hidden"] = self._stack("hidden", idx, pos_mask)
        self._read += len(idx)
        if self._read >= self.drop_every:
            self.drop_pages()
        return batch

    def _stack(self, name: str, idx: np.ndarray, pos_mask: np.ndarray) -> torch.Tensor:
        """Teacher array ``name`` of rows ``idx`` as a zero-padded float32 ``[B, W, D]`` tensor."""
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
    ``ner.NerExamples`` (all rows in memory; its batches unchanged)."""
    if any(isinstance(rows, RowStore) for rows, _ in parts):
        return DiskNerExamples(parts, pad_id)
    from .ner import NerExamples
    return NerExamples(parts, pad_id)
