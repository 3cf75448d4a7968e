"""Student architectures for xarchkd: one file per block, a registry, and the student model.

``import students`` is cheap: it imports neither torch nor the ``sru`` package (which JIT-compiles a
kernel). ``StudentConfig``, ``NUM_SHAPES`` and the errors are plain Python; the model, the registry and
the block files (``BUILTIN_BLOCKS``, each registering its block) are imported on first use of any of
their names, so reading or printing a config never loads torch. ``sru`` itself is imported only when an
SRU or SRU++ block is built (see ``students/_sru.py``).
"""
import importlib

from .config import NUM_SHAPES, StudentConfig
from .errors import CheckpointError, StudentError

BUILTIN_BLOCKS = ("cnn", "lstm", "sru", "srupp")     # modules that register a block when imported
_LAZY = {"StudentModel": "model", "StudentOutput": "model", "register_block": "registry",
         "build_block": "registry", "BLOCKS": "registry"}

__all__ = ["StudentConfig", "NUM_SHAPES", "StudentModel", "StudentOutput", "register_block", "build_block", "BLOCKS",
           "CheckpointError", "StudentError"]


def load_blocks() -> None:
    """Import the built-in block modules (each registers its block); cheap after the first call."""
    for name in BUILTIN_BLOCKS:
        importlib.import_module(f".{name}", __name__)


def __getattr__(name):
    if name in _LAZY:
        load_blocks()
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'students' has no attribute {name!r}")
