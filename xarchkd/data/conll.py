"""Read CoNLL-style NER files into a ``datasets.Dataset`` (one row per sentence).

Format: one token per line, whitespace- or tab-separated columns, the word in the
first column and the tag in the last; a blank line ends a sentence; ``-DOCSTART-``
lines are skipped. Tags follow IOB2 (= BIO) or IOB1; IOB1 input is converted to
IOB2, so everything downstream sees IOB2. Every problem raises ``DataError``
naming the file, the line and the offending text.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

SCHEMES = ("IOB2", "BIO", "IOB1")


def read_conll(path: str | Path, scheme: str = "IOB2") -> "datasets.Dataset":
    """Parse a CoNLL file. Returns a Dataset with columns ``words``, ``tags`` (IOB2) and ``line``.

    ``line`` is the 1-based line number of each sentence's first token, for error messages.
    """
    scheme = scheme.upper()
    if scheme not in SCHEMES:
        raise DataError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}", str(path))
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", str(path))
    raw = path.read_bytes()
    words_all, tags_all, lines_all = [], [], []
    words, tags, first_line = [], [], None
    ncols = None

    def close_sentence():
        nonlocal words, tags, first_line
        if words:
            words_all.append(words)
            tags_all.append(_to_iob2(tags, scheme, path, first_line))
            lines_all.append(first_line)
        words, tags, first_line = [], [], None

    for lineno, bline in enumerate(raw.split(b"\n"), start=1):
        try:
            line = bline.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8 (byte {bline[e.start:e.start + 1]!r} at column {e.start + 1})",
                            str(path), lineno) from None
        if not line.strip():
            close_sentence()
            continue
        cols = line.split()
        if cols[0] == "-DOCSTART-":
            close_sentence()
            continue
        if len(cols) < 2:
            raise DataError("expected at least 2 columns (word ... tag), found 1", str(path), lineno, line)
        if ncols is None:
            ncols = len(cols)
        elif len(cols) != ncols:
            raise DataError(f"expected {ncols} columns like the lines before, found {len(cols)}",
                            str(path), lineno, line)
        tag = cols[-1]
        if not (tag == "O" or (len(tag) > 2 and tag[0] in "BI" and tag[1] == "-")):
            raise DataError(f"tag {tag!r} is not in the {scheme} scheme (expected O, B-TYPE or I-TYPE)",
                            str(path), lineno, line)
        if first_line is None:
            first_line = lineno
        words.append(cols[0])
        tags.append((tag, lineno, line))
    close_sentence()
    if not words_all:
        raise DataError("no sentences found (empty file, or only -DOCSTART- lines)", str(path))
    import datasets     # imported here: reading a config or listing recipes needs no datasets/pyarrow
    return datasets.Dataset.from_dict({"words": words_all, "tags": tags_all, "line": lines_all})


def _to_iob2(tags, scheme, path, first_line):
    """Validate a sentence's tags and return them as plain IOB2 strings."""
    out, prev = [], "O"
    for tag, lineno, line in tags:
        if tag.startswith("I-") and not (prev != "O" and prev[2:] == tag[2:]):
            if scheme == "IOB1":
                tag = "B-" + tag[2:]  # IOB1 starts a chunk with I-
            else:
                raise DataError(f"{tag} does not continue a {tag[2:]} entity (I- without B- under {scheme}); "
                                "if the file is IOB1, say so: data.scheme=IOB1 (xarchkd run) or --scheme IOB1 "
                                "(xarchkd teacher/eval/cache/subset)", str(path), lineno, line)
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


def load_splits(data: str = "conll2003", scheme: str = "IOB2", need=("train",)) -> dict[str, "datasets.Dataset"]:
    """Read ``train``/``valid``/``test`` (``.txt``) from a resource name or a local folder: the splits in
    ``need`` must be there (``check_data_folder``), the others are read when present."""
    folder = check_data_folder(data, need)
    return {s: read_conll(folder / f"{s}.txt", scheme) for s in SPLITS if s in need or (folder / f"{s}.txt").is_file()}
