"""Plain English text from reStructuredText and newswire, split into sentences and CoNLL-style words.

Used for the unlabeled transfer corpora (Python's documentation sources from Debian's
``python3.11-doc``; Reuters-21578 newswire, ``newswire_sentences``) and for the MLM corpus.
Rule-based on purpose: no extra dependency.

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
from dataclasses import dataclass, field

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


@dataclass
class _Reading:
    """Where ``rst_to_text`` is: what it is skipping, the paragraph it gathers and the paragraphs kept."""
    out: list = field(default_factory=list)
    para: list = field(default_factory=list)
    skip_deeper: int | None = None     # skipping a block: lines blank or indented deeper than this are dropped
    skip_options: int | None = None    # just after a kept directive: its option lines (indented deeper) are dropped
    to_blank: bool = False             # skipping up to the next blank line
    table: bool = False                # inside a simple table
    continued: bool = False            # a directive signature continued with a backslash

    def flush(self) -> None:
        _flush(self.para, self.out)


def rst_to_text(src: str) -> str:
    """Strip reST markup; return the prose paragraphs and list items, one per line."""
    r = _Reading()
    lines = src.expandtabs(8).splitlines()
    for i, line in enumerate(lines):
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not _skipped(r, line, nxt):
            _read(r, line, nxt)
    r.flush()
    return "".join(p + "\n" for p in r.out)


def _skipped(r: _Reading, line: str, nxt: str) -> bool:
    """Whether ``line`` is part of what is being skipped (and whether that goes on after it)."""
    stripped = line.strip()
    indent = len(line) - len(line.lstrip())
    if r.continued:                                   # directive signature continued with a backslash
        r.continued = stripped.endswith("\\")
        return True
    if r.skip_deeper is not None:
        if stripped == "" or indent > r.skip_deeper:
            return True
        r.skip_deeper = None
    if r.skip_options is not None:
        if stripped and indent > r.skip_options and _OPTION.match(line):
            return True
        r.skip_options = None
    if r.to_blank:                                    # skipping up to the next blank line
        if stripped:
            return True
        r.to_blank = False
    if r.table:                                       # simple table: ends at a border before a blank line
        r.table = not (_SIMPLE_TABLE.match(stripped) and not nxt)
        return True
    return False


def _read(r: _Reading, line: str, nxt: str) -> None:
    """One line that nothing skips: a blank, the start of something to skip, a heading, or prose."""
    stripped = line.strip()
    indent = len(line) - len(line.lstrip())
    d = _DIRECTIVE.match(line)
    if stripped == "" or d or _COMMENT.match(line) or _SIMPLE_TABLE.match(stripped):
        r.flush()
        if d:
            name, arg = d.group(2), d.group(3)
            r.continued = arg.endswith("\\")
            if name in PROSE_DIRECTIVES:
                r.skip_options = indent
                if name in _ARG_IS_PROSE and arg:
                    r.para.append(arg)
            else:
                r.skip_deeper = indent
        elif stripped and _COMMENT.match(line):
            r.skip_deeper = indent
        elif stripped:
            r.table = True
        return
    if _SECTION.match(stripped):                      # an underline: the pending one-line para is a title
        if len(r.para) == 1:
            r.para.clear()
        r.flush()
        return
    if _SECTION.match(nxt) and not r.para and not stripped.startswith(("+", "|")):
        return                                        # a title line (its underline follows)
    if stripped.startswith((">>>", "$ ", "+-", "+=", "| ")) or stripped == "|":
        r.flush()                                     # doctest and shell sessions, grid tables and line blocks
        r.to_blank = True
        return
    bullet = _BULLET.match(stripped)
    if bullet:
        r.flush()
        stripped = stripped[bullet.end():]
    stripped = _FIELD.sub("", stripped)
    if stripped.endswith("::"):                       # "Example::" -> "Example:" + literal block
        body = stripped[:-2]
        body = body.rstrip() if body.endswith(" ") or not body else body + ":"
        if body:
            r.para.append(body)
        r.flush()
        r.skip_deeper = indent
        return
    r.para.append(stripped)


def _flush(para: list[str], out: list[str]) -> None:
    if para:
        text = inline_text(" ".join(para))
        if len(text.split()) >= 3 and re.search(r"[a-zA-Z]{3}", text):
            out.append(text)
        para.clear()


def _char_class(keep) -> str:
    """A regex character class body of the code points of the Basic Multilingual Plane that ``keep`` accepts."""
    out, start = [], None
    for c in range(0x10001):
        if c < 0x10000 and keep(chr(c)):
            start = c if start is None else start
        elif start is not None:
            out.append(re.escape(chr(start)) + ("-" + re.escape(chr(c - 1)) if c - 1 > start else ""))
            start = None
    return "".join(out)


_UPPER = _char_class(str.isupper)          # capitals of every script: A-Z, Ä, Д, Δ, ...
_SENT_END = re.compile(rf"(?<=[.!?])[\"')\]»]*\s+(?=[\"'(\[«„]?[{_UPPER}0-9])")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|Mr|Mrs|Ms|Dr|Prof|vs|No|St|Inc|Ltd|Co|Jr|Sr|cf|Fig|Sec|ca)"
                     rf"|\b[{_UPPER}](?:\.[{_UPPER}])*)\.$")


def split_sentences(text: str) -> list[str]:
    """Split each line of ``text`` into sentences at ., ! or ? before a capital (of any script) or digit.

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


WORD_RE = _WORD      # the word split (exports record its pattern: ``xarchkd_runtime`` splits text the same way)


def words(sentence: str) -> list[str]:
    """CoNLL-style tokens: punctuation split off words ("word," -> "word", ","), clitics split
    ("don't" -> "do", "n't"; "Python's" -> "Python", "'s"), "U.S.", "1,000" and "os.path" kept whole."""
    return _WORD.findall(sentence)


_SIGN_OFF = re.compile(r"\s*REUTER\s*$")


def newswire_sentences(body: str, min_words: int = 5, max_words: int = 60) -> list[str]:
    """The prose sentences of one Reuters-21578 story body: its paragraphs (a line indented by 3+ spaces starts
    one; wrapped lines are joined), less the "REUTER" sign-off and tables -- paragraphs that do not end a
    sentence or whose tokens are mostly without a lower-case letter ("Shr 30 cts vs 25 cts", "Oilseed 15.0
    (7.9)") -- split into sentences of ``min_words..max_words`` CoNLL-style words."""
    body = _SIGN_OFF.sub("", body.replace("\x03", "").strip())
    out = []
    for para in re.split(r"\n\s{3,}", body):
        p = " ".join(para.split())
        toks = p.split()
        if not p.endswith((".", '"', "'")) or len(toks) < min_words or \
                sum(1 for t in toks if re.search("[a-z]", t)) < 0.6 * len(toks):
            continue
        out += [s for s in split_sentences(p) if min_words <= len(words(s)) <= max_words]
    return out
