"""The one place that imports the ``sru`` package -- lazily, and never into a hang.

``import sru`` JIT-compiles a C++ kernel (``sru_cpu``; and tries ``sru_cuda``) into torch's
extensions folder (``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions/<py>_<cu>/``).
torch guards that build with a ``lock`` file; a build killed half-way leaves the file behind and
every later ``import sru`` waits on it forever (sru issue #196). Here our own imports are
serialised with a ``filelock`` (with a timeout), and while we hold it any torch ``lock`` file in
sru's build folders can only be stale, so it is removed with a warning.

``python -m students._sru`` compiles once (``make`` runs it during set-up).
"""
from __future__ import annotations

import os
import sys
import warnings

_SRU = None
EXTENSIONS = ("sru_cpu", "sru_cuda")
LOCK_TIMEOUT_S = 900


def extensions_dir() -> str:
    from torch.utils.cpp_extension import _get_build_directory
    return os.path.dirname(_get_build_directory(EXTENSIONS[0], verbose=False))


def clear_stale_locks(root: str) -> list[str]:
    """Remove torch build ``lock`` files left in sru's build folders; return what was removed."""
    removed = []
    for name in EXTENSIONS:
        lock = os.path.join(root, name, "lock")
        if os.path.exists(lock):
            os.remove(lock)
            removed.append(lock)
            print(f"[students] removed a stale sru build lock {lock} (left by an interrupted compile)",
                  file=sys.stderr)
    return removed


def load_sru():
    """Return the ``sru`` module, compiling its CPU kernel on first use (~40 s, once per environment)."""
    global _SRU
    if _SRU is not None:
        return _SRU
    from filelock import FileLock, Timeout
    root = extensions_dir()
    os.makedirs(root, exist_ok=True)
    try:
        with FileLock(os.path.join(root, "students-sru.lock"), timeout=LOCK_TIMEOUT_S):
            clear_stale_locks(root)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*CUDA kernels of SRU was unsuccessful.*")
                import sru
    except Timeout:
        raise RuntimeError(f"waited {LOCK_TIMEOUT_S}s for another process compiling sru in {root}; "
                           f"if none is running, delete {os.path.join(root, 'students-sru.lock')}") from None
    # On CPU, training runs sru's Python loop and it warns on every call; say it once instead.
    warnings.filterwarnings("ignore", message="Running SRU on CPU with grad_enabled=True.*")
    _SRU = sru
    return sru


if __name__ == "__main__":
    mod = load_sru()
    print(f"sru {getattr(mod, '__version__', '')} ready (kernels in {extensions_dir()})")
