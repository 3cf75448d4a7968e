"""Plain English text from reStructuredText, split into sentences and CoNLL-style words.

Used for the unlabeled transfer corpus (Python's documentation sources from Debian's
``python3.11-doc``) and for the MLM corpus. Rule-based on purpose: no extra dependency.
"""
from __future__ import annotations

import re

_ROLE = re.compile(r":[\w:+-]+:`(?:[^`<]*<)?([^`>]*)>?`")      # :func:`name` / :ref:`text <target>` -> name/text
_LITERAL = re.compile(r"``([^`]*)``")
_LINK = re.compile(r"`([^`<]+?)\s*(?:<[^>]*>)?`_{1,2}")          # `text <url>`_ -> text
_EMPH = re.compile(r"\*{1,2}([^*\n]+)\*{1,2}")
_SECTION = re.compile(r"^([=\-~^\"'`#*+_.:]){3,}\s*$")
_DIRECTIVE = re.compile(r"^\s*\.\.\s")


def rst_to_text(src: str) -> str:
    """Strip reST markup and keep prose paragraphs (one paragraph per line)."""
    out, para = [], []
    skip_indent = None            # inside a directive/code block: skip lines indented deeper than this
    lines = src.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if stripped == "" or indent > skip_indent:
                continue
            skip_indent = None
        if _DIRECTIVE.match(line) or stripped.startswith(">>>") or stripped.startswith("|"):
            _flush(para, out)
            skip_indent = indent
            continue
        if _SECTION.match(stripped) or stripped.startswith(("+-", "==", "--")):
            _flush(para, out)
            continue
        if stripped == "":
            _flush(para, out)
            continue
        if stripped.endswith("::"):   # "Example::" introduces an indented literal block
            para.append(stripped[:-2].rstrip(":") + ("." if not stripped[:-2].endswith((".", ":")) else ""))
            _flush(para, out)
            skip_indent = indent
            continue
        para.append(stripped)
    _flush(para, out)
    return "\n".join(out) + "\n"


def _flush(para, out):
    if para:
        text = " ".join(para)
        text = _ROLE.sub(r"\1", text)
        text = _LITERAL.sub(r"\1", text)
        text = _LINK.sub(r"\1", text)
        text = _EMPH.sub(r"\1", text)
        text = re.sub(r"\s+", " ", text).strip()
        if len(text.split()) >= 3 and re.search(r"[a-zA-Z]{3}", text):
            out.append(text)
        para.clear()


_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_ABBREV = ("e.g.", "i.e.", "etc.", "Mr.", "Dr.", "vs.", "U.S.", "No.", "St.")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at ., ! or ? followed by a capital (common abbreviations kept)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        buf = ""
        for piece in _SENT_END.split(line):
            buf = f"{buf} {piece}".strip() if buf else piece
            if not buf.endswith(_ABBREV):
                out.append(buf)
                buf = ""
        if buf:
            out.append(buf)
    return out


_WORD = re.compile(r"(?:[A-Z]\.){2,}|\w+(?:[-'’.]\w+)*|[^\w\s]")


def words(sentence: str) -> list[str]:
    """CoNLL-style tokens: punctuation split off words ('word,' -> 'word', ','); 'U.S.' stays whole."""
    return _WORD.findall(sentence)
