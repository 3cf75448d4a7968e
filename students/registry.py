"""The block registry: every student block is a builder ``f(in_dim, cfg) -> nn.Module``.

A block module has ``out_dim`` and ``forward(x [B,T,D], mask [B,T] bool, True = real) -> [B,T,out_dim]``,
and must ignore padding: outputs at real positions may not change when more padding is appended.
Register your own with ``@register_block("name")``; ``StudentConfig(block="name")`` then uses it.
"""
from __future__ import annotations

import difflib
from typing import Callable

import torch.nn as nn

from .errors import StudentError

BLOCKS: dict[str, Callable[..., nn.Module]] = {}


def register_block(name: str):
    """Decorator: register a block builder under ``name``."""
    def deco(fn):
        BLOCKS[name] = fn
        return fn
    return deco


def build_block(in_dim: int, cfg) -> nn.Module:
    if cfg.block not in BLOCKS:
        close = difflib.get_close_matches(cfg.block, BLOCKS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StudentError(f"unknown student block {cfg.block!r}{hint}; known: {', '.join(sorted(BLOCKS))}")
    block = BLOCKS[cfg.block](in_dim, cfg)
    if not hasattr(block, "out_dim"):
        raise StudentError(f"block {cfg.block!r} has no out_dim attribute")
    return block
