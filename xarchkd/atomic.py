"""Publishing atomically: a file or a folder is written under a temporary name beside its place, then
put in place by one rename, so a reader (or a run after a crash) sees the old version or the whole new
one, never half of it.

- ``write_text(path, text)`` / ``write_json(path, obj)``: a file, flushed to disk before the rename.
- ``publish_dir(work, out)``: a finished folder ``work`` replaces ``out`` (removed first if there).
- ``write_dir(out, save)``: ``save(tmp)`` fills a temporary folder beside ``out``, which is then published.

(``students/checkpoint.py`` has its own small writer: ``students`` imports nothing from ``xarchkd``.)
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``<path>.tmp``: flushed and fsynced, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> None:
    """``write_text`` of ``obj`` as JSON."""
    write_text(path, json.dumps(obj, indent=indent))


def publish_dir(work: str | os.PathLike, out: str | os.PathLike) -> None:
    """Put the finished folder ``work`` in place as ``out`` by one rename (an old ``out`` is removed first;
    ``work`` and ``out`` must be on one filesystem, e.g. beside each other)."""
    work, out = Path(work), Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(work, out)


def write_dir(out: str | os.PathLike, save: Callable[[Path], None]) -> None:
    """Fill a fresh ``<out>.tmp`` folder with ``save(tmp)``, then publish it as ``out`` (``publish_dir``)."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save(tmp)
    publish_dir(tmp, out)
