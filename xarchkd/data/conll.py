"""Read CoNLL-style NER files into a ``datasets.Dataset`` (one row per sentence).

Format: one token per line, whitespace- or tab-separated columns, the word in the
first column and the tag in the last; a blank line ends a sentence; ``-DOCSTART-``
lines are skipped. Tags follow IOB2 (= BIO), IOB1 or BIOES, detected from the files by default
(``scheme="auto"``); IOB1 and BIOES are converted to IOB2, so everything downstream sees IOB2. Every problem raises ``DataError``
naming the file, the line and the offending text.
"""
from __future__ import annotations

import os
from pathlib import Path

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
        problems.append(f"{split}.txt {state} (needed: {SPLIT_ROLES[split]})")
    if problems:
        raise DataError("; ".join(problems) + f". This needs {', '.join(f'{s}.txt' for s in need)}: CoNLL files, "
                        "one word per line with its tag in the last column", str(folder))
    return folder


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
