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
"""
from __future__ import annotations

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
    if cfg.block not in BLOCKS:
        close = difflib.get_close_matches(cfg.block, list(BLOCKS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StudentError(f"unknown student block {cfg.block!r}{hint}; known: {', '.join(sorted(BLOCKS))}")
    block = BLOCKS[cfg.block](in_dim, cfg)
    if not isinstance(getattr(block, "out_dim", None), int):
        raise StudentError(f"block {cfg.block!r} has no integer out_dim attribute")
    return block
