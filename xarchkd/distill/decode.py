"""From per-word tag scores to tag sequences: argmax, or BIO-constrained Viterbi.

Students (training-time scoring, ``eval``, ``predict``, ``serve``) and the benchmark's F1 turn their ``[B, P, C]``
word logits into tags here; a teacher's own scores stay argmax.

``decode="bio"`` finds, per row, the tag sequence with the highest total log-probability among the
*valid* IOB2 sequences: ``I-X`` may only follow ``B-X`` or ``I-X``, and may not start a sentence (a
row that continues a sentence split at ``max_length`` may: ``starts`` says which rows begin one). An
argmax tagger that says ``O I-PER`` produces a broken entity that seqeval scores as a span it never
meant; the constrained decode repairs it with the next-best consistent reading. It costs one
``[B, C, C]`` max per word position (no learned parameters), so it can be switched on for any
trained student (``StudentConfig.decode``). ``decode="crf"`` is the same search with a CRF's learned scores added
(opening tag, tag-to-tag, closing tag: the student's ``TagTransitions``, trained by ``loss.crf``).
"""
from __future__ import annotations

from functools import lru_cache

import torch

DECODES = ("argmax", "bio", "crf")


def allowed_transitions(labels) -> tuple[torch.Tensor, torch.Tensor]:
    """``(start [C], trans [C, C])`` boolean masks of what IOB2 allows: ``trans[i, j]`` = tag j may follow tag i."""
    return _allowed(tuple(labels))


@lru_cache(maxsize=16)
def _allowed(labels: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    c = len(labels)
    start = torch.ones(c, dtype=torch.bool)
    trans = torch.ones(c, c, dtype=torch.bool)
    for j, tag in enumerate(labels):
        if tag.startswith("I-"):
            start[j] = False
            for i, prev in enumerate(labels):
                trans[i, j] = prev in (f"B-{tag[2:]}", tag)
    return start, trans


def bio_viterbi(logits: torch.Tensor, lengths: torch.Tensor, labels: list[str],
                starts: torch.Tensor | None = None, crf=None) -> torch.Tensor:
    """Best valid IOB2 path per row: ``logits`` ``[B, P, C]``, ``lengths`` ``[B]`` -> tag ids ``[B, P]``
    (positions past a row's length are 0). ``starts`` ``[B]`` bool: rows that begin a sentence (default
    all); only those may not open with ``I-X``. ``crf`` (``start``/``trans``/``end`` scores, a student's
    ``TagTransitions``): add those to each path's score (a CRF's Viterbi under the IOB2 constraints)."""
    b, p, c = logits.shape
    if p == 0:
        return torch.zeros(b, 0, dtype=torch.long, device=logits.device)
    start, trans = (m.to(logits.device) for m in allowed_transitions(labels))
    neg = torch.finfo(torch.float32).min / 4
    lp = torch.log_softmax(logits.float(), -1)
    penalty = torch.where(trans, 0.0, neg)                          # [C, C]
    first = torch.where(start, 0.0, neg)                            # [C]
    if starts is not None:                                          # a continuation row may open with I-X
        first = torch.where(starts.to(logits.device).bool().unsqueeze(1), first, 0.0)
    if crf is not None:
        penalty = penalty + crf.trans.detach().float()
        first = first + crf.start.detach().float()
    score = lp[:, 0] + first                                        # [B, C]
    back = torch.zeros(b, p, c, dtype=torch.long, device=logits.device)
    lengths = lengths.to(logits.device)
    for t in range(1, p):
        cand = score.unsqueeze(2) + penalty                         # [B, prev, cur]
        best, arg = cand.max(1)
        new = best + lp[:, t]
        live = (t < lengths).unsqueeze(1)                           # rows already finished keep their score
        score = torch.where(live, new, score)
        back[:, t] = arg
    if crf is not None:
        score = score + crf.end.detach().float()
    tags = torch.zeros(b, p, dtype=torch.long, device=logits.device)
    cur = score.argmax(1)
    for t in range(p - 1, -1, -1):
        here = t < lengths
        tags[:, t] = torch.where(here, cur, 0)
        if t > 0:
            prev = back[:, t].gather(1, cur.unsqueeze(1)).squeeze(1)
            cur = torch.where(here, prev, cur)                      # step back only inside the row
    return tags


def decode_tags(logits: torch.Tensor, lengths, labels: list[str], decode: str = "argmax",
                starts=None, crf=None) -> list[list[str]]:
    """Tag names per row from word logits ``[B, P, C]``; ``lengths[b]`` words are real in row b; ``starts[b]``
    (default all True) says whether row b begins its sentence (see ``bio_viterbi``); ``crf``: the student's
    tag-transition scores, which ``decode="crf"`` needs."""
    if decode not in DECODES:
        raise ValueError(f"unknown decode {decode!r}; use one of {DECODES}")
    if decode == "crf" and crf is None:
        raise ValueError("decode='crf' needs the student's tag-transition scores (a student trained with decode=crf)")
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    if decode in ("bio", "crf"):
        ids = bio_viterbi(logits, lengths, labels, None if starts is None else torch.as_tensor(starts, dtype=torch.bool),
                          crf=crf if decode == "crf" else None)
    else:
        ids = logits.argmax(-1)
    ids = ids.cpu().tolist()
    return [[labels[k] for k in row[:n]] for row, n in zip(ids, lengths.tolist())]


def starts_sentence(sent_id, i: int) -> bool:
    """Whether row ``i`` begins its sentence (rows of one sentence split at ``max_length`` are consecutive)."""
    return i == 0 or int(sent_id[i]) != int(sent_id[i - 1])
