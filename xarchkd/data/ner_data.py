"""Turn word-level NER sentences into model rows: sub-word ids plus the position of each word.

A row is ``{"input_ids", "word_pos", "labels", "sent_id", "shapes"}``: ``word_pos[i]`` is the
index of word i's first sub-word in ``input_ids`` (the position that carries the
word's label for teacher and student alike; the second where the first is a SentencePiece tokenizer's bare
``▁``, a piece that says nothing of the word); ``labels`` has one id per word, or -1
where no gold label exists (teacher-labelled transfer rows); ``shapes`` gives each
sub-word its word's shape (``word_shape``: case and digits, which an uncased
tokenizer throws away), read only by students built with ``word_shapes``. Sentences longer than
``max_length`` sub-words are *split* into consecutive pieces that share a
``sent_id`` (never dropped or silently truncated); predictions are joined back per
sentence before scoring.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xarchkd_runtime.shapes import NOCASE, word_shape  # the one word-shape rule, shared with the runtime

from students import NUM_SHAPES

from ..errors import DataError

NO_LABEL = -1
assert NOCASE < NUM_SHAPES      # the student's shape embedding has a row for every shape the runtime makes


@dataclass
class Rows:
    """Columnar NER rows, kept as plain lists of numpy arrays (cheap to cache and batch)."""
    input_ids: list[np.ndarray]
    word_pos: list[np.ndarray]
    labels: list[np.ndarray]
    sent_id: np.ndarray
    labels_vocab: list[str]
    shapes: list[np.ndarray] | None = None   # word-shape id per sub-word (0 at [CLS]/[SEP]), like input_ids
    sentences: list | None = None            # the word lists the rows were encoded from (sent_id indexes them)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_words(self) -> int:
        return int(sum(len(w) for w in self.word_pos))

    def content_arrays(self):
        """The arrays that define the rows' content (hashed into cache fingerprints)."""
        return [np.concatenate(self.input_ids), np.concatenate(self.word_pos), np.concatenate(self.labels),
                np.array([len(x) for x in self.input_ids]), self.sent_id]

    # What readers of rows use, shared with the on-disk ``rowstore.RowStore`` (which reads the same way).
    def row_lengths(self) -> np.ndarray:
        """Sub-words per row (int64)."""
        return np.array([len(x) for x in self.input_ids], dtype=np.int64)

    def word_counts(self) -> np.ndarray:
        """Words per row (int64)."""
        return np.array([len(x) for x in self.word_pos], dtype=np.int64)

    def id_counts(self, vocab_size: int) -> np.ndarray:
        """How often each sub-word id ``0..vocab_size-1`` occurs in the rows."""
        ids = np.concatenate(self.input_ids) if self.input_ids else np.zeros(0, np.int64)
        return np.bincount(ids, minlength=vocab_size)[:vocab_size]

    def drop_pages(self) -> None:
        """Nothing to drop: in-memory rows (a ``RowStore`` unmaps the pages it has read)."""


def encode_sentences(words: list[list[str]], tags: list[list[str]] | None, tokenizer, labels_vocab: list[str],
                     max_length: int = 128, source: str = "data") -> Rows:
    """Tokenise word lists with any HF tokenizer and align labels to each word's first sub-word."""
    if max_length < 3:
        raise ValueError("max_length must leave room for [CLS], one token and [SEP]")
    label_id = {l: i for i, l in enumerate(labels_vocab)}
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    unk = tokenizer.unk_token_id
    bare = _bare_metaspace(tokenizer)
    room = max_length - 2
    out_ids, out_pos, out_lab, out_sid, out_shape = [], [], [], [], []
    for sid, ws in enumerate(words):
        pieces = tokenizer(ws, is_split_into_words=True, add_special_tokens=False)["input_ids"] if ws else []
        # Sub-words per word. A fast tokenizer gives word_ids(); re-tokenise word by word otherwise.
        per_word = _subwords_per_word(tokenizer, ws, pieces, unk)
        if tags is not None:
            try:
                lab = [label_id[t] for t in tags[sid]]
            except KeyError as e:
                raise DataError(f"tag {e.args[0]!r} of sentence {sid} is not one of the teacher's labels "
                                f"{labels_vocab}", source) from None
        else:
            lab = [NO_LABEL] * len(ws)
        shape = [0 if w == tokenizer.mask_token else word_shape(w) for w in ws]   # a masked word's shape is unknown
        # Greedy split into pieces of at most `room` sub-words (a single over-long word is truncated).
        start = 0
        while start < len(ws) or (start == 0 and not ws):
            ids, pos, shp, count = [cls], [], [0], 0
            end = start
            while end < len(ws) and (count + len(per_word[end]) <= room or count == 0):
                sub = per_word[end][:room]
                pos.append(len(ids) + int(len(sub) > 1 and sub[0] == bare))   # past a bare "▁" (see word_pos)
                ids.extend(sub)
                shp.extend([shape[end]] * len(sub))
                count += len(sub)
                end += 1
            ids.append(sep)
            shp.append(0)
            out_ids.append(np.asarray(ids, dtype=np.int32))
            out_shape.append(np.asarray(shp, dtype=np.int8))
            out_pos.append(np.asarray(pos, dtype=np.int32))
            out_lab.append(np.asarray(lab[start:end], dtype=np.int16))
            out_sid.append(sid)
            if end == start:
                break
            start = end
    return Rows(out_ids, out_pos, out_lab, np.asarray(out_sid, dtype=np.int64), list(labels_vocab), out_shape, words)


def _bare_metaspace(tokenizer) -> int | None:
    """The id of a SentencePiece tokenizer's bare word-start piece ``▁``, or None (WordPiece has none).

    XLM-R-style tokenizers spell many words as ``▁`` + the word (``▁ Газпром``, ``▁ 東京``, ``▁ «``): that first
    piece is the same for all of them, so a word's label goes on the piece after it."""
    i = tokenizer.convert_tokens_to_ids("▁")
    return i if isinstance(i, int) and i != tokenizer.unk_token_id else None


def _subwords_per_word(tokenizer, words, pieces, unk):
    enc = None
    try:
        enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        word_ids = enc.word_ids()
    except (ValueError, AttributeError):
        word_ids = None
    if word_ids is None:
        per = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in words]
    else:
        per = [[] for _ in words]
        for tok, wi in zip(pieces, word_ids):
            if wi is not None:
                per[wi].append(tok)
    return [p if p else [unk] for p in per]  # a word the tokenizer drops (e.g. a control char) -> [UNK]


def join_sentences(sent_id: np.ndarray, per_row: list[list]) -> list[list]:
    """Concatenate per-row word predictions back into per-sentence lists (rows are in order)."""
    out: list[list] = []
    last = None
    for sid, seq in zip(sent_id.tolist(), per_row):
        if sid != last:
            out.append([])
            last = sid
        out[-1].extend(seq)
    return out
