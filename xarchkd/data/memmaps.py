"""Two helpers for arrays on disk that are larger than memory: ``drop_pages`` and ``NpyAppender``.

Pages of a file that a process reads or writes through a memmap count in that process's resident set
(RSS) until the kernel needs them back, so a pass over a 10 GB memmap looks like 10 GB of RSS. Where
a reader moves on through a file (a cache build, an epoch of block-shuffled batches), ``drop_pages``
unmaps the pages it has read (``madvise(MADV_DONTNEED)``): the data stay in the kernel's page cache,
and a later read maps them back from there (or from the disk). Written pages are flushed first, so
nothing is lost.

``NpyAppender`` writes a 1-D ``.npy`` file whose length is not known in advance: rows are appended as
they are made (plain ``write`` calls, never held in memory), and ``close`` puts the final length in the
header, so the file opens with ``np.load(path, mmap_mode="r")`` like any other.
"""
from __future__ import annotations

import io
import mmap
import os
from pathlib import Path

import numpy as np

_PLACEHOLDER = 10 ** 15     # a length with more digits than any real one: the header is written this wide


def drop_pages(*arrays) -> None:
    """Unmap the resident pages of each memmapped array (flushing written ones first); other arrays are left
    alone. The arrays stay usable: their next read faults the pages back in."""
    for a in arrays:
        m = getattr(a, "_mmap", None)
        if m is None or not hasattr(m, "madvise"):
            continue
        try:
            if a.flags.writeable:
                m.flush()
            m.madvise(mmap.MADV_DONTNEED)
        except (ValueError, OSError):     # a closed mapping, or a platform without it: nothing to drop
            pass


def _header(dtype: np.dtype, n: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": False, "shape": (n,)})
    return buf.getvalue()


class NpyAppender:
    """An append-only 1-D ``.npy`` file of ``dtype``: ``append(values)`` writes them at the end, ``close()``
    writes the final length into the header (whose width was reserved at the start)."""

    def __init__(self, path: str | Path, dtype):
        self.path, self.dtype, self.n = Path(path), np.dtype(dtype), 0
        self._head = _header(self.dtype, _PLACEHOLDER)
        self._f = open(self.path, "wb")
        self._f.write(self._head)

    def append(self, values) -> None:
        """Write ``values`` (anything ``np.asarray`` takes) after what is there, cast to the file's dtype."""
        a = np.ascontiguousarray(values, dtype=self.dtype).reshape(-1)
        self._f.write(memoryview(a).cast("B"))
        self.n += len(a)

    def close(self) -> None:
        """Finish the file: its header says how many items were appended."""
        head = _header(self.dtype, self.n)
        if len(head) != len(self._head):        # cannot happen below 10**15 items; a guard, not a path
            raise ValueError(f"{self.path}: header width changed ({len(head)} != {len(self._head)})")
        self._f.seek(0)
        self._f.write(head)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self._f.closed:
            self.close()
