"""One run at a time in a run folder (issue 29.4): a file lock beside ``OUT`` (``.OUT.run.lock``), held by the
main process for the whole run and released when it ends or dies; a second run into the same folder is
refused at once instead of overwriting the first's results and interleaving its metrics. A new run refused
before its first checkpoint removes the folder it made."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError


def lock_path(out: Path) -> Path:
    """The lock file of run folder ``out`` (beside it, so a refused run makes no folder)."""
    out = Path(out).resolve()
    return out.with_name(f".{out.name}.run.lock")


@contextmanager
def run_lock(out: Path):
    """Hold ``out``'s lock (the main process of a launch only: ``RANK`` unset or 0), or ``ConfigError``."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    from filelock import FileLock, Timeout
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"{out}: another run is writing into this folder now (lock {path}); wait for it to "
                          "end, or give this run another --out") from None
    new = not Path(out).exists()
    try:
        yield
    except Exception as e:
        _drop_if_refused(Path(out), new, e)
        raise
    finally:
        lock.release()


def _drop_if_refused(out: Path, new: bool, e: Exception) -> None:
    """A run this call started in a new folder, refused (an ``XarchkdError``/``StudentError``, e.g. bad data the
    preflight cannot see) before its first checkpoint: remove the folder it made, which holds only its config."""
    from students import StudentError
    from .errors import XarchkdError
    if new and isinstance(e, (XarchkdError, StudentError)) and not (out / "checkpoints").exists():
        import shutil
        shutil.rmtree(out, ignore_errors=True)
