"""The teacher's view of each sub-word of its vocabulary, for a student's frozen ``static_dim`` table.

A student's trained embedding rows only know the sub-words its training data had: a pruned table reads
every other one as [UNK], a full one leaves their rows at their initial value while the rest move. The
teacher knows every sub-word from its pre-training. ``static_table`` runs the teacher once on each id of its
vocabulary alone (``[CLS] id [SEP]``) and keeps the last hidden state at that id; ``pca_embeddings`` reduces
it to the student's ``static_dim``. The forward passes go through ``cache.ner_cache`` (one row per id, with
``hidden=True``), so they are fingerprinted, written atomically, resumable and shared by every later run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.ner_data import NO_LABEL, Rows
from .cache import ner_cache
from .teacher import pca_embeddings


def vocab_rows(tokenizer, labels: list[str]) -> Rows:
    """One row per id of ``tokenizer``'s vocabulary: ``[CLS] id [SEP]``, its one word at position 1."""
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    n = len(tokenizer)
    return Rows(input_ids=[np.array([cls, i, sep], dtype=np.int64) for i in range(n)],
                word_pos=[np.array([1], dtype=np.int64)] * n, labels=[np.array([NO_LABEL], dtype=np.int64)] * n,
                sent_id=np.arange(n, dtype=np.int64), labels_vocab=list(labels))


def static_table(teacher, tokenizer, labels: list[str], dim: int, root: str | Path,
                 progress: bool = True, **engine) -> torch.Tensor:
    """``[len(tokenizer), dim]`` float32 from ``teacher`` (a ``Teacher`` or a folder): its last hidden state for
    each sub-word alone, reduced by PCA to ``dim`` columns at unit variance. ``engine`` (``device``,
    ``mixed_precision``) goes to ``ner_cache``."""
    cache = ner_cache(teacher, vocab_rows(tokenizer, labels), root, batch_size=256, hidden=True,
                      progress=progress, **engine)
    hidden = torch.from_numpy(np.asarray(cache.arrays["hidden"], dtype=np.float32))
    return pca_embeddings(hidden, dim)
