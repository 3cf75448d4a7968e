"""Masked-LM data: a text corpus -> packed rows -> static, reproducible masks -> training batches.

``corpus_sentences`` reads the corpus (text files or resources, CoNLL data sets' train words); ``split_corpus``
holds out every 20th row; ``text_rows`` packs sentences into rows; ``mask_rows`` masks them; ``masked_batch``
and ``MlmExamples`` (the student's training set, with its cached teacher top-k) make padded batches.

Masks are drawn once per example from ``(seed, example index)`` -- not per epoch -- so
the cached teacher top-k logits and the student see exactly the same masked inputs
(static masking, as caching requires). BERT's recipe: 15% of the non-special tokens
are chosen; of those 80% become [MASK], 10% a random token, 10% stay. ``whole_word``
chooses whole words (a word's ``##`` continuations are masked with it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .batching import Ragged, flat_positions, ids_and_positions, pad_ids, ragged_index
from .resources import resolve

HELDOUT_EVERY = 20       # every 20th row of the corpus is held out
HELDOUT_SEED = 1234      # the held-out rows' masks


@dataclass
class MaskedRows:
    input_ids: list[np.ndarray]     # masked ids, with [CLS] ... [SEP]
    positions: list[np.ndarray]     # masked token positions per row
    targets: list[np.ndarray]       # the original token id at each masked position

    def __len__(self) -> int:
        return len(self.input_ids)

    def content_arrays(self):
        return [np.concatenate(self.input_ids), np.concatenate(self.positions), np.concatenate(self.targets),
                np.array([len(x) for x in self.input_ids])]


def corpus_sentences(spec: str = "pydoc-text+conll2003", limit: int = 0) -> list[str]:
    """Plain-text sentences: '+'-joined sources, each a text resource/file or a CoNLL data set (its train words)."""
    out: list[str] = []
    for part in spec.split("+"):
        if part in ("conll2003",) or (os.path.isdir(part) and (Path(part) / "train.txt").is_file()):
            from .ner_data import read_conll
            ds = read_conll(Path(resolve(part)) / "train.txt")
            out += [" ".join(w) for w in ds["words"]]
        else:
            from .text import split_sentences
            p = Path(resolve(part))
            p = p / "corpus.txt" if p.is_dir() else p
            out += split_sentences(p.read_text(encoding="utf-8", errors="replace"))
    return out[:limit] if limit else out


def split_corpus(rows: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(train, held)``: every ``HELDOUT_EVERY``-th row is held out."""
    held = [r for i, r in enumerate(rows) if i % HELDOUT_EVERY == 0]
    train = [r for i, r in enumerate(rows) if i % HELDOUT_EVERY != 0]
    return train, held


def text_rows(sentences: list[str], tokenizer, max_length: int = 128, pack: bool = True) -> list[np.ndarray]:
    """Tokenise sentences into rows of at most ``max_length`` ids ([CLS] ... [SEP]).

    With ``pack``, consecutive sentences share a row until it is full (fewer, longer rows: cheaper
    per token for the teacher and more context for the student). Over-long sentences are split.
    """
    room = max_length - 2
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    enc = tokenizer(list(sentences), add_special_tokens=False)["input_ids"]
    rows, cur = [], []
    for ids in enc:
        while len(ids) > room:
            if cur:
                rows.append(cur)
                cur = []
            rows.append(ids[:room])
            ids = ids[room:]
        if not ids:
            continue
        if pack and len(cur) + len(ids) <= room:
            cur = cur + ids
        else:
            if cur:
                rows.append(cur)
            cur = list(ids)
        if not pack:
            rows.append(cur)
            cur = []
    if cur:
        rows.append(cur)
    return [np.asarray([cls] + r + [sep], dtype=np.int32) for r in rows]


