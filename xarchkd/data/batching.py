"""Length-aware batching and padding for token rows (teacher caching, teacher and student training).

Padding is vectorised: rows are concatenated (or kept concatenated in a ``Ragged``), the flat target
index comes from the lengths (``np.repeat``/``cumsum``), and one masked assignment fills the batch, so
building a batch costs no Python loop over tokens or per-row tensor writes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def length_batches(lengths, batch_size: int, shuffle: bool, seed: int = 0, window: int = 50) -> list[np.ndarray]:
    """Index batches of similar length.

    ``shuffle=False``: sort all rows by length (deterministic; used for inference and caching).
    ``shuffle=True``: shuffle, sort within windows of ``window`` batches, shuffle the batches
    (HF's group-by-length idea), from a generator seeded by ``seed`` alone. ``lengths`` given as
    ``BlockLengths`` (rows stored on disk): ``block_batches`` instead.
    """
    if shuffle and isinstance(lengths, BlockLengths):       # rows on disk: batches read one window of blocks at a time
        return block_batches(lengths.lengths, batch_size, seed, lengths.block_rows, lengths.window, window)
    lengths = np.asarray(lengths)
    n = len(lengths)
    if not shuffle:
        order = np.argsort(-lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    chunk = batch_size * window
    batches = []
    for i in range(0, n, chunk):
        part = order[i:i + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    perm = rng.permutation(len(batches))
    return [batches[k] for k in perm]


@dataclass
class BlockLengths:
    """Row lengths of rows kept on disk in order (a ``rowstore.RowStore``), whose shuffled batches should read the
    rows ``block_rows`` consecutive rows at a time, ``window`` blocks together: ``length_batches(shuffle=True)``
    makes ``block_batches`` of them. Reads like the lengths array (``len``, ``[i]``, ``np.asarray``)."""
    lengths: np.ndarray
    block_rows: int = 4096
    window: int = 16

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i):
        return self.lengths[i]

    def __array__(self, dtype=None, copy=None):
        return self.lengths if dtype is None else self.lengths.astype(dtype)


def block_batches(lengths, batch_size: int, seed: int = 0, block_rows: int = 4096, window: int = 16,
                  sort_window: int = 50) -> list[np.ndarray]:
    """Shuffled, length-grouped batches that read rows stored in order a window at a time (rows larger than
    memory: each window's rows and teacher outputs are a few contiguous ranges of the memmaps).

    The rows are cut into blocks of ``block_rows`` consecutive rows; the blocks are visited in a seeded order,
    ``window`` blocks at a time; a window's rows are shuffled, sorted by length within chunks of
    ``batch_size * sort_window`` rows (as ``length_batches``), cut into batches, and its batches shuffled.
    Every row is in exactly one batch, and the plan depends on ``seed`` alone."""
    lengths = np.asarray(lengths)
    n = len(lengths)
    rng = np.random.default_rng(seed)
    order = rng.permutation(-(-n // block_rows))
    batches, chunk = [], batch_size * sort_window
    for w in range(0, len(order), window):
        rows = np.concatenate([np.arange(b * block_rows, min(n, (b + 1) * block_rows)) for b in order[w:w + window]])
        rows = rows[rng.permutation(len(rows))]
        mine = []
        for i in range(0, len(rows), chunk):
            part = rows[i:i + chunk]
            part = part[np.argsort(-lengths[part], kind="stable")]
            mine += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
        batches += [mine[k] for k in rng.permutation(len(mine))]
    return batches


def ragged_index(starts, lengths) -> np.ndarray:
    """The flat int64 index of the ranges ``starts[i] : starts[i] + lengths[i]``, concatenated in order
    (built with ``np.repeat``/``cumsum``: no Python loop). One fancy index with it gathers many rows
    of a flat array, e.g. a memmapped cache, at once."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if len(ends) else 0, dtype=np.int64) + np.repeat(starts - ends + lengths, lengths)


def pad_flat(flat, lengths, width: int, fill, dtype) -> np.ndarray:
    """Right-pad rows given concatenated in ``flat`` (row i has ``lengths[i]`` items, trailing dims
    kept) into an array ``[B, width, ...]`` of ``dtype``, filled with ``fill``: one masked assignment."""
    lengths = np.asarray(lengths, dtype=np.int64)
    flat = np.asarray(flat)
    out = np.full((len(lengths), width) + flat.shape[1:], fill, dtype=dtype)
    out[np.arange(width) < lengths[:, None]] = flat
    return out


@dataclass
class Ragged:
    """Variable-length rows stored as one flat array plus offsets (row r is ``values[offsets[r]:offsets[r+1]]``):
    built once, so a batch of rows is one fancy index instead of a loop over rows."""
    values: np.ndarray
    offsets: np.ndarray     # int64 [n_rows + 1]

    @classmethod
    def of(cls, seqs) -> "Ragged":
        """From a list of int sequences (stored as int64)."""
        values, lengths = _concat(seqs)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(values, offsets)

    def take(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """``(flat values, lengths)`` of rows ``idx``, in that order."""
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.offsets[idx + 1] - self.offsets[idx]
        return self.values[ragged_index(self.offsets[idx], lengths)], lengths

    def pad(self, idx, fill, min_width: int = 1) -> torch.Tensor:
        """Rows ``idx`` right-padded with ``fill`` into a ``[B, W]`` long tensor (W: the longest row, at
        least ``min_width``)."""
        flat, lengths = self.take(idx)
        return torch.from_numpy(pad_flat(flat, lengths, max(min_width, int(lengths.max())), fill, np.int64))


class PartedRagged:
    """Ragged rows kept in parts (each a ``Ragged``: in memory, or memmapped from disk), indexed as one: row ``i``
    of the whole is row ``i - starts[p]`` of the part ``p`` it falls in. ``take`` and ``pad`` as ``Ragged``'s."""

    def __init__(self, parts: list[Ragged]):
        self.parts = parts
        self.starts = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p.offsets) - 1 for p in parts], out=self.starts[1:])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """``(part, row in that part)`` of each row of ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        part = np.searchsorted(self.starts, idx, side="right") - 1
        return part, idx - self.starts[part]

    def take(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """``(flat values, lengths)`` of rows ``idx``, in that order: per part, one fancy index over its rows."""
        if len(self.parts) == 1:
            return self.parts[0].take(idx)
        part, row = self.locate(idx)
        lengths = np.empty(len(row), dtype=np.int64)
        for p in np.unique(part):
            sel = part == p
            off = self.parts[p].offsets
            lengths[sel] = off[row[sel] + 1] - off[row[sel]]
        first = self.parts[0].values
        flat = np.empty((int(lengths.sum()),) + first.shape[1:],
                        dtype=np.result_type(*[q.values.dtype for q in self.parts]))
        starts = np.cumsum(lengths) - lengths           # where each row's items go in ``flat``
        for p in np.unique(part):
            sel = part == p
            q = self.parts[p]
            flat[ragged_index(starts[sel], lengths[sel])] = q.values[ragged_index(q.offsets[row[sel]], lengths[sel])]
        return flat, lengths

    def pad(self, idx, fill, min_width: int = 1) -> torch.Tensor:
        """Rows ``idx`` right-padded with ``fill`` into a ``[B, W]`` long tensor (as ``Ragged.pad``)."""
        flat, lengths = self.take(idx)
        return torch.from_numpy(pad_flat(flat, lengths, max(min_width, int(lengths.max())), fill, np.int64))


def _concat(seqs) -> tuple[np.ndarray, np.ndarray]:
    """All sequences concatenated as int64, and their lengths."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    flat = np.concatenate([np.asarray(s) for s in seqs]) if len(seqs) else np.zeros(0)
    return flat.astype(np.int64, copy=False), lengths


