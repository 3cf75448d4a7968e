"""Word tags from a NER student: the one prediction loop that runs, evaluation, ``eval``/``predict`` and the
web demo share (batches of similar length, the student's forward at word positions, then its decode)."""
from __future__ import annotations

import torch

from students import StudentModel

from .batching import length_batches, pad_ids, pad_words
from .decode import decode_tags, starts_sentence
from .ner_data import Rows


@torch.inference_mode()
def predict_student(model: StudentModel, rows: Rows, batch_size: int = 128) -> list[list[str]]:
    """Tags per row (word level) from a student, in row order, decoded as its config says (argmax, BIO or CRF)."""
    model.eval()
    dev = next(model.parameters()).device
    out: list = [None] * len(rows)
    for idx in length_batches([len(x) for x in rows.input_ids], batch_size, shuffle=False):
        ids, mask = pad_ids([rows.input_ids[i] for i in idx], model.cfg.pad_id)
        pos = pad_words([rows.word_pos[i] for i in idx], 0)
        shapes = pad_words([rows.shapes[i] for i in idx], 0)
        logits = model(ids.to(dev), mask.to(dev), positions=pos.to(dev), shapes=shapes.to(dev)).logits
        tags = decode_tags(logits, [len(rows.word_pos[i]) for i in idx], model.cfg.labels, model.cfg.decode,
                           starts=[starts_sentence(rows.sent_id, i) for i in idx], crf=model.crf)
        for i, t in zip(idx, tags):
            out[i] = t
    return out
