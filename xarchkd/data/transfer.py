"""Transfer data: extra student inputs with no gold labels, labelled by the teacher's cached logits.

Every strong small-student result trains on more text than the labelled set (Tang et al. 2019,
TinyBERT, TextBrewer's augmented transfer set). ``data.transfer`` is a list of sources (``Source``), in TOML

    transfer = [{kind = "augment"}, {kind = "text", path = "reuters-21578", weight = 2}]

- ``augment``: new sentences made from the training sentences (Tang et al. 2019 / TinyBERT style):
  word masking, same-tag word replacement, entity-span swaps and n-gram sampling (``AugmentConfig``).
- ``text``: unlabeled text -- a plain-text file, or a text resource by name (``pydoc-text``, ``reuters-21578``:
  in-domain for CoNLL-2003, Reuters newswire of 1987, ~84k sentences) -- split into sentences and CoNLL-style
  words (``xarchkd.data.text``), sentences of 3..60 words.
- ``conll``: the sentences of a CoNLL file with their labels dropped (words only): in-domain text, e.g. the
  train sentences left over by ``xarchkd subset`` (``rest.txt``).
- ``corpus``: a corpus of any size -- plain text, JSON lines or parquet with a ``text`` field, one file
  or a folder of them -- read with ``datasets`` and split and encoded in parallel into an on-disk rows store
  (``xarchkd/data/corpus.py``); its sentences are kept in corpus order (a seeded subset when the factor asks for
  fewer than it has), and training reads them from disk in blocks (``disk_examples.py``).

Each source's ``weight`` K multiplies ``data.transfer_factor`` for it: ``augment`` plus ``text`` of weight 2 at factor
1 is one entity-swapped copy plus twice as many news sentences as there are labelled ones; each source's parts are
cached apart, as they would be alone. On the command line a list is long to type, so ``--set data.transfer=...``
also takes a shorthand, sources joined by ``+``, each ``SOURCE`` or ``SOURCE*K`` (``augment+reuters-21578*2``,
``text:my.txt``, ``conll:rest.txt``, ``corpus:DIR``), read into the same list (``parse_transfer``).

Every source makes ``round(K x data.transfer_factor x labelled train sentences)`` sentences, chosen
deterministically from ``train.seed``; the file sources (text and CoNLL) cap that at what the file has
and print a line saying so, so a factor of at least (file sentences / labelled sentences) takes the
whole file. Augmentation makes them as copies of the labelled set, each seeded and cached apart, so
factor 3 adds a third copy to factor 2's two (and reuses their teacher caches); a text source comes in parts
of the labelled set's size, the same way. The rows carry label -1 (no gold), so the objective's CE term
skips them and only the teacher terms train on them; their sub-words and word positions come from
the same ``encode_sentences`` as the labelled rows, so the teacher's cache lines up with them.
"""
from __future__ import annotations

import math
import os
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from ..errors import ConfigError, DataError, did_you_mean
from .ner_data import Rows, encode_sentences, read_conll
from xarchkd_runtime.spans import entity_spans  # the one span decoder (shared with the runtime)

# A replacement hook: (words, index, tag, rng) -> the new word, or None to keep the word.
Replacer = Callable[[list, int, str, random.Random], "str | None"]


@dataclass
class AugmentConfig:
    """Augmentation probabilities. Tang et al. 2019 use p_mask = 0.1, p_pos = 0.1 (same-POS
    replacement), p_ng = 0.25 and n-grams of 1..5 words; for NER the same *tag* stands in for the
    same POS, and entity spans are swapped as wholes (the NER analogue of TinyBERT's replacement)."""
    p_mask: float = 0.1          # per word: -> the tokenizer's mask token
    p_replace: float = 0.15      # per word: -> another word that carried the same gold tag in training
    p_swap: float = 0.3          # per entity span: -> another training span of the same type
    p_ngram: float = 0.25        # per sentence: keep only a random window of min_ngram..max_ngram words
    min_ngram: int = 1
    max_ngram: int = 5
    retries: int = 5             # redraw (up to this often) a result identical to its source sentence
    mlm: str = ""                # masked-LM folder/resource: replacements are its top-5 guesses (Tang et al.)
                                 # instead of same-tag training words; one forward per replaced word
    names: str = ""              # a names gazetteer (the "names" resource or a TYPE<TAB>name file, names.py)
    p_names: float = 0.0         # per swap of a type the gazetteer has: draw the new span from it, not from training