def pad_ids(seqs, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad int sequences into (ids [B,T] long, attention_mask [B,T] long)."""
    flat, lengths = _concat(seqs)
    T = int(lengths.max())
    return ids_and_mask(flat, lengths, T, pad_id)


def ids_and_mask(flat: np.ndarray, lengths: np.ndarray, width: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, attention_mask)`` [B, width] long tensors from concatenated rows ``flat`` and their lengths."""
    mask = np.arange(width) < lengths[:, None]
    ids = np.full(mask.shape, pad_id, dtype=np.int64)
    ids[mask] = flat
    return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))


def ids_and_positions(ids: "Ragged", pos: "Ragged", idx: np.ndarray, pad_id: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """The part of a batch every task shares, for rows ``idx``: ``input_ids``/``attention_mask`` [B,T],
    ``positions``/``pos_mask`` [B,P] (the looked-at token positions, padded with 0), plus the numpy
    ``n`` (positions per row) and ``pos_mask`` that the task's own columns are scattered with."""
    flat_ids, n_tok = ids.take(idx)
    input_ids, mask = ids_and_mask(flat_ids, n_tok, int(n_tok.max()), pad_id)
    flat_pos, n = pos.take(idx)
    width = max(1, int(n.max()))
    pos_mask = np.arange(width) < n[:, None]
    return {"input_ids": input_ids, "attention_mask": mask,
            "positions": torch.from_numpy(pad_flat(flat_pos, n, width, 0, np.int64)),
            "pos_mask": torch.from_numpy(pos_mask)}, n, pos_mask


def pad_words(seqs, fill: int) -> torch.Tensor:
    """Right-pad per-word int sequences (word positions or labels) into a [B,W] long tensor."""
    flat, lengths = _concat(seqs)
    W = max(1, int(lengths.max()))
    return torch.from_numpy(pad_flat(flat, lengths, W, fill, np.int64))


def flat_positions(positions) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, positions)`` long tensors that index a padded batch ``[B, T]`` at each row's listed token
    positions (``positions``: one int sequence per row, in batch order), flattened row after row."""
    pos, lengths = _concat(positions)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return torch.from_numpy(rows), torch.from_numpy(pos)
