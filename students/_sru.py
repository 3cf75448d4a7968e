"""The one place that imports the ``sru`` package -- lazily, and never into a hang.

``import sru`` JIT-compiles two C++ extensions, ``sru_cpu`` (the CPU inference kernel) and
``sru_cuda`` (the CUDA kernels, or a dummy stand-in on machines without CUDA), into torch's
extensions folder: ``$TORCH_EXTENSIONS_DIR`` if set, else ``~/.cache/torch_extensions/<py>_<cpu|cuXXX>/``.
torch guards each build with a ``lock`` file in the extension's folder; a build killed half-way
leaves that file behind and every later ``import sru`` waits on it forever (sru issue #196).

So ``load_sru()`` serialises our own imports with a ``filelock`` (``students-sru.lock`` in the
extensions folder, with a timeout), and while holding it treats any torch ``lock`` file in sru's
build folders as stale: it removes it and prints a one-line warning. (A process that runs
``import sru`` without going through here is not covered by our lock.)

The students use sru's modules and its CPU inference kernel, but by default never its CUDA kernels,
which fail on current GPUs (see ``students/sru_torch.py``); sru still compiles them on a CUDA machine
(about a minute, once) because ``import sru`` always does.

``python -m students._sru`` compiles once (``make setup`` runs it; it takes about 40 s).
"""
from __future__ import annotations

import os
import sys
import warnings

from .errors import StudentError

EXTENSIONS = ("sru_cpu", "sru_cuda")    # the names sru passes to torch.utils.cpp_extension.load(name=...)
LOCK_NAME = "students-sru.lock"
LOCK_TIMEOUT_S = 900                    # a first compile on a slow, busy machine can take minutes

_SRU = None


def extensions_dir() -> str:
    """The folder torch builds extensions into (each extension gets a sub-folder named after it)."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root:
        return root
    from torch.utils.cpp_extension import _get_build_directory   # knows the <py>_<cpu|cuXXX> suffix
    return os.path.dirname(_get_build_directory(EXTENSIONS[0], verbose=False))


def clear_stale_locks(root: str) -> list[str]:
    """Remove torch's build ``lock`` files from sru's build folders under ``root``; return the paths removed.

    Only call this while holding our own lock: then no other (cooperating) build can be running.
    """
    removed = []
    for name in EXTENSIONS:
        lock = os.path.join(root, name, "lock")
        if os.path.exists(lock):
            os.remove(lock)
            removed.append(lock)
            print(f"[students] warning: removed a stale sru build lock {lock} (left by an interrupted compile)",
                  file=sys.stderr)
    return removed


def load_sru():
    """Return the ``sru`` module, compiling its kernels on first use (about 40 s, once per environment).

    Raises ``StudentError`` if another process holds the compile lock for longer than
    ``LOCK_TIMEOUT_S`` or if the compile fails.
    """
    global _SRU
    if _SRU is not None:
        return _SRU
    from filelock import FileLock, Timeout
    root = extensions_dir()
    os.makedirs(root, exist_ok=True)
    lock_path = os.path.join(root, LOCK_NAME)
    try:
        with FileLock(lock_path, timeout=LOCK_TIMEOUT_S):
            clear_stale_locks(root)
            with warnings.catch_warnings():
                # Without CUDA, sru always fails to build its CUDA kernels and says so at length.
                warnings.filterwarnings("ignore", message=".*CUDA kernels of SRU was unsuccessful.*")
                import sru
    except Timeout:
        raise StudentError(f"waited {LOCK_TIMEOUT_S}s for another process compiling sru in {root}; "
                           f"if none is running, delete {lock_path}") from None
    except (ImportError, OSError, RuntimeError) as e:
        raise StudentError(f"could not import or compile the sru package (kernels in {root}): {e}") from e
    # Training on a CPU runs sru's Python recurrence, which warns on every call; that is expected here.
    warnings.filterwarnings("ignore", message="Running SRU on CPU with grad_enabled=True.*")
    _SRU = sru
    return sru


if __name__ == "__main__":
    mod = load_sru()
    print(f"sru {getattr(mod, '__version__', '')} ready (kernels in {extensions_dir()})")