# The distilling NER recipes' augmentation: entity-span swaps only (the BiLSTM and SRU recipes add newswire text). With the mpnet-base teacher it lifted
# the BiLSTM by +0.9 F1 on valid and test (docs/results/transfer.md, entity swaps); the teacher's labels on these
# sentences agree with the swapped spans' types at entity F1 0.944 (benchmarks/transfer_label_quality.py).
# Half of the person and place swaps draw a name the training set never had, from the "names" gazetteer
# (xarchkd/data/names.py): +0.5 valid and +0.5 test F1 more (docs/results/transfer.md, gazetteer), mostly on new entities.
ENTITY_SWAPS = AugmentConfig(p_mask=0.0, p_replace=0.0, p_swap=0.5, p_ngram=0.0, names="names", p_names=0.5)
# The default recipes' copy: the same swaps, spans from the training set only (no gazetteer: any language, any tags).
SPAN_SWAPS = AugmentConfig(p_mask=0.0, p_replace=0.0, p_swap=0.5, p_ngram=0.0)


def same_tag_table(words_list, tags_list) -> dict[str, list[str]]:
    """Every training word under the tag it carried (with repeats, so sampling follows frequency)."""
    table: dict[str, list[str]] = defaultdict(list)
    for ws, ts in zip(words_list, tags_list):
        for w, t in zip(ws, ts):
            table[t].append(w)
    return dict(table)


def span_table(words_list, tags_list) -> dict[str, list[tuple[str, ...]]]:
    """Every training entity span (as a word tuple) under its type, with repeats."""
    table: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for ws, ts in zip(words_list, tags_list):
        for s, e, typ in entity_spans(ts):
            table[typ].append(tuple(ws[s:e]))
    return dict(table)


def same_tag_replacer(words_list, tags_list) -> Replacer:
    """The default replacement: a random training word that carried the same gold tag (O-words for O)."""
    table = same_tag_table(words_list, tags_list)

    def replace(ws, i, tag, rng):
        pool = table.get(tag)
        return rng.choice(pool) if pool else None
    return replace


