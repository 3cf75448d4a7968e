"""Student architectures for xarchkd: one file per block, a registry, and the student model.

``import students`` is cheap: the ``sru`` package (which JIT-compiles a kernel) is imported only
when an SRU or SRU++ block is built (see ``students/_sru.py``).
"""
from . import cnn, lstm, sru, srupp  # noqa: F401  (each registers its block)
from .config import NUM_SHAPES, StudentConfig
from .errors import CheckpointError, StudentError
from .model import StudentModel, StudentOutput
from .registry import BLOCKS, build_block, register_block

__all__ = ["StudentConfig", "NUM_SHAPES", "StudentModel", "StudentOutput", "register_block", "build_block", "BLOCKS",
           "CheckpointError", "StudentError"]
