"""Several teachers (``teacher.also``): the student learns from the mean of their logits.

Each teacher keeps its own tokenizer and its own cache (built and reused by fingerprint like any cache). The
first teacher's rows are what the student reads; every other teacher reads the same words, row for row
(``rows_for``: each of the first teacher's rows re-tokenised as one piece, so the word counts match), and its
per-word logits are averaged with the first's (``mean_cache``). The label lists must be the same, in the same
order: teachers fine-tuned here on the same data have that by construction.
"""
from __future__ import annotations

import numpy as np

from ..data.ner_data import Rows, encode_sentences
from ..errors import ConfigError
from ..folder_config import folder_config, position_room
from .cache import DTYPE, Cache


def row_words(rows: Rows) -> list[list[str]]:
    """The words of each of ``rows``' rows, cut from the sentences they were encoded from (``encode_sentences``
    splits a long sentence into consecutive rows, in order)."""
    sentences = getattr(rows, "sentences", None)
    if sentences is None:
        raise ConfigError("teacher.also: these rows (a corpus: source's on-disk store) keep no words for the other "
                          "teachers to read; use one teacher with corpus: transfer sources")
    out, taken = [], {}
    for r, sid in enumerate(rows.sent_id):
        start = taken.get(int(sid), 0)
        n = len(rows.word_pos[r])
        out.append(list(sentences[int(sid)][start:start + n]))
        taken[int(sid)] = start + n
    return out


def rows_for(rows: Rows, tokenizer, max_positions: int = 512) -> Rows:
    """``rows`` as another teacher's tokenizer encodes them: the same rows, each holding the same words
    (``max_positions``: the most sub-words that teacher reads, ``teacher_positions``)."""
    words = row_words(rows)
    other = encode_sentences(words, None, tokenizer, list(rows.labels_vocab), max_positions, source="teacher.also")
    if len(other) != len(rows) or not np.array_equal(other.word_counts(), rows.word_counts()):
        raise ConfigError(f"teacher.also: a row of the first teacher's is over {max_positions} sub-words for "
                          f"{tokenizer.name_or_path}; lower data.max_length")
    return other


def teacher_positions(folder: str) -> int:
    """The most sub-words the teacher in ``folder`` reads (``folder_config.position_room``; 512 if it does not say)."""
    room = position_room(folder_config(folder))
    return room[1] if room else 512


def mean_cache(caches: list[Cache], names: list[str]) -> Cache:
    """One in-memory ``Cache`` whose per-word logits are the mean of ``caches``' (same rows, same labels)."""
    first = caches[0]
    for c, name in zip(caches[1:], names[1:]):
        if not np.array_equal(c.offsets, first.offsets):
            raise ConfigError(f"teacher.also: {name}'s cache has other rows than {names[0]}'s")
        if c.manifest.get("labels") != first.manifest.get("labels"):
            raise ConfigError(f"teacher.also: {name} has labels {c.manifest.get('labels')}, {names[0]} has "
                              f"{first.manifest.get('labels')}: fine-tune both on the same data")
    logits = np.mean([np.asarray(c.arrays["logits"], dtype=np.float32) for c in caches], axis=0).astype(DTYPE)
    manifest = {**first.manifest, "teachers": [{"name": n, "cache": str(c.path)} for n, c in zip(names, caches)]}
    return Cache(first.path, manifest, {"offsets": first.offsets, "logits": logits})
