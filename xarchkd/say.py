"""``say``: one progress or status line on stderr, flushed at once (the ``[xarchkd] ...`` lines of builds)."""
from __future__ import annotations

import sys


def say(on: bool, msg: str) -> None:
    """Print ``msg`` on stderr, flushed, when ``on``."""
    if on:
        print(msg, file=sys.stderr, flush=True)
