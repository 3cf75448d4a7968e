"""The block registry: every student block is built by a function ``f(in_dim, cfg) -> nn.Module``.

The contract for a block module:

- attribute ``out_dim: int``;
- ``forward(x, mask)`` with ``x`` ``[B,T,in_dim]`` and ``mask`` ``[B,T]`` bool (True = real token;
  batches are right-padded: the real tokens of a row come first) returning ``[B,T,out_dim]``;
- padding is ignored: outputs at real positions may not change when more padding is appended
  (a bidirectional recurrence must not read the pads).

Register your own with ``@register_block("name")`` (a later registration under the same name
replaces the earlier one); ``StudentConfig(block="name")`` then builds it, and a saved student of
that block loads once the block is registered again.

A block's ``block_args`` are whatever its builder reads from ``cfg.block_args``: ``build_block`` notes
the keys a builder reads and refuses the others, naming the ones it reads (a misspelt or foreign key
is an error, never silently ignored).
"""
from __future__ import annotations

import copy
import difflib
from typing import Callable

import torch.nn as nn

from .errors import StudentError

BLOCKS: dict[str, Callable[..., nn.Module]] = {}


def register_block(name: str):
    """Decorator: register a block builder ``f(in_dim, cfg) -> nn.Module`` under ``name``."""
    def deco(fn):
        BLOCKS[name] = fn
        return fn
    return deco


def build_block(in_dim: int, cfg) -> nn.Module:
    """Build the block named by ``cfg.block`` for inputs of width ``in_dim``.

    Raises ``StudentError`` for an unknown name (with a "did you mean" hint) or a block without ``out_dim``.
    """
    import students
    students.load_blocks()          # the built-in blocks register themselves when first imported
    if cfg.block not in BLOCKS:
        close = difflib.get_close_matches(cfg.block, list(BLOCKS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StudentError(f"unknown student block {cfg.block!r}{hint}; known: {', '.join(sorted(BLOCKS))}")
    args = _ReadArgs(getattr(cfg, "block_args", None) or {})
    seen = copy.copy(cfg)
    seen.block_args = args
    block = BLOCKS[cfg.block](in_dim, seen)
    unknown = sorted(k for k in dict.keys(args) if k not in args.read)
    if unknown:
        known = ", ".join(sorted(args.read)) or "none"
        raise StudentError(f"block {cfg.block!r} does not take block_args {unknown} (it reads: {known})")
    if not isinstance(getattr(block, "out_dim", None), int):
        raise StudentError(f"block {cfg.block!r} has no integer out_dim attribute")
    return block


class _ReadArgs(dict):
    """``block_args`` as a builder sees them, noting in ``read`` every key it looks up (iterating or
    unpacking the dict counts as reading every key)."""

    def __init__(self, d):
        super().__init__(d)
        self.read: set = set()

    def get(self, k, default=None):
        self.read.add(k)
        return super().get(k, default)

    def __getitem__(self, k):
        self.read.add(k)
        return super().__getitem__(k)

    def __contains__(self, k):
        self.read.add(k)
        return super().__contains__(k)

    def setdefault(self, k, default=None):
        self.read.add(k)
        return super().setdefault(k, default)

    def pop(self, k, *default):
        self.read.add(k)
        return super().pop(k, *default)

    def __iter__(self):
        self.read.update(super().keys())
        return super().__iter__()

    def keys(self):
        self.read.update(super().keys())
        return super().keys()

    def items(self):
        self.read.update(super().keys())
        return super().items()

    def values(self):
        self.read.update(super().keys())
        return super().values()