def mask_rows(rows: list[np.ndarray], tokenizer, seed: int = 0, prob: float = 0.15, whole_word: bool = False,
              start: int = 0) -> MaskedRows:
    """Mask each row reproducibly from ``(seed, start + row index)``; every row gets at least one mask."""
    special = set(tokenizer.all_special_ids)
    vocab = len(tokenizer)
    mask_id = tokenizer.mask_token_id
    cont = _continuation_table(tokenizer) if whole_word else None
    out_ids, out_pos, out_tgt = [], [], []
    for i, ids in enumerate(rows):
        rng = np.random.default_rng([seed, start + i])
        cand = np.array([p for p, t in enumerate(ids) if int(t) not in special], dtype=np.int64)
        if whole_word:
            starts = [p for p in cand if not cont[ids[p]]]
            words = [[p] + _continuations(ids, p, cont) for p in starts]
            n = max(1, int(round(prob * len(cand)))) if len(cand) else 0
            picked = []
            for w in rng.permutation(len(words)):
                if len(picked) >= n:
                    break
                picked += words[w]
            pos = np.sort(np.asarray(picked, dtype=np.int64))
        else:
            n = max(1, int(round(prob * len(cand)))) if len(cand) else 0
            pos = np.sort(rng.choice(cand, size=n, replace=False)) if n else np.zeros(0, dtype=np.int64)
        masked = ids.copy()
        r = rng.random(len(pos))
        rand_tok = rng.integers(0, vocab, size=len(pos))
        for j, p in enumerate(pos):
            if r[j] < 0.8:
                masked[p] = mask_id
            elif r[j] < 0.9:
                masked[p] = rand_tok[j]
        out_ids.append(masked)
        out_pos.append(pos.astype(np.int32))
        out_tgt.append(ids[pos].astype(np.int32))
    return MaskedRows(out_ids, out_pos, out_tgt)


def _continuation_table(tokenizer) -> np.ndarray:
    toks = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return np.array([t.startswith("##") for t in toks], dtype=bool)


def _continuations(ids, p, cont):
    out, q = [], p + 1
    while q < len(ids) and cont[ids[q]]:
        out.append(q)
        q += 1
    return out


def masked_batch(m: MaskedRows, idx, pad_id: int):
    """``(ids, mask, rows, positions, targets)`` of rows ``idx``: padded ids and mask [B,T], and for each masked
    token its row in the batch, its position and its true id (flat, [N]) -- a ``teacher.MaskedLogits`` input."""
    ids, mask = pad_ids([m.input_ids[i] for i in idx], pad_id)
    rows, positions = flat_positions([m.positions[i] for i in idx])
    targets = torch.cat([torch.as_tensor(m.targets[i], dtype=torch.long) for i in idx])
    return ids, mask, rows, positions, targets


class MlmExamples(torch.utils.data.Dataset):
    """Masked rows plus (optionally) their cached teacher top-k; ``collate`` builds padded batches
    (rows kept concatenated, teacher top-k gathered from the memmap with one fancy index per batch)."""

    def __init__(self, m: MaskedRows, cache, token_map: torch.Tensor, pad_id: int):
        self.m, self.cache, self.map, self.pad_id = m, cache, token_map, pad_id
        self.lengths = [len(x) for x in m.input_ids]
        self._ids, self._pos, self._tgt = Ragged.of(m.input_ids), Ragged.of(m.positions), Ragged.of(m.targets)
        self._offsets = np.asarray(cache.offsets) if cache is not None else None

    def __len__(self):
        return len(self.m)

    def __getitem__(self, i):
        return i

    def collate(self, idx) -> dict:
        idx = np.asarray(idx, dtype=np.int64)
        batch, n, pos_mask = ids_and_positions(self._ids, self._pos, idx, self.pad_id)
        tpos = batch["pos_mask"]
        gold = torch.full(pos_mask.shape, -1, dtype=torch.long)
        gold[tpos] = self.map[torch.from_numpy(self._tgt.take(idx)[0])]
        batch["gold"] = gold
        if self.cache is not None:
            items = ragged_index(self._offsets[idx], n)
            vals = np.zeros(pos_mask.shape + (self.cache.arrays["values"].shape[1],), dtype=np.float32)
            vals[pos_mask] = self.cache.arrays["values"][items]
            inds = torch.zeros(vals.shape, dtype=torch.long)
            inds[tpos] = self.map[torch.from_numpy(self.cache.arrays["indices"][items].astype(np.int64))]
            batch["teacher_logits"], batch["teacher_indices"] = torch.from_numpy(vals), inds
        return batch
