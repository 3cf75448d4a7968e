"""Text typed by a user (command-line arguments, stdin, a web request) checked before it reaches a tokenizer,
which raises a bare ``TypeError`` on characters that UTF-8 cannot encode (issue 29.7, 29.11)."""
from __future__ import annotations

from ..errors import DataError


def decode_lines(raw: bytes, where: str = "stdin") -> list[str]:
    """``raw``'s lines as text, or ``DataError`` naming the first line with bytes that are not UTF-8:
    ``stdin:3: not valid UTF-8 (byte b'\\xc3' at column 10)``."""
    out = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8 (byte {line[e.start:e.start + 1]!r} at column {e.start + 1})",
                            f"{where}:{lineno}") from None
    return out


def check_argument(text: str, where: str) -> str:
    """``text`` (a command-line argument: Python hands bytes that are not UTF-8 over as lone surrogates), or
    ``DataError`` naming the byte: ``argument 2: not valid UTF-8 (byte b'\\xfc' at column 10)``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:          # a surrogate that stands for no byte
        raise DataError(unencodable(text), where) from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 (byte {raw[e.start:e.start + 1]!r} at column {e.start + 1})",
                        where) from None
    return text


def unencodable(text: str) -> str | None:
    """A one-line reason ``text`` is not Unicode text a tokenizer can take (a lone surrogate, as JSON's
    ``"\\ud800"`` makes), or None when it is."""
    for i, c in enumerate(text):
        if 0xD800 <= ord(c) <= 0xDFFF:
            return f"the text has a lone surrogate U+{ord(c):04X} at character {i + 1}, which is not Unicode text"
    return None
