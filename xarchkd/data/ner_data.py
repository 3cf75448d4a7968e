"""NER data: labelled CoNLL files in, the sub-word rows a teacher and a student read out.

**Reading files** (``read_conll``, ``load_splits``). Read CoNLL-style NER files into a ``datasets.Dataset`` (one row per sentence).

Format: one token per line, whitespace- or tab-separated columns, the word in the
first column and the tag in the last; a blank line ends a sentence; ``-DOCSTART-``
lines are skipped. Tags follow IOB2 (= BIO), IOB1 or BIOES, detected from the files by default
(``scheme="auto"``); IOB1 and BIOES are converted to IOB2, so everything downstream sees IOB2. Every problem raises ``DataError``
naming the file, the line and the offending text.

**Encoding rows** (``encode_sentences``, ``Rows``). Turn word-level NER sentences into model rows: sub-word ids plus the position of each word.

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

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xarchkd_runtime.encode import BARE, read_at      # the one rule for where a word is read, shared with the runtime
from xarchkd_runtime.shapes import NOCASE, word_shape  # the one word-shape rule, shared with the runtime

from students import NUM_SHAPES

from ..errors import DataError

SCHEMES = ("AUTO", "IOB2", "BIO", "IOB1", "BIOES")   # AUTO: detect_scheme


def read_conll(path: str | Path, scheme: str = "IOB2") -> "datasets.Dataset":
    """Parse a CoNLL file. Returns a Dataset with columns ``words``, ``tags`` (IOB2) and ``line``.

    ``line`` is the 1-based line number of each sentence's first token, for error messages.
    ``scheme`` is IOB2 (= BIO), IOB1 or BIOES (= IOBES; read into IOB2), or ``auto``: the file's own scheme
    (``detect_scheme``). Lines end in LF, CRLF or CR alone; a UTF-8 BOM is skipped. In a tab-separated file a
    word may hold spaces; a token whose word is empty or blank (tweets have them) is skipped when its tag is O,
    and said once per file, else refused.
    """
    scheme = scheme.upper()
    if scheme not in SCHEMES:
        raise DataError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}", str(path))
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", str(path))
    return _dataset(path, _tokens(path), scheme)


def _dataset(path: Path, tokens: list, scheme: str) -> "datasets.Dataset":
    """The Dataset of one file's ``_tokens``, tags read under ``scheme`` (or ``AUTO``) into IOB2."""
    if scheme == "AUTO":
        scheme = detect_scheme({path: tokens})
    words_all, tags_all, lines_all = [], [], []
    for sentence in tokens:
        words_all.append([w for w, _, _, _ in sentence])
        tags_all.append(_to_iob2([(t, n, line) for _, t, n, line in sentence], scheme, path))
        lines_all.append(sentence[0][2])
    if not words_all:
        raise DataError("no sentences found (empty file, or only -DOCSTART- lines)", str(path))
    import datasets     # imported here: reading a config or listing recipes needs no datasets/pyarrow
    return datasets.Dataset.from_dict({"words": words_all, "tags": tags_all, "line": lines_all})


