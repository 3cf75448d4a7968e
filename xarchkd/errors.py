"""The project's own error types. Every error a user can cause is one of these.

The CLI prints ``XarchkdError`` as one line (no traceback unless ``--debug``).
"""
from __future__ import annotations

import difflib


class XarchkdError(Exception):
    """Base class for every error xarchkd raises on purpose."""


class DataError(XarchkdError):
    """Malformed input data. The message names the file, line and offending text."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, text: str | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        shown = f" (line text: {text!r})" if text is not None else ""
        super().__init__(f"{where}{message}{shown}")
        self.path, self.line, self.text = path, line, text


class ResourceError(XarchkdError):
    """A named resource could not be fetched or found."""


class CacheError(XarchkdError):
    """A teacher-logits cache is stale, corrupt, truncated or built for other inputs."""


# Student checkpoints are checked by the students package (the lower layer); one type serves both. An export folder
# is checked by the runtime package (torch-free, so it cannot derive from XarchkdError). All are one line.
from students.errors import CheckpointError, StudentError  # noqa: E402,F401
from xarchkd_runtime.bundle import ExportError  # noqa: E402,F401

ONE_LINE = (XarchkdError, StudentError, ExportError)    # what the CLI prints as one line


class ConfigError(XarchkdError):
    """Unknown recipe, unknown config key, or a value of the wrong type."""


def did_you_mean(word: str, choices) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
