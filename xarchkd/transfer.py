"""Transfer data: extra student inputs with no gold labels, labelled by the teacher's cached logits.

Every strong small-student result trains on more text than the labelled set (Tang et al. 2019,
TinyBERT, TextBrewer's augmented transfer set). Two sources:

- ``"augment"``: new sentences made from the training sentences (Tang et al. / TinyBERT style):
  word masking, same-tag word replacement, entity-span swaps and n-gram sampling (``AugmentConfig``).
- ``"pydoc-text"``, ``"text:PATH"`` or a path: unlabeled plain text, split into sentences and words.

Both sizes are ``data.transfer_factor`` x the labelled train sentences. The rows carry label -1
(no gold), so the objective's CE term skips them and only the teacher terms train on them.
"""
from __future__ import annotations

import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .errors import ConfigError, did_you_mean
from .ner_data import Rows, encode_sentences


@dataclass
class AugmentConfig:
    """Per-sentence probabilities of each augmentation (Tang et al. 2019 used p_mask = 0.1, p_ngram = 0.25)."""
    p_mask: float = 0.1          # each word -> the tokenizer's [MASK]
    p_replace: float = 0.15      # each word -> a random training word that carried the same gold tag
    p_swap: float = 0.3          # each entity span -> another training span of the same type
    p_ngram: float = 0.25        # the sentence -> a random window of 1..max_ngram words... of its (augmented) self
    max_ngram: int = 5
    min_window: int = 1


def _spans(tags):
    """(start, end, type) of each entity in an IOB2 tag list."""
    out, start = [], None
    for i, t in enumerate(list(tags) + ["O"]):
        if start is not None and not t.startswith("I-"):
            out.append((start, i, tags[start][2:]))
            start = None
        if t.startswith("B-"):
            start = i
    return out


def augment_sentences(words_list, tags_list, n: int, seed: int = 0, cfg: AugmentConfig | None = None,
                      mask_token: str = "[MASK]", progress: bool = False) -> list[list[str]]:
    """Make ``n`` augmented sentences from labelled ones, deterministically from ``seed``."""
    cfg = cfg or AugmentConfig()
    rng = random.Random(seed)
    by_tag: dict[str, list[str]] = defaultdict(list)
    spans_by_type: dict[str, list[list[str]]] = defaultdict(list)
    for ws, ts in zip(words_list, tags_list):
        for w, t in zip(ws, ts):
            by_tag[t].append(w)
        for s, e, typ in _spans(ts):
            spans_by_type[typ].append(list(ws[s:e]))
    out = []
    for _ in tqdm(range(n), desc="augmenting", disable=not progress, mininterval=2):
        k = rng.randrange(len(words_list))
        ws, ts = list(words_list[k]), list(tags_list[k])
        # entity-span swaps (right to left so indices stay valid)
        for s, e, typ in reversed(_spans(ts)):
            if rng.random() < cfg.p_swap and spans_by_type[typ]:
                new = rng.choice(spans_by_type[typ])
                ws[s:e] = new
                ts[s:e] = ["B-" + typ] + ["I-" + typ] * (len(new) - 1)
        # word-level masking / same-tag replacement
        for i, t in enumerate(ts):
            r = rng.random()
            if r < cfg.p_mask:
                ws[i] = mask_token
            elif r < cfg.p_mask + cfg.p_replace and by_tag[t]:
                ws[i] = rng.choice(by_tag[t])
        if rng.random() < cfg.p_ngram and len(ws) > cfg.min_window:
            size = rng.randint(cfg.min_window, min(cfg.max_ngram, len(ws)))
            start = rng.randrange(len(ws) - size + 1)
            ws = ws[start:start + size]
        out.append(ws)
    return out


def text_sentences(path: str | Path, n: int, seed: int = 0, min_words: int = 3, max_words: int = 60) -> list[list[str]]:
    """``n`` word-tokenised sentences (3..60 words) from a plain-text file, a seeded sample."""
    from .text import split_sentences, words
    path = Path(path)
    if path.is_dir():
        path = path / "corpus.txt"
    sents = [words(s) for s in split_sentences(path.read_text(encoding="utf-8", errors="replace"))]
    sents = [s for s in sents if min_words <= len(s) <= max_words]
    if not sents:
        raise ConfigError(f"{path}: no sentences of {min_words}..{max_words} words")
    rng = random.Random(seed)
    rng.shuffle(sents)
    if n > len(sents):
        print(f"[xarchkd] {path} has {len(sents)} usable sentences; using all of them instead of {n}", flush=True)
    return sents[:n]


SOURCES = ("augment", "pydoc-text", "text:PATH", "a text file")


def transfer_words(spec: str, factor: float, words_list, tags_list, seed: int = 0, mask_token: str = "[MASK]",
                   progress: bool = True) -> list[list[str]]:
    """The transfer sentences (word lists) for ``spec`` at ``factor`` x the labelled sentences."""
    n = int(round(factor * len(words_list)))
    if spec == "augment":
        return augment_sentences(words_list, tags_list, n, seed, mask_token=mask_token, progress=progress)
    if spec.startswith("text:") or spec == "pydoc-text" or os.path.isfile(spec):
        from .resources import resolve
        path = spec[5:] if spec.startswith("text:") else resolve(spec)
        return text_sentences(path, n, seed)
    raise ConfigError(f"unknown transfer source {spec!r}{did_you_mean(spec, ['augment', 'pydoc-text'])}; "
                      f"use one of {', '.join(SOURCES)}")


def transfer_rows(cfg, tokenizer, labels, words_list, tags_list, progress: bool = True) -> Rows:
    """Encode the transfer sentences of a run's config into gold-less rows (labels all -1)."""
    ws = transfer_words(cfg.data.transfer, cfg.data.transfer_factor, words_list, tags_list, cfg.train.seed,
                        tokenizer.mask_token or "[MASK]", progress)
    return encode_sentences(ws, None, tokenizer, labels, cfg.data.max_length, source=f"transfer:{cfg.data.transfer}")
