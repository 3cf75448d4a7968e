"""Where a run writes, and how much (issue 29.8, 29.9): each place is checked before any work -- a folder (or
one that can be made) that this process can write, not a file, on a disk with room for what the run will put
there -- and a disk that fills up while a save is under way is said in one line that names the file and what
of the work is kept, never a traceback after the work is done.

- ``check_writable(path, what)``: ``ConfigError`` when ``path`` is a file, sits under a file, or cannot be
  written (read-only file system, permissions); tested by making and removing a probe file, so it holds for
  root as well.
- ``check_space(needs)``: ``ConfigError`` when the places of one disk need more bytes than it has free.
- ``saving(what, kept)``: a context in which a full disk (``ENOSPC``, ``EDQUOT``, ``EFBIG``; also as
  safetensors reports it) becomes a ``DiskFullError`` naming ``what`` and ``kept``.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, XarchkdError

WRITE_FAILED = -1      # torch.save's writer says only that a write failed, not why
FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "over the disk quota",
        errno.EFBIG: "file too large for the file system's limit",
        WRITE_FAILED: "a write failed (a full disk, or a file-size limit?)"}
_FULL_TEXT = {"os error 28": errno.ENOSPC, "no space left": errno.ENOSPC, "os error 122": errno.EDQUOT,
              "disk quota exceeded": errno.EDQUOT, "code: 28": errno.ENOSPC, "code: 122": errno.EDQUOT,
              "os error 27": errno.EFBIG, "file too large": errno.EFBIG,
              "file write failed": WRITE_FAILED, "pytorchstreamwriter": WRITE_FAILED, "unexpected pos": WRITE_FAILED}


class DiskFullError(XarchkdError):
    """The disk filled up (or a size limit was met) while something was being saved."""


def existing_part(path: str | os.PathLike) -> Path:
    """``path`` itself when it exists, else its nearest existing ancestor (where a new folder would be made)."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | os.PathLike, what: str) -> None:
    """``ConfigError`` unless ``path`` is a folder this process can write in, or one it can make."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} {p}: is a file, not a folder: give a folder (new, or one of yours)")
    base = existing_part(p)
    if not base.is_dir():
        raise ConfigError(f"{what} {p}: {base} is a file, so no folder can be made under it: give another path")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".xarchkd-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e)).lower()
        raise ConfigError(f"{what} {p}: cannot write in {base} ({reason}): give a folder you can write") from None


def free_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the disk that holds ``path`` (or would hold it, once made)."""
    return shutil.disk_usage(existing_part(path)).free


def check_space(needs: list[tuple[str, str | os.PathLike, float]]) -> None:
    """``needs``: ``(what, path, bytes)``. ``ConfigError`` when the places on one disk need more than it has free."""
    disks: dict[int, list] = {}
    for what, path, n in needs:
        base = existing_part(path)
        disks.setdefault(os.stat(base).st_dev, []).append((what, base, n))
    for entries in disks.values():
        need = sum(n for _, _, n in entries)
        free = free_bytes(entries[0][1])
        if need > free:
            parts = ", ".join(f"{what} ~{mb(n)}" for what, _, n in entries if n)
            raise ConfigError(f"not enough disk space: this run needs about {mb(need)} ({parts}) on the disk "
                              f"holding {entries[0][1]}, which has {mb(free)} free: free some space, or point "
                              "--out / XARCHKD_HOME at another disk")


def mb(n: float) -> str:
    """Bytes as a short size (``12 MB``, ``3.4 GB``)."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{max(n, 0) / 1e6:.0f} MB"


def full_disk_errno(e: BaseException) -> int | None:
    """The errno when ``e`` says the disk is full (an ``OSError``, or safetensors' error with the OS's message)."""
    if isinstance(e, OSError) and e.errno in FULL:
        return e.errno
    text = str(e).lower()
    for key, code in _FULL_TEXT.items():
        if key in text:
            return code
    return None


@contextmanager
def saving(what: str | os.PathLike, kept: str = ""):
    """Run a save; a full disk becomes one ``DiskFullError``: what was being saved, why, and ``kept`` (what of the
    work is safe and how to go on)."""
    try:
        yield
    except Exception as e:
        code = full_disk_errno(e)
        if code is None:
            raise
        where = getattr(e, "filename", None) or what
        raise DiskFullError(f"saving {where}: {FULL[code]}" + (f"; {kept}" if kept else "")) from None