def mlm_replacer(model_dir: str, top_k: int = 5, device: str = "cpu") -> Replacer:
    """Tang et al.'s replacement: mask the word and take one of a masked LM's top-k whole-word guesses.

    Slow (one forward pass per replaced word); pass it as ``replacer=`` where an MLM teacher exists."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForMaskedLM.from_pretrained(model_dir).to(device).eval()
    banned = set(tok.all_special_ids)

    @torch.no_grad()
    def replace(ws, i, tag, rng):
        masked = list(ws[:i]) + [tok.mask_token] + list(ws[i + 1:])
        enc = tok(masked, is_split_into_words=True, truncation=True, max_length=512, return_tensors="pt")
        where = (enc["input_ids"][0] == tok.mask_token_id).nonzero()
        if len(where) == 0:
            return None
        logits = model(**enc.to(device)).logits[0, int(where[0])]
        guesses = [tok.convert_ids_to_tokens(j) for j in logits.topk(top_k + len(banned)).indices.tolist()
                   if j not in banned]
        guesses = [g for g in guesses if not g.startswith("##") and g != ws[i]][:top_k]
        return rng.choice(guesses) if guesses else None
    return replace


def augment_pair(ws, ts, rng: random.Random, aug_cfg: AugmentConfig, spans, replacer: Replacer,
                 mask_token: str = "[MASK]", names: dict | None = None) -> tuple[list[str], list[str]]:
    """One augmented copy of sentence ``ws`` (tags ``ts``) -- span swaps, then per-word mask/replace, then
    n-gram -- and the tags the new words imply: a swapped span carries its type, a replaced or masked word
    keeps its tag, an n-gram window keeps its slice (an approximation: an I- tag can open the window). The
    student never sees these tags; they measure how well the teacher labels transfer data.

    A swapped span of a type that ``names`` (the gazetteer, ``{type: [word tuple]}``) has is drawn from it
    with probability ``aug_cfg.p_names``, else from the training ``spans``."""
    ws, ts = list(ws), list(ts)
    names = names or {}
    for s, e, typ in reversed(entity_spans(ts)):          # right to left: earlier indices stay valid
        if rng.random() < aug_cfg.p_swap and (spans.get(typ) or names.get(typ)):
            # no extra draw without a gazetteer of this type, so such transfer sets stay as they were
            from_names = names.get(typ) and (not spans.get(typ) or rng.random() < aug_cfg.p_names)
            new = rng.choice(names[typ] if from_names else spans[typ])
            ws[s:e] = new
            ts[s:e] = ["B-" + typ] + ["I-" + typ] * (len(new) - 1)
    for i, t in enumerate(ts):
        r = rng.random()
        if r < aug_cfg.p_mask:
            ws[i] = mask_token
        elif r < aug_cfg.p_mask + aug_cfg.p_replace:
            new = replacer(ws, i, t, rng)
            if new is not None:
                ws[i] = new
    if rng.random() < aug_cfg.p_ngram and len(ws) > aug_cfg.min_ngram:
        size = rng.randint(aug_cfg.min_ngram, min(aug_cfg.max_ngram, len(ws)))
        start = rng.randrange(len(ws) - size + 1)
        ws, ts = ws[start:start + size], ts[start:start + size]
    return ws, ts


def augment_sentences(words_list, tags_list, n: int, seed: int = 0, aug_cfg: AugmentConfig | None = None,
                      mask_token: str = "[MASK]", replacer: Replacer | None = None,
                      progress: bool = False, with_tags: bool = False) -> list:
    """``n`` augmented sentences, each from a random labelled sentence, deterministic under ``seed``.

    ``replacer`` (default: ``mlm_replacer`` of ``aug_cfg.mlm`` if set, else ``same_tag_replacer``) picks
    replacement words. ``with_tags``: ``(words, implied tags)`` pairs (see ``augment_pair``)."""
    aug_cfg = aug_cfg or AugmentConfig()
    pairs = [(ws, ts) for ws, ts in zip(words_list, tags_list) if ws]
    if not pairs:
        raise DataError("no non-empty training sentences to augment", "transfer:augment")
    rng = random.Random(seed)
    spans = span_table(words_list, tags_list)
    if replacer is None and aug_cfg.mlm:
        from .resources import resolve
        replacer = mlm_replacer(str(resolve(aug_cfg.mlm)))
    replacer = replacer or same_tag_replacer(words_list, tags_list)
    names = {}
    if aug_cfg.names and aug_cfg.p_names > 0 and aug_cfg.p_swap > 0:
        from .names import read_names
        from .resources import resolve
        names = read_names(resolve(aug_cfg.names))
    out = []
    for _ in tqdm(range(n), desc="augmenting", unit="sent", disable=not progress or n < 5000, mininterval=2):
        ws, ts = rng.choice(pairs)
        for _ in range(1 + max(0, aug_cfg.retries)):
            new, new_tags = augment_pair(ws, ts, rng, aug_cfg, spans, replacer, mask_token, names)
            if new != list(ws):
                break
        out.append((new, new_tags) if with_tags else new)
    return out


def text_sentences(path: str | Path, n: int, seed: int = 0, min_words: int = 3, max_words: int = 60,
                   progress: bool = False) -> list[list[str]]:
    """``n`` word-tokenised sentences of ``min_words..max_words`` words from a plain-text file (or a
    folder with ``corpus.txt``): a seeded shuffle of all of them, so the choice is deterministic."""
    from .text import split_sentences, words
    path = Path(path)
    if path.is_dir():
        path = path / "corpus.txt"
    if not path.is_file():
        raise ConfigError(f"transfer text {str(path)!r}: no such file")
    lines = split_sentences(path.read_text(encoding="utf-8", errors="replace"))
    sents = [s for s in (words(x) for x in tqdm(lines, desc="tokenising", unit="sent", mininterval=2,
                                                 disable=not progress or len(lines) < 20000))
             if min_words <= len(s) <= max_words]
    if not sents:
        raise DataError(f"no sentences of {min_words}..{max_words} words", str(path))
    random.Random(seed).shuffle(sents)
    if n > len(sents):
        print(f"[xarchkd] {path} has {len(sents)} usable sentences; using all of them instead of {n}",
              file=sys.stderr, flush=True)
    return sents[:n]


def conll_sentences(path: str | Path, n: int, seed: int = 0, scheme: str = "IOB2") -> list[list[str]]:
    """``n`` sentences (words only, labels dropped) of a CoNLL file: a seeded shuffle of all of them,
    capped at what the file has (with a printed line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"transfer CoNLL file {str(path)!r}: no such file")
    sents = [list(ws) for ws in read_conll(path, scheme)["words"]]
    random.Random(seed).shuffle(sents)
    if n > len(sents):
        print(f"[xarchkd] {path} has {len(sents)} sentences; using all of them instead of {n}",
              file=sys.stderr, flush=True)
    return sents[:n]


