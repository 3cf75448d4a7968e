"""Masked-LM rows with static, reproducible masks.

Masks are drawn once per example from ``(seed, example index)`` -- not per epoch -- so
the cached teacher top-k logits and the student see exactly the same masked inputs
(static masking, as caching requires). BERT's recipe: 15% of the non-special tokens
are chosen; of those 80% become [MASK], 10% a random token, 10% stay. ``whole_word``
chooses whole words (a word's ``##`` continuations are masked with it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
