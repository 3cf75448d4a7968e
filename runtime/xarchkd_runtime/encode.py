"""Text to model rows without torch: words with character offsets, sub-words by ``tokenizers``, word shapes.

The same rows ``xarchkd.data.ner_data.encode_sentences`` (training) makes for training and evaluation: [CLS], each word's
sub-words ([UNK] for a word the tokenizer drops), [SEP]; each word read at one of its sub-words (``read_at``);
each sub-word carries its word's shape (``shapes.word_shape``, 0 at [CLS]/[SEP]); a sentence longer than
``max_length`` sub-words is split into consecutive rows (a single over-long word is truncated), whose later rows
do not begin a sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .shapes import word_shape

BARE = "▁"      # SentencePiece's word-start mark, a piece of its own before many XLM-R words


def read_at(sub: list[int], bare: int | None) -> int:
    """Where among a word's sub-word ids ``sub`` the word is read -- labelled in training, its logits taken here:
    its first piece, or its second where the first is the tokenizer's bare ``▁`` (id ``bare``; None for
    WordPiece), which XLM-R puts before many words (``▁`` + ``Газпром``, ``▁`` + ``東京``) and so says nothing of
    the word. The one rule for both sides: ``xarchkd.data.ner_data.encode_sentences`` calls it too."""
    return int(len(sub) > 1 and sub[0] == bare)


@dataclass
class Row:
    """One model row: ``ids``/``shapes`` per sub-word, ``word_pos`` (first sub-word of each word), the sentence it
    belongs to, the index of its first word in that sentence, and whether it begins the sentence."""
    ids: list[int]
    shapes: list[int]
    word_pos: list[int]
    sentence: int
    first_word: int
    starts: bool


class Encoder:
    """Words and rows from text, as the manifest of an export says (``bundle.Bundle.manifest``)."""

    def __init__(self, manifest: dict, tokenizer):
        self.tok = tokenizer               # a ``tokenizers.Tokenizer``
        sp = manifest["special_ids"]
        self.cls, self.sep, self.unk = sp["cls"], sp["sep"], sp["unk"]
        bare = tokenizer.token_to_id(BARE)      # None for WordPiece
        self.bare = bare if bare is not None and bare != self.unk else None
        self.mask_token = manifest.get("mask_token")
        self.max_length = int(manifest["max_length"])
        w = manifest["words"]
        self.word_re = re.compile(w["pattern"], re.X if "X" in w.get("flags", "") else 0)

    def split(self, text: str) -> list[tuple[str, int, int]]:
        """``(word, start, end)`` of each word of ``text`` (CoNLL-style split; ``end`` exclusive)."""
        return [(m.group(), m.start(), m.end()) for m in self.word_re.finditer(text)]

    def subwords(self, words: list[str]) -> list[list[int]]:
        """Sub-word ids per word ([UNK] for a word that has none)."""
        if not words:
            return []
        enc = self.tok.encode(words, is_pretokenized=True, add_special_tokens=False)
        per: list[list[int]] = [[] for _ in words]
        for tid, wi in zip(enc.ids, enc.word_ids):
            if wi is not None:
                per[wi].append(tid)
        return [p if p else [self.unk] for p in per]

    def rows(self, sentences: list[list[str]]) -> list[Row]:
        """The rows of word lists, in order (a long sentence gives several consecutive rows)."""
        room = self.max_length - 2
        out = []
        for sid, ws in enumerate(sentences):
            per = self.subwords(ws)
            shape = [0 if w == self.mask_token else word_shape(w) for w in ws]
            start = 0
            while start < len(ws) or (start == 0 and not ws):
                ids, shp, pos, end = [self.cls], [0], [], start
                while end < len(ws) and (len(ids) - 1 + len(per[end]) <= room or len(ids) == 1):
                    sub = per[end][:room]
                    pos.append(len(ids) + read_at(sub, self.bare))
                    ids.extend(sub)
                    shp.extend([shape[end]] * len(sub))
                    end += 1
                out.append(Row(ids + [self.sep], shp + [0], pos, sid, start, start == 0))
                if end == start:
                    break
                start = end
        return out
