"""Scores: NER entity scores with seqeval, and masked-LM top-k accuracy.

Reported F1 is seqeval's *default* (lenient, conlleval-compatible) entity-level
micro F1 -- the figure CoNLL-2003 papers report. Values are cast to plain floats
(seqeval returns numpy types, which ``json.dump`` refuses).

Masked-LM metrics follow the seed thesis: absolute top-1/top-5 accuracy against the true token, and
*relative* top-1/top-5 -- whether the teacher's top-1 prediction is the student's top-1 / within the
student's top-5 ("agreement with the teacher") -- on held-out text.
"""
from __future__ import annotations

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from ..data.ner_data import join_sentences


def ner_scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Entity-level micro P/R/F1 plus per-type scores (conlleval-style, lenient mode)."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted tag sequences must have the same shape")
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    per_type = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                    "f1": float(v["f1-score"]), "support": int(v["support"])}
                for k, v in report.items() if not k.endswith(" avg")}
    return {"f1": float(f1_score(gold, pred, zero_division=0)),
            "precision": float(precision_score(gold, pred, zero_division=0)),
            "recall": float(recall_score(gold, pred, zero_division=0)),
            "per_type": per_type, "scoring": "seqeval default (conlleval-compatible, lenient)"}


def evaluate_tags(pred_rows: list[list[str]], rows, gold_sentences) -> dict:
    """Join per-row predictions back into sentences and score them against the gold tags."""
    pred = join_sentences(rows.sent_id, pred_rows)
    return ner_scores([list(t) for t in gold_sentences], pred)


def mlm_accuracy(logits_fn, m, teacher_top1=None, batch_size: int = 64) -> dict:
    """Top-1/top-5 accuracy vs the true tokens (and vs ``teacher_top1`` if given) over the masked positions of
    ``m`` (``mlm_data.MaskedRows``); ``logits_fn(row indices)`` gives the logits [N, V] at those rows' masks."""
    import numpy as np
    import torch
    from ..data.batching import length_batches
    hit1 = hit5 = rel1 = rel5 = n = 0
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in m.positions])])
    with torch.no_grad():
        for idx in length_batches([len(x) for x in m.input_ids], batch_size, shuffle=False):
            top5 = logits_fn(idx).float().cpu().topk(5, -1).indices
            tgt = torch.cat([torch.as_tensor(m.targets[i], dtype=torch.long) for i in idx])
            hit1 += (top5[:, 0] == tgt).sum().item()
            hit5 += (top5 == tgt[:, None]).any(-1).sum().item()
            if teacher_top1 is not None:
                t1 = torch.as_tensor(np.concatenate([teacher_top1[offsets[i]:offsets[i + 1]] for i in idx]),
                                     dtype=torch.long)
                rel1 += (top5[:, 0] == t1).sum().item()
                rel5 += (top5 == t1[:, None]).any(-1).sum().item()
            n += len(tgt)
    out = {"top1": hit1 / max(1, n), "top5": hit5 / max(1, n), "masked_tokens": n}
    if teacher_top1 is not None:
        out.update(rel_top1=rel1 / max(1, n), rel_top5=rel5 / max(1, n))
    return out
