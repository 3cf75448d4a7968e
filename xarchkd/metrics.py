"""Sequence-tagging scores with seqeval.

Reported F1 is seqeval's *default* (lenient, conlleval-compatible) entity-level
micro F1 -- the figure CoNLL-2003 papers report. Values are cast to plain floats
(seqeval returns numpy types, which ``json.dump`` refuses).
"""
from __future__ import annotations

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from .ner_data import join_sentences


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
