"""Predictions, one loop each, shared by every caller (training-time scoring, ``eval``, ``predict``, ``fill``,
the web demo and the benchmark):

- ``predict_tags``: word tags from any NER model -- a student, a teacher (``Teacher.word_logits``) or one of
  the benchmark's variants -- given as a ``WordLogits`` function: batches of similar length, the model's
  logits at word positions, then ``decode.decode_tags`` (argmax, BIO-constrained Viterbi, or a CRF's).
- ``masked_logits`` / ``student_masked_logits``: a masked-LM teacher's or an MLM student's logits at the masked
  positions of ``mlm_data.MaskedRows`` (what ``metrics.mlm_accuracy`` scores).
- ``fill_mask``: the top-k fills of each mask token of a text, per model, with each model's latency.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..data.batching import length_batches, pad_ids, pad_words
from ..data.ner_data import Rows
from .decode import decode_tags, starts_sentence

# (ids [B,T], mask [B,T], word positions [B,P], word shapes [B,T]) -> word logits [B,P,C]
WordLogits = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.inference_mode()
def predict_tags(word_logits: WordLogits, rows: Rows, labels: list[str], decode: str = "argmax", pad_id: int = 0,
                 batch_size: int = 128, progress: bool = False, desc: str = "predict", crf=None) -> list[list[str]]:
    """Tags per row (word level), in row order: ``word_logits`` on length-sorted batches of ``rows`` (padded with
    ``pad_id``), decoded by ``decode`` ("argmax", "bio", or "crf" with a CRF student's ``crf`` scores) into
    ``labels``."""
    out: list = [None] * len(rows)
    batches = length_batches([len(x) for x in rows.input_ids], batch_size, shuffle=False)
    for idx in tqdm(batches, desc=desc, unit="batch", disable=not progress, mininterval=2):
        ids, mask = pad_ids([rows.input_ids[i] for i in idx], pad_id)
        logits = word_logits(ids, mask, pad_words([rows.word_pos[i] for i in idx], 0),
                             pad_words([rows.shapes[i] for i in idx], 0))
        tags = decode_tags(logits, [len(rows.word_pos[i]) for i in idx], labels, decode,
                           starts=[starts_sentence(rows.sent_id, i) for i in idx], crf=crf)
        for i, t in zip(idx, tags):
            out[i] = t
    return out


def student_word_logits(model) -> WordLogits:
    """A NER ``StudentModel``'s ``WordLogits`` (put in eval mode; inputs go to its device)."""
    model.eval()
    dev = next(model.parameters()).device
    return lambda ids, mask, pos, shapes: model(ids.to(dev), mask.to(dev), positions=pos.to(dev),
                                                shapes=shapes.to(dev)).logits


def predict_student(model, rows: Rows, batch_size: int = 128) -> list[list[str]]:
    """Tags per row (word level) from a NER student, in row order, decoded as its config says (argmax, BIO or CRF)."""
    c = model.cfg
    return predict_tags(student_word_logits(model), rows, c.labels, c.decode, c.pad_id, batch_size,
                        crf=getattr(model, "crf", None))


def masked_logits(model, m, pad_id: int):
    """``fn(row indices) -> logits [N, V]`` at the masked positions of those rows of ``m``; ``model`` is a
    ``teacher.MaskedLogits`` (or a wrapper that calls one), run on its device."""
    from ..data.mlm_data import masked_batch

    @torch.inference_mode()
    def fn(idx):
        dev = next(model.parameters()).device
        ids, mask, rows, positions, _ = masked_batch(m, idx, pad_id)
        return model(ids.to(dev), mask.to(dev), rows.to(dev), positions.to(dev))
    return fn


def student_masked_logits(model, m):
    """``fn(row indices) -> logits [N, V]`` of an MLM student at the masked positions of those rows of ``m``, over
    the *teacher's* vocabulary ids (a pruned student's rows mapped back), on the host."""
    model.eval()

    @torch.inference_mode()
    def fn(idx):
        dev = next(model.parameters()).device      # the model may sit on a GPU; the scores are read on the host
        ids, mask = pad_ids([m.input_ids[i] for i in idx], model.cfg.pad_id)
        pos = pad_words([m.positions[i] for i in idx], 0)
        lg = model(ids.to(dev), mask.to(dev), positions=pos.to(dev)).logits
        rows = torch.cat([lg[b, :len(m.positions[i])] for b, i in enumerate(idx)])
        return rows[:, model.token_map].cpu()    # column j = teacher token id j
    return fn


# (ids [1,T], mask [1,T]) -> logits [T,V] over the teacher's vocabulary
FillLogits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def student_fill_logits(model) -> FillLogits:
    """An MLM student's ``FillLogits``: its logits mapped back to the teacher's vocabulary ids."""
    model.eval()
    return lambda ids, mask: model(ids, mask).logits[0][:, model.token_map]


def teacher_fill_logits(teacher) -> FillLogits:
    """A masked-LM ``Teacher``'s ``FillLogits``."""
    return lambda ids, mask: teacher.forward(ids, mask)[0]


def fill_mask(text: str, tokenizer, models: dict[str, FillLogits], k: int = 5, warmup: bool = False) -> dict:
    """``{name: {"fills": [[{"token", "score"}] x k per mask token], "ms": latency}}`` for each model of
    ``models``; ``warmup`` runs each model once untimed first. A text without the mask token is a ``ConfigError``."""
    from ..errors import ConfigError
    enc = tokenizer(text, return_tensors="pt")
    pos = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    if not pos:
        raise ConfigError(f"put {tokenizer.mask_token} in the text")
    out = {}
    for name, fn in models.items():
        with torch.inference_mode():
            if warmup:
                fn(enc["input_ids"], enc["attention_mask"])
            t0 = time.perf_counter()
            logits = fn(enc["input_ids"], enc["attention_mask"])
            ms = (time.perf_counter() - t0) * 1000
        fills = []
        for p in pos:
            top = logits[p].float().softmax(-1).topk(k)
            fills.append([{"token": t, "score": v} for t, v in
                          zip(tokenizer.convert_ids_to_tokens(top.indices.tolist()), top.values.tolist())])
        out[name] = {"fills": fills, "ms": ms}
    return out
