"""Plain English text from reStructuredText, split into sentences and CoNLL-style words.

Used for the unlabeled transfer corpus (Python's documentation sources from Debian's
``python3.11-doc``) and for the MLM corpus. Rule-based on purpose: no extra dependency.

What ``rst_to_text`` keeps: prose paragraphs and list items, one per output line, including the
prose *bodies* of description and admonition directives (``.. function::``, ``.. class::``,
``.. note::``, ``.. versionchanged::`` ...), where most of the library reference's English lives.
What it drops: headings, directive lines and their options, the bodies of every other directive
(code blocks, tables, toctrees, index entries ...), literal blocks after ``::``, doctest blocks,
grid and simple tables, line blocks, comments and link targets. Inline markup is reduced to its
text: ``:func:`~os.path.join``` -> ``join``, ``:pep:`8``` -> ``PEP 8``, ````x```` -> ``x``,
```text <url>`_`` -> ``text``, ``*x*`` -> ``x``, footnote references removed.
"""
from __future__ import annotations

import re

# Directives whose indented body is prose worth keeping (the directive line itself is dropped).
PROSE_DIRECTIVES = frozenset("""
    note warning seealso tip hint important caution attention danger error admonition topic sidebar
    versionadded versionchanged deprecated deprecated-removed impl-detail only container
    function method class attribute data exception decorator decoratormethod classmethod staticmethod
    abstractmethod coroutinefunction coroutinemethod awaitablefunction awaitablemethod module
    describe cmdoption option envvar opcode pdbcommand 2to3fixer
    c:function c:member c:type c:var c:macro c:struct c:data c:union c:enum c:enumerator
""".split())
# Directives whose argument (text on the directive line) is itself prose.
_ARG_IS_PROSE = frozenset("note warning seealso tip hint important caution attention danger error".split())

_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::\s*(.*)$")
_COMMENT = re.compile(r"^\s*\.\.(\s|$)")                      # comments, link targets, footnotes
_OPTION = re.compile(r"^\s+:[\w -]+:")                         # a directive option line
_SECTION = re.compile(r"^([=\-~^\"'`#*+_.:<>])\1{2,}\s*$")       # heading under/overline
_SIMPLE_TABLE = re.compile(r"^=+(\s+=+)+\s*$")
_BULLET = re.compile(r"^([-*+•]|#\.|\d+[.)]|\(\d+\)|[a-zA-Z][.)])\s+")
_FIELD = re.compile(r"^:[\w .-]+:(?=\s|$)\s*")             # ":param x: text" -> "text"

_ROLE = re.compile(r":(?:[\w-]+:)*([\w-]+):`([^`]*)`")
_LITERAL = re.compile(r"``(.+?)``")
_LINK = re.compile(r"`([^`<]*?)\s*(?:<[^`>]*>)?`_{1,2}")        # `text <url>`_ -> text
_DEFAULT_ROLE = re.compile(r"`([^`]+)`")
_FOOTNOTE = re.compile(r"\s*\[(?:#[\w-]*|\d+|\*)\]_")
_STRONG = re.compile(r"\*\*([^*\n]+)\*\*")
_EMPH = re.compile(r"(?<![\w*])\*([^*\s][^*\n]*?)\*(?![\w*])")
_SUBST = re.compile(r"\|(\w[\w -]*)\|")
_ROLE_PREFIX = {"pep": "PEP ", "rfc": "RFC ", "issue": "bpo-", "gh": "gh-"}


def _role(m: re.Match) -> str:
    """Render one interpreted-text role the way Sphinx shows it (minus the link)."""
    role, text = m.group(1), m.group(2)
    shown = re.match(r"^(.*?)\s*<[^<>]*>$", text, re.S)        # explicit title: `title <target>`
    if shown and shown.group(1):
        return shown.group(1)
    text = text.lstrip("!")
    if text.startswith("."):                                    # .name: a relative reference
        text = text[1:]
    if text.startswith("~"):                                    # ~a.b.c shows only the last part
        text = text[1:].rsplit(".", 1)[-1]
    return _ROLE_PREFIX.get(role, "") + text


def inline_text(s: str) -> str:
    """Reduce reST inline markup in one paragraph to plain text."""
    s = _ROLE.sub(_role, s)
    s = _LITERAL.sub(r"\1", s)
    s = _LINK.sub(r"\1", s)
    s = _DEFAULT_ROLE.sub(r"\1", s)
    s = _FOOTNOTE.sub("", s)
    s = _STRONG.sub(r"\1", s)
    s = _EMPH.sub(r"\1", s)
    s = _SUBST.sub(r"\1", s)
    s = s.replace("\\ ", "").replace("\\", "")
    return re.sub(r"\s+", " ", s).strip()


