"""Word logits to tags in numpy: argmax, or the best path among the valid IOB2 sequences (a CRF's scores added).

The same search as ``xarchkd.distill.decode.bio_viterbi`` (log-softmax scores, the export's allowed opening tags
and tag-to-tag transitions, a continuation row free to open with ``I-X``), for one row at a time.
"""
from __future__ import annotations

import numpy as np

NEG = np.finfo(np.float32).min / 4


class Decoder:
    """The decode rule of an export's manifest (``manifest["decode"]``)."""

    def __init__(self, decode: dict):
        self.rule = decode["rule"]
        if self.rule not in ("argmax", "bio", "crf"):
            raise ValueError(f"unknown decode rule {self.rule!r}")
        self.first = np.where(np.asarray(decode["allowed_start"], bool), 0.0, NEG).astype(np.float32)
        self.penalty = np.where(np.asarray(decode["allowed_trans"], bool), 0.0, NEG).astype(np.float32)
        crf = decode.get("crf") if self.rule == "crf" else None
        self.start = np.asarray(crf["start"], np.float32) if crf else 0.0
        self.end = np.asarray(crf["end"], np.float32) if crf else 0.0
        if crf:
            self.penalty = self.penalty + np.asarray(crf["trans"], np.float32)

    def __call__(self, logits: np.ndarray, starts: bool = True) -> list[int]:
        """Tag ids of one row's word logits ``[P, C]``; ``starts``: the row begins its sentence."""
        if self.rule == "argmax" or len(logits) == 0:
            return logits.argmax(-1).tolist()
        x = logits.astype(np.float32)
        lp = x - x.max(-1, keepdims=True)
        lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
        score = lp[0] + (self.first if starts else 0.0) + self.start
        back = np.zeros(lp.shape, np.int64)
        for t in range(1, len(lp)):
            cand = score[:, None] + self.penalty          # [prev, cur]
            back[t] = cand.argmax(0)
            score = cand.max(0) + lp[t]
        cur = int((score + self.end).argmax())
        tags = [cur]
        for t in range(len(lp) - 1, 0, -1):
            cur = int(back[t, cur])
            tags.append(cur)
        return tags[::-1]