def _looks_like_conll(path: str) -> bool:
    """The first non-blank lines read as ``word ... tag`` columns (a CoNLL file, not plain text)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [l.split() for l in (next(f, "") for _ in range(20)) if l.strip()][:5]
    is_tag = lambda t: t == "O" or (len(t) > 2 and t[0] in "BI" and t[1] == "-")
    return bool(lines) and all(len(c) >= 2 and (is_tag(c[-1]) or c[0] == "-DOCSTART-") for c in lines)


TEXT_RESOURCES = ("pydoc-text", "reuters-21578")     # resources whose folder holds a corpus.txt
SOURCES = ("augment", *TEXT_RESOURCES, "text:PATH", "a path to a text file", "conll:PATH", "corpus:PATH")
KINDS = ("augment", "text", "conll", "corpus")
_WEIGHT = re.compile(r"^(.+)\*(\d+(?:\.\d*)?|\.\d+)$")


@dataclass
class Source:
    """One transfer source (an entry of ``data.transfer``; the module says what each kind reads)."""
    kind: str                 # "augment" | "text" | "conll" | "corpus"
    path: str = ""            # text: a file or a text resource's name; conll, corpus: a file (corpus: or folder)
    weight: float = 1.0       # its sentences: weight x data.transfer_factor x the labelled train sentences

    def __post_init__(self):
        if not isinstance(self.kind, str) or not isinstance(self.path, str):
            raise ConfigError(f"data.transfer: kind and path are strings, got kind={self.kind!r}, path={self.path!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"data.transfer: kind {self.kind!r} is not one of {', '.join(KINDS)}"
                              f"{did_you_mean(str(self.kind), KINDS)}")
        if (self.kind == "augment") == bool(self.path):
            raise ConfigError(f"data.transfer: a {self.kind} source " + ("takes no path" if self.path else
                                                                           "needs a path (a file, or a text resource)"))
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not 0 < self.weight < math.inf:
            raise ConfigError(f"data.transfer: {self.spec} has weight {self.weight!r}; a weight is a number > 0")
        self.weight = float(self.weight)

    @property
    def spec(self) -> str:
        """The source in the shorthand's words: ``augment``, ``reuters-21578``, ``text:PATH``, ``conll:PATH``..."""
        if self.kind == "augment":
            return "augment"
        return self.path if self.kind == "text" and self.path in TEXT_RESOURCES else f"{self.kind}:{self.path}"