def _lines(path: Path):
    """``(line number, text)`` of a file: UTF-8 (a BOM skipped), lines ending in LF, CRLF or CR alone."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for lineno, bline in enumerate(raw.splitlines(), start=1):
        try:
            yield lineno, bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8 (byte {bline[e.start:e.start + 1]!r} at column {e.start + 1})",
                            str(path), lineno) from None


_SAID_BLANK: set = set()       # (file, size, mtime) whose skipped blank words were said in this process


def _tokens(path: Path) -> list[list[tuple]]:
    """The sentences of a CoNLL file, each a list of ``(word, tag, line number, line text)``; tags are checked
    to be O or X-TYPE with X in B, I, E, S (the scheme is checked later)."""
    sentences, sentence, ncols, blank_words = [], [], None, []
    for lineno, line in _lines(path):
        if not line.strip():
            if sentence:
                sentences.append(sentence)
            sentence = []
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        cols = [c.strip() for c in cols]
        if cols[0] == "-DOCSTART-":
            if sentence:
                sentences.append(sentence)
            sentence = []
            continue
        if len(cols) < 2:
            raise DataError("expected at least 2 columns (word ... tag), found 1", str(path), lineno, line)
        if ncols is None:
            ncols = len(cols)
        elif len(cols) != ncols:
            raise DataError(f"expected {ncols} columns like the lines before, found {len(cols)}",
                            str(path), lineno, line)
        word, tag = cols[0], cols[-1]
        if not (tag == "O" or (len(tag) > 2 and tag[0] in "BIES" and tag[1] == "-")):
            raise DataError(f"tag {tag!r} is not a NER tag (expected O, B-TYPE or I-TYPE; E-/S- for BIOES)",
                            str(path), lineno, line)
        if not word:
            if tag != "O":
                raise DataError(f"the word is empty but tagged {tag}", str(path), lineno, line)
            blank_words.append(lineno)
            continue
        sentence.append((word, tag, lineno, line))
    if sentence:
        sentences.append(sentence)
    said = (str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)
    if blank_words and said not in _SAID_BLANK:     # once per file: a run reads its data more than once
        _SAID_BLANK.add(said)
        shown = ", ".join(map(str, blank_words[:5])) + (", ..." if len(blank_words) > 5 else "")
        print(f"[xarchkd] {path}: {len(blank_words)} token(s) with an empty word, tagged O, skipped (line {shown})",
              flush=True)
    return sentences


def detect_scheme(files: dict) -> str:
    """The tag scheme of CoNLL files (``{path: _tokens(path)}``, or paths alone): BIOES when any tag is E- or
    S-, IOB1 when an entity starts with I- (after O or another type) and none needs B- to start, else IOB2.
    Files of one folder that disagree are a ``DataError`` naming both."""
    found = {}
    for path, sentences in files.items():
        if sentences is None:
            sentences = _tokens(Path(path))
        found[path] = _scheme_of(sentences)
    kinds = {s for s in found.values() if s}
    if len(kinds) > 1:
        listed = "; ".join(f"{p}: {s}" for p, s in found.items() if s)
        raise DataError(f"the files use different tag schemes ({listed}); convert them to one, or name it with "
                        "data.scheme")
    return kinds.pop() if kinds else "IOB2"


def _scheme_of(sentences) -> str:
    """BIOES, IOB1 or IOB2 for one file's sentences; "" when its tags fit every scheme (no entity starts with
    I-, no E-/S-): IOB2 then, unless another file of the folder says otherwise."""
    i_starts = False
    for sentence in sentences:
        prev = "O"
        for _, tag, _, _ in sentence:
            if tag[0] in "ES":
                return "BIOES"
            if tag.startswith("I-") and not (prev != "O" and prev[2:] == tag[2:]):
                i_starts = True
            prev = tag
    return "IOB1" if i_starts else ""


def _to_iob2(tags, scheme, path):
    """Validate a sentence's ``(tag, line number, line text)`` and return its tags as IOB2 strings."""
    out, prev = [], "O"
    for tag, lineno, line in tags:
        if scheme == "BIOES":
            tag = {"S": "B", "E": "I"}.get(tag[0], tag[0]) + tag[1:] if tag != "O" else tag
        elif tag[0] in "ES":
            raise DataError(f"tag {tag!r} is BIOES (E-/S-), not {scheme}: set data.scheme=BIOES or auto "
                            "(--scheme BIOES), and it is read into IOB2", str(path), lineno, line)
        if tag.startswith("I-") and not (prev != "O" and prev[2:] == tag[2:]):
            if scheme == "IOB1":
                tag = "B-" + tag[2:]  # IOB1 starts a chunk with I-
            else:
                raise DataError(f"{tag} does not continue a {tag[2:]} entity (I- without B- under {scheme}); "
                                "if the file is IOB1, say so: data.scheme=IOB1 or auto (xarchkd run) or --scheme "
                                "IOB1 (xarchkd teacher/eval/cache/subset)", str(path), lineno, line)
        out.append(tag)
        prev = tag
    return out