def rst_to_text(src: str) -> str:
    """Strip reST markup; return the prose paragraphs and list items, one per line."""
    out: list[str] = []
    para: list[str] = []
    lines = src.expandtabs(8).splitlines()
    skip_deeper = None      # skipping a block: lines blank or indented deeper than this are dropped
    skip_options = None     # just after a kept directive: its option lines (indented deeper) are dropped
    to_blank = table = continued = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if continued:                                 # directive signature continued with a backslash
            continued = stripped.endswith("\\")
            continue
        if skip_deeper is not None:
            if stripped == "" or indent > skip_deeper:
                continue
            skip_deeper = None
        if skip_options is not None:
            if stripped and indent > skip_options and _OPTION.match(line):
                continue
            skip_options = None
        if to_blank:                                  # skipping up to the next blank line
            if stripped:
                continue
            to_blank = False
        if table:                                     # simple table: ends at a border before a blank line
            table = not (_SIMPLE_TABLE.match(stripped) and not nxt)
            continue
        if stripped == "":
            _flush(para, out)
            continue
        d = _DIRECTIVE.match(line)
        if d:
            _flush(para, out)
            name, arg = d.group(2), d.group(3)
            continued = arg.endswith("\\")
            if name in PROSE_DIRECTIVES:
                skip_options = indent
                if name in _ARG_IS_PROSE and arg:
                    para.append(arg)
            else:
                skip_deeper = indent
            continue
        if _COMMENT.match(line):
            _flush(para, out)
            skip_deeper = indent
            continue
        if _SIMPLE_TABLE.match(stripped):
            _flush(para, out)
            table = True
            continue
        if _SECTION.match(stripped):                  # an underline: the pending one-line para is a title
            if len(para) == 1:
                para.clear()
            _flush(para, out)
            continue
        if _SECTION.match(nxt) and not para and not stripped.startswith(("+", "|")):
            continue                                  # a title line (its underline follows)
        if stripped.startswith((">>>", "$ ")):
            _flush(para, out)                         # doctest and shell sessions
            to_blank = True
            continue
        if stripped.startswith(("+-", "+=", "| ")) or stripped == "|":
            _flush(para, out)                         # grid tables and line blocks
            to_blank = True
            continue
        bullet = _BULLET.match(stripped)
        if bullet:
            _flush(para, out)
            stripped = stripped[bullet.end():]
        stripped = _FIELD.sub("", stripped)
        if stripped.endswith("::"):                   # "Example::" -> "Example:" + literal block
            body = stripped[:-2]
            body = body.rstrip() if body.endswith(" ") or not body else body + ":"
            if body:
                para.append(body)
            _flush(para, out)
            skip_deeper = indent
            continue
        para.append(stripped)
    _flush(para, out)
    return "".join(p + "\n" for p in out)


def _flush(para: list[str], out: list[str]) -> None:
    if para:
        text = inline_text(" ".join(para))
        if len(text.split()) >= 3 and re.search(r"[a-zA-Z]{3}", text):
            out.append(text)
        para.clear()


_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|Mr|Mrs|Ms|Dr|Prof|vs|No|St|Inc|Ltd|Co|Jr|Sr|cf|Fig|Sec|ca)"
                     r"|\b[A-Z](?:\.[A-Z])*)\.$")


def split_sentences(text: str) -> list[str]:
    """Split each line of ``text`` into sentences at ., ! or ? before a capital or digit.

    A split after a common abbreviation ("e.g.", "Mr.", "U.S.", an initial) is undone."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        buf = ""
        for piece in _SENT_END.split(line):
            buf = f"{buf} {piece}" if buf else piece
            if not _ABBREV.search(buf):
                out.append(buf)
                buf = ""
        if buf:
            out.append(buf)
    return out


_WORD = re.compile(r"""
      (?:[A-Za-z]\.){2,}                                  # U.S.  e.g.  i.e.
    | \b(?:Mr|Mrs|Ms|Dr|Prof|vs|St|Inc|Ltd|Corp|Jr|Sr|etc)\.   # CoNLL keeps these with their dot
    | \d+(?:[.,:/]\d+)+                                   # 1,000  3.5  12:30  1/2
    | (?i:n't) | '(?i:s|re|m|ve|ll|d)\b                  # clitics split off as in CoNLL (do n't, it 's)
    | \w+?(?=(?i:n't)\b)                                  # the word before n't ("do" of "don't")
    | \w+(?:[-.'’]\w+)*?(?='(?i:s|re|m|ve|ll|d)\b)       # the word before 's 're ...
    | \w+(?:[-.'’]\w+)*                                   # words, hyphenated words, os.path.join, O'Neill
    | \.\.\.                                              # ellipsis
    | [^\w\s]                                             # any other punctuation, one character each
""", re.X)


def words(sentence: str) -> list[str]:
    """CoNLL-style tokens: punctuation split off words ("word," -> "word", ","), clitics split
    ("don't" -> "do", "n't"; "Python's" -> "Python", "'s"), "U.S.", "1,000" and "os.path" kept whole."""
    return _WORD.findall(sentence)
