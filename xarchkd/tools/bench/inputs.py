"""What the models are fed: the benchmark sentences (encoded once per tokenizer), model-only batches of real
sentences or fixed-length windows, fill-mask batches, and the end-to-end call (text in, entities out)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import torch

from ...data.batching import pad_ids, pad_words
from ...data.ner_data import encode_sentences, join_sentences
from .models import CONLL_LABELS, Entry

def _tok_key(tok) -> str:
    vocab = sorted(tok.get_vocab().items())
    return hashlib.sha1(json.dumps([type(tok).__name__, vocab]).encode()).hexdigest()[:12]


@dataclass
class Corpus:
    """The benchmark sentences, encoded once per distinct tokenizer."""
    words: list[list[str]]
    tags: list[list[str]]
    _rows: dict = field(default_factory=dict)

    def rows(self, tok):
        key = _tok_key(tok)
        if key not in self._rows:
            self._rows[key] = encode_sentences(self.words, None, tok, CONLL_LABELS, 128)
        return self._rows[key]


def model_batch(rows, tok, sentences: np.ndarray | None, length: int | None, rng: np.random.Generator, batch: int):
    """(ids, mask, positions, shapes) for real ``sentences`` (all their rows) or a ``length``-token window batch."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    if length is None:
        want = set(sentences.tolist())
        idx = [i for i, s in enumerate(rows.sent_id.tolist()) if s in want]
        ids, mask = pad_ids([rows.input_ids[i] for i in idx], pad)
        return ids, mask, pad_words([rows.word_pos[i] for i in idx], 0), pad_words([rows.shapes[i] for i in idx], 0)
    stream = np.concatenate([x[1:-1] for x in rows.input_ids]).astype(np.int64)
    shape_stream = np.concatenate([x[1:-1] for x in rows.shapes]).astype(np.int64)
    starts = rng.integers(0, len(stream) - (length - 2), size=batch)
    special = np.zeros((batch, 1), dtype=np.int64)     # [CLS]/[SEP] have shape 0
    ids = np.concatenate([np.full((batch, 1), tok.cls_token_id), np.stack([stream[s:s + length - 2] for s in starts]),
                          np.full((batch, 1), tok.sep_token_id)], 1)
    shapes = np.concatenate([special, np.stack([shape_stream[s:s + length - 2] for s in starts]), special], 1)
    ids = torch.as_tensor(ids, dtype=torch.long)
    return ids, torch.ones_like(ids), torch.arange(1, length - 1).repeat(batch, 1), torch.as_tensor(shapes)


def fill_mask_batch(ids, mask, pos, shapes, tok):
    """A fill-mask batch from a model batch: each row's middle word (its first sub-word) becomes the
    mask token, and that is the one position asked for."""
    n_words = (pos > 0).sum(1).clamp(min=1)
    mid = pos[torch.arange(len(pos)), n_words // 2].clamp(min=1)      # min 1: never [CLS], even in an empty row
    ids = ids.clone()
    ids[torch.arange(len(ids)), mid] = tok.mask_token_id
    return ids, mask, mid[:, None], shapes


def tag_texts(entry: Entry, texts: list[str]) -> list[list[tuple]]:
    """End to end: sentences as text in, entities ``(type, start, end, "words")`` out (``end`` exclusive), through
    the one prediction path (``predict.predict_tags``, the model's own decode) and span decoder (``spans``)."""
    from xarchkd_runtime.spans import entity_spans
    from ...distill.predict import predict_tags
    words = [t.split() for t in texts]
    rows = encode_sentences(words, None, entry.tokenizer, entry.labels, 128)
    tags = predict_tags(entry.forward, rows, entry.labels, entry.decode, entry.tokenizer.pad_token_id or 0,
                        batch_size=len(rows), crf=entry.crf)
    return [[(t, s, e, " ".join(ws[s:e])) for s, e, t in entity_spans(ts)]
            for ws, ts in zip(words, join_sentences(rows.sent_id, tags))]


def timed_calls(entries: list[Entry], corpus: Corpus, batch: int, length, mode: str, n_calls: int, seed: int) -> dict:
    """``{entry key: [zero-argument call per repeat]}``; every model gets the same sentences per call."""
    rng = np.random.default_rng(seed)
    n = len(corpus.words)
    picks = [rng.choice(n, size=batch, replace=n < batch) for _ in range(n_calls)]
    window_seeds = rng.integers(0, 2**31, size=n_calls)
    calls = {}
    for e in entries:
        if mode == "e2e":
            texts = [[" ".join(corpus.words[i]) for i in p] for p in picks]
            calls[e.key] = [(lambda t=t, e=e: e.e2e(t) if e.e2e is not None else tag_texts(e, t)) for t in texts]
        else:
            rows = corpus.rows(e.tokenizer)
            fixed = None if length == "real" else int(length)
            batches = [model_batch(rows, e.tokenizer, p, fixed, np.random.default_rng(s), batch)
                       for p, s in zip(picks, window_seeds)]
            if e.task == "mlm":
                batches = [fill_mask_batch(*b, e.tokenizer) for b in batches]
            calls[e.key] = [(lambda b=b, e=e: e.forward(*b)) for b in batches]
    return calls