def label_list(*tag_lists) -> list[str]:
    """Deterministic label order: ``O`` first, then per entity type ``B-T, I-T`` sorted by type."""
    types = sorted({t[2:] for tags in tag_lists for seq in tags for t in seq if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in "BI"]


def check_types_in_train(splits: dict, labels: list[str], data: str) -> None:
    """``train`` tags entities, and every entity type of ``valid`` and ``test`` occurs in it; otherwise one
    ``DataError`` naming the file (and the first line of a type train lacks, with every such type). A teacher
    fine-tuned here learns the train split's types only: without this, an all-O train split fine-tuned for nothing,
    and another split's new type stopped the fine-tune once its weights had loaded. ``splits``: ``load_splits``';
    ``labels``: ``label_list`` of the train split's tags."""
    known = {label[2:] for label in labels[1:]}
    if not known:
        raise DataError("every tag is O: no entity to learn (NER needs B-TYPE / I-TYPE tags in the last column)",
                        str(check_data_folder(data, ("train",)) / "train.txt"))
    for split in ("valid", "test"):
        new = sorted({t[2:] for seq in splits.get(split, {"tags": []})["tags"] for t in seq} - known - {""})
        if new:
            path = check_data_folder(data, (split,)) / f"{split}.txt"
            lineno, line = _first_line_of_type(path, new[0])
            them, are = ("them", "are") if len(new) > 1 else ("it", "is")
            raise DataError(f"entity type{'s' if len(new) > 1 else ''} {', '.join(map(repr, new))} {are} not in "
                            f"train.txt (its types: {', '.join(sorted(known))}): a teacher fine-tuned on train.txt cannot "
                            f"learn {them}; add train sentences with {them}, or tag {them} O in {split}.txt",
                            str(path), lineno, line)


def _first_line_of_type(path: Path, entity_type: str) -> tuple[int | None, str | None]:
    """``(line number, line text)`` of the first token of ``entity_type`` in CoNLL file ``path`` (None, None if none)."""
    return next(((n, text) for sentence in _tokens(path) for _, tag, n, text in sentence
                 if tag != "O" and tag[2:] == entity_type), (None, None))


# Splits that should not share sentences, what it means when they do, and the way out. A pair and its reverse
# (test in valid, valid in test) are said once.
OVERLAPS = (("valid", "train", "the best epoch is picked on sentences the models trained on",
             "move a part of train.txt out into valid.txt"),
            ("test", "train", "the reported test F1 scores sentences the models trained on",
             "keep test.txt's sentences out of train.txt"),
            ("test", "valid", "the test F1 is scored on the sentences that picked the best epoch, so it flatters",
             "make valid.txt of other sentences (e.g. a part of train.txt moved out)"),
            ("valid", "test", "the best epoch is picked on test sentences, so the test F1 flatters",
             "make valid.txt of other sentences (e.g. a part of train.txt moved out)"))
OVERLAP_SHARE = 0.2     # real splits share short lines ("SOCCER -"): CoNLL-2003's test 3.6% of its sentences, valid 5.9%


def overlap_warnings(splits: dict, folder: Path) -> list[str]:
    """One line per pair of ``OVERLAPS`` where over ``OVERLAP_SHARE`` of a split's sentences are word for word in
    the other: a copied file (a set with only train and test, its test copied as valid.txt) or a split made twice.
    The run can go on; its scores are not what they say. ``splits``: what ``load_splits`` read from ``folder``."""
    sentences = {name: [tuple(w) for w in split["words"]] for name, split in splits.items()}
    lines, said = [], set()
    for split, other, means, fix in OVERLAPS:
        if split not in sentences or other not in sentences or (other, split) in said:
            continue
        seen = set(sentences[other])
        shared = sum(w in seen for w in sentences[split])
        n = len(sentences[split])
        if n and shared > OVERLAP_SHARE * n:
            said.add((split, other))
            lines.append(f"{folder / split}.txt: {shared:,} of its {n:,} sentences ({100 * shared / n:.0f}%) are "
                         f"word for word in {other}.txt: {means}; {fix}")
    return lines


# Why a NER run reads each split (said when one is missing).
SPLIT_ROLES = {
    "train": "the teacher is fine-tuned and the student trained on it",
    "valid": "it picks the best epoch of the teacher fine-tune and of the student",
    "test": "the student's reported F1 is its score on it",
}
SPLITS = tuple(SPLIT_ROLES)


def check_data_folder(data: str, need=SPLITS) -> Path:
    """The data folder of ``data`` (a resource name or a folder), after checking that each split in ``need``
    is a readable ``<split>.txt`` file; otherwise one ``DataError`` naming the folder, each missing split
    and why it is needed. Reads no sentences: it is the check a run makes before any work."""
    from .resources import resolve
    folder = Path(resolve(data))
    if not folder.is_dir():
        raise DataError("expected a data folder with train.txt, valid.txt and test.txt", str(folder))
    problems = []
    for split in need:
        f = folder / f"{split}.txt"
        if f.is_dir():
            state = "is a folder, not a file"
        elif not f.exists():
            state = "is missing"
        elif not f.is_file() or not os.access(f, os.R_OK):
            state = "is not a readable file"
        else:
            continue
        problems.append(f"{split}.txt {state} (needed: {SPLIT_ROLES[split]}){_look_alike(folder, split)}")
    if problems:
        raise DataError("; ".join(problems) + f". This needs {', '.join(f'{s}.txt' for s in need)}: CoNLL files, "
                        "one word per line with its tag in the last column", str(folder))
    return folder


# Other names a split goes by in published sets (dev, devel, validation), and other endings of the same column files.
SPLIT_ALIASES = {"train": ("train", "training"), "valid": ("valid", "dev", "devel", "validation", "val"),
                 "test": ("test",)}
COLUMN_ENDINGS = (".txt", ".tsv", ".conll", ".iob", ".iob2", ".bio", ".tags")


def _look_alike(folder: Path, split: str) -> str:
    """``; the folder has dev.tsv: ...`` when a file of the folder looks like ``split`` under another name, else ""."""
    try:
        found = sorted(f.name for f in folder.iterdir() if f.is_file() and f.suffix.lower() in COLUMN_ENDINGS
                       and f.stem.lower() in SPLIT_ALIASES[split])
    except OSError:             # a folder that cannot be listed: no hint
        return ""
    if not found:
        return ""
    which = "it is" if len(found) == 1 else "one of them is"
    return f"; the folder has {', '.join(found)}: if {which} the {split} split in the same columns, name it {split}.txt"


def load_splits(data: str = "conll2003", scheme: str = "auto", need=("train",)) -> dict[str, "datasets.Dataset"]:
    """Read ``train``/``valid``/``test`` (``.txt``) from a resource name or a local folder: the splits in
    ``need`` must be there (``check_data_folder``), the others are read when present."""
    folder = check_data_folder(data, need)
    files = {s: folder / f"{s}.txt" for s in SPLITS if s in need or (folder / f"{s}.txt").is_file()}
    if scheme.upper() != "AUTO":
        return {s: read_conll(f, scheme) for s, f in files.items()}
    tokens = {f: _tokens(f) for f in files.values()}
    scheme = detect_scheme(tokens)
    if scheme != "IOB2":
        print(f"[xarchkd] {folder}: tags read as {scheme} (detected; data.scheme names it), into IOB2", flush=True)
    return {s: _dataset(f, tokens[f], scheme) for s, f in files.items()}


def first(split, n: int):
    """The first ``n`` sentences of a split (all of them for ``n`` 0): ``data.train_limit`` / ``eval_limit``."""
    return split.select(range(min(n, len(split)))) if n else split


def folder_scheme(data: str) -> str:
    """The tag scheme ``detect_scheme`` reads from a data folder's files (what a run with ``scheme=auto`` used)."""
    folder = check_data_folder(data, ("train",))
    return detect_scheme({folder / f"{s}.txt": None for s in SPLITS if (folder / f"{s}.txt").is_file()})


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
                pos.append(len(ids) + read_at(sub, bare))   # past a bare "▁" (see word_pos)
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
    """The id of a SentencePiece tokenizer's bare word-start piece ``▁``, or None (WordPiece has none); where a word
    is read past it: ``xarchkd_runtime.encode.read_at``."""
    i = tokenizer.convert_tokens_to_ids(BARE)
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
