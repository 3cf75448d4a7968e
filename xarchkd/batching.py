"""Length-aware batching and padding for token rows (teacher caching, teacher and student training)."""
from __future__ import annotations

import numpy as np
import torch


def length_batches(lengths, batch_size: int, shuffle: bool, seed: int = 0, window: int = 50) -> list[np.ndarray]:
    """Index batches of similar length.

    ``shuffle=False``: sort all rows by length (deterministic; used for inference and caching).
    ``shuffle=True``: shuffle, sort within windows of ``window`` batches, shuffle the batches
    (HF's group-by-length idea), from a generator seeded by ``seed`` alone.
    """
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


def pad_ids(seqs, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad int sequences into (ids [B,T] long, attention_mask [B,T] long)."""
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.as_tensor(np.asarray(s, dtype=np.int64))
        mask[i, :len(s)] = 1
    return ids, mask


def pad_words(seqs, fill: int) -> torch.Tensor:
    """Right-pad per-word int sequences (word positions or labels) into a [B,W] long tensor."""
    W = max(1, max(len(s) for s in seqs))
    out = torch.full((len(seqs), W), fill, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(np.asarray(s, dtype=np.int64))
    return out


def flat_positions(positions) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, positions)`` long tensors that index a padded batch ``[B, T]`` at each row's listed token
    positions (``positions``: one int sequence per row, in batch order), flattened row after row."""
    rows = torch.cat([torch.full((len(p),), b, dtype=torch.long) for b, p in enumerate(positions)])
    pos = torch.cat([torch.as_tensor(np.asarray(p, dtype=np.int64)) for p in positions])
    return rows, pos