def as_sources(value) -> list[Source]:
    """``data.transfer`` as a list of ``Source``: from a list of sources or tables (TOML, JSON), or from the
    command line's shorthand string (``parse_transfer``); ``""`` and ``[]`` are no transfer set."""
    if isinstance(value, str):
        return parse_transfer(value) if value.strip() else []
    if not isinstance(value, list):
        raise ConfigError(f"data.transfer: expected a list of sources, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, Source):
            out.append(v)
        elif isinstance(v, dict) and set(v) <= {"kind", "path", "weight"} and "kind" in v:
            out.append(Source(**v))
        else:
            raise ConfigError(f"data.transfer: {v!r} is not a source (a table with kind, and path and weight where "
                              "they apply: {kind = \"text\", path = \"news.txt\", weight = 2})")
    specs = [s.spec for s in out]
    twice = sorted({s for s in specs if specs.count(s) > 1})
    if twice:
        raise ConfigError(f"data.transfer names {twice[0]!r} twice (the same seeded sentences twice): raise its weight")
    return out


def _source(spec: str, weight: float) -> Source:
    """One shorthand source: ``augment``, a text resource, ``text:``/``conll:``/``corpus:PATH``, or a bare path
    (a CoNLL file or plain text, told apart by its first lines)."""
    if spec == "augment":
        return Source("augment", weight=weight)
    if spec in TEXT_RESOURCES:
        return Source("text", spec, weight)
    kind, _, path = spec.partition(":")
    if kind in KINDS[1:] and path:
        return Source(kind, path, weight)
    if _exists(spec):                   # a bare path reads as text (a CoNLL file is refused there, naming conll:)
        return Source("text", spec, weight)
    if os.sep in spec or spec.endswith(".txt"):
        raise ConfigError(f"data.transfer: {spec!r}: no such file")
    raise _unknown_source(spec)


def parse_transfer(spec: str) -> list[Source]:
    """The command line's shorthand: ``"augment+text:news.txt*2"`` -> ``[Source("augment"), Source("text",
    "news.txt", 2.0)]``. A spec that is itself an existing path (``text:c++/notes.txt``) is one source."""
    return as_sources([_source(s, k) for s, k in transfer_sources(spec)])


def _unknown_source(src: str) -> ConfigError:
    return ConfigError(f"unknown data.transfer source {src!r}{did_you_mean(src, ['augment', *TEXT_RESOURCES])}; "
                       f"use one of: {', '.join(SOURCES)}")


def _no_sentences(src: str, factor: float, n_labelled: int) -> ConfigError:
    return ConfigError(f"data.transfer={src!r} at {factor:g} x {n_labelled} train sentences gives no transfer "
                       "sentences; raise data.transfer_factor (or its *K) or set data.transfer_factor=0")


def _exists(src: str) -> bool:
    """``src`` (less a ``text:``, ``conll:`` or ``corpus:`` prefix) names a file or folder here."""
    return os.path.exists(os.path.expanduser(src.split(":", 1)[1] if src.startswith(("text:", "conll:", "corpus:"))
                                             else src))


def transfer_sources(spec: str) -> list[tuple[str, float]]:
    """``"augment+text:news.txt*2"`` -> ``[("augment", 1.0), ("text:news.txt", 2.0)]``: the sources of a
    ``data.transfer`` spec and the multiple of ``data.transfer_factor`` each one makes. A spec that is itself an
    existing path (``text:c++/notes.txt``) is one source, ``+`` and ``*`` included."""
    if _exists(spec.strip()):
        return [(spec.strip(), 1.0)]
    out = []
    for part in spec.split("+"):
        part = part.strip()
        whole = _exists(part)                   # an existing path is one source, * included
        m = _WEIGHT.match(part) if not whole else None
        src, k = (m.group(1).strip(), float(m.group(2))) if m else (part, 1.0)
        if not src or k <= 0 or (not m and "*" in part and not whole):
            raise ConfigError(f"data.transfer={spec!r}: {part!r} is not a source (sources are joined by '+', each "
                              "SOURCE or SOURCE*K with K a number > 0 such as 2 or 0.5)")
        if src in [s for s, _ in out]:
            raise ConfigError(f"data.transfer={spec!r} names {src!r} twice (the same seeded sentences twice): "
                              f"weight it instead, {src}*2")
        out.append((src, k))
    return out


def check_source(src: Source) -> None:
    """Refuse a transfer source that no run could read, before any work: a missing file, an unknown name; a text
    resource is fetched here (once), so a failed download comes first."""
    from .resources import RESOURCES, fetch
    if src.kind == "augment":
        return
    if src.kind == "text" and src.path in RESOURCES:
        if src.path not in TEXT_RESOURCES:
            raise ConfigError(f"data.transfer: resource {src.path!r} holds no text to read; text resources: "
                              f"{', '.join(TEXT_RESOURCES)}")
        fetch(src.path)
        return
    if not os.path.exists(os.path.expanduser(src.path)):
        if src.kind == "text" and os.sep not in src.path and not src.path.endswith(".txt"):
            raise _unknown_source(src.path)
        raise ConfigError(f"data.transfer: {src.spec!r}: no such file{' or folder' if src.kind == 'corpus' else ''}")
    if src.kind == "corpus":
        from .corpus import check_corpus      # files, formats, text fields (a bad JSON line past the first 100
        check_corpus(src.path)                # is found as it is read)


def transfer_words(sources, factor: float, words_list, tags_list, seed: int = 0, mask_token: str = "[MASK]",
                   replacer: Replacer | None = None, progress: bool = True,
                   aug_cfg: AugmentConfig | None = None, scheme: str = "IOB2") -> list[list[str]]:
    """The transfer sentences (word lists) of ``sources`` at ``factor`` x the labelled sentences (``scheme``: the tag
    scheme a ``conll`` file is read with): the parts of ``transfer_word_parts``, one after the other."""
    return [s for part in transfer_word_parts(sources, factor, words_list, tags_list, seed, mask_token, replacer,
                                              progress, aug_cfg, scheme) for s in part]


def augment_copies(factor: float, n_labelled: int) -> list[int]:
    """Sentences in each augmented copy: ``factor`` 2.5 over 100 labelled sentences -> ``[100, 100, 50]``."""
    whole, rest = int(factor), round((factor - int(factor)) * n_labelled)
    return [n_labelled] * whole + ([rest] if rest else [])


def transfer_word_parts(sources, factor: float, words_list, tags_list, seed: int = 0, mask_token: str = "[MASK]",
                        replacer: Replacer | None = None, progress: bool = True,
                        aug_cfg: AugmentConfig | None = None, scheme: str = "IOB2") -> list[list[list[str]]]:
    """The transfer sentences of ``sources`` (``data.transfer``: a list of ``Source``, or the shorthand) in parts,
    each cached apart, source after source, each at ``factor`` x its weight: ``augment`` makes one part per copy of
    the labelled set (``augment_copies``; copy 0 seeded by ``seed``, copy k by ``"seed/k"``), so a larger factor
    keeps the copies -- and the teacher caches -- of a smaller one; a text source gives ``round(factor x labelled
    sentences)`` of its sentences in parts of as many sentences as the labelled set (the same way: factor 4 keeps
    factor 2's parts), a CoNLL file gives them as one part."""
    return [p for src in as_sources(sources)
            for p in _source_parts(src, factor * src.weight, words_list, tags_list, seed, mask_token, replacer,
                                   progress, aug_cfg, scheme)]


def _source_parts(src: Source, factor: float, words_list, tags_list, seed, mask_token, replacer, progress, aug_cfg,
                  scheme) -> list[list[list[str]]]:
    n = int(round(factor * len(words_list)))
    path = os.path.expanduser(src.path)
    if src.kind == "augment":
        parts = [augment_sentences(words_list, tags_list, size, seed if k == 0 else f"{seed}/{k}", aug_cfg,
                                   mask_token=mask_token, replacer=replacer, progress=progress)
                 for k, size in enumerate(augment_copies(factor, len(words_list)))]
    elif src.kind == "conll":
        parts = [conll_sentences(path, n, seed, scheme)]
    elif src.kind == "corpus":
        raise ConfigError(f"data.transfer={src.spec!r} is read into an on-disk rows store (transfer_parts), "
                          "never into word lists")
    elif os.path.isfile(path) and _looks_like_conll(path):
        raise ConfigError(f"data.transfer={src.path!r} is a CoNLL file, not plain text: use a conll source "
                          f"({{kind = \"conll\", path = \"{src.path}\"}}, or conll:{src.path} on the command line)")
    else:                           # text: a file, or a text resource by name
        from .resources import RESOURCES, resolve
        sents = text_sentences(resolve(src.path if src.path in RESOURCES else path), n, seed, progress=progress)
        size = len(words_list)      # parts as large as the labelled set: a larger factor keeps a smaller one's
        parts = [sents[i:i + size] for i in range(0, len(sents), size)]     # parts (a prefix of the same shuffle)
    parts = [p for p in parts if p]
    if not parts:
        raise _no_sentences(src.spec, factor, len(words_list))
    return parts


def transfer_parts(cfg, tokenizer, labels, words_list, tags_list, progress: bool = True,
                   replacer: Replacer | None = None) -> list[Rows]:
    """Encode the transfer sentences of a run's config into gold-less rows (labels all -1), one ``Rows`` per part
    of ``transfer_word_parts`` (each gets its own teacher cache), source by source (``data.transfer``).

    ``words_list``/``tags_list`` are the labelled train sentences (after ``data.train_limit``). A ``corpus:PATH``
    source gives one on-disk ``rowstore.RowStore`` instead (it reads like ``Rows``), kept beside the run's caches."""
    out = []
    for src in as_sources(cfg.data.transfer):
        factor = cfg.data.transfer_factor * src.weight
        if src.kind == "corpus":
            from .corpus import corpus_rows
            n = int(round(factor * len(words_list)))
            if n == 0:
                raise _no_sentences(src.spec, factor, len(words_list))
            out.append(corpus_rows(os.path.expanduser(src.path), tokenizer.name_or_path, labels,
                                   cfg.cache_folder(), cfg.data.max_length,
                                   n=n, seed=cfg.train.seed, progress=progress))
            continue
        parts = _source_parts(src, factor, words_list, tags_list, cfg.train.seed, tokenizer.mask_token or "[MASK]",
                              replacer, progress, cfg.data.augment, cfg.data.scheme)
        out += [encode_sentences(ws, None, tokenizer, labels, cfg.data.max_length,
                                 source=f"transfer:{src.spec}" + (f"#{j}" if len(parts) > 1 else ""))
                for j, ws in enumerate(parts)]
    return out
