"""sru's layer cells with a switchable recurrence (imported only once ``sru`` is needed).

``use_recurrence(rnn, impl)`` turns every cell of an ``sru.SRU`` or ``sru.SRUpp`` into a subclass that
overrides only ``apply_recurrence``, the one method through which sru's cells reach its kernels:
projections, attention, layer norm, dropout masks and so parameters and state-dict keys stay sru's
own, so checkpoints load into either implementation. Each call then runs what
``sru_torch.choose`` picks: the plain-torch recurrence, sru's C++ inference kernel, or sru's own
dispatch (its Python loop on the CPU, its CUDA kernels on a GPU).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ._sru import load_sru
from .sru_torch import IMPLS, choose, elementwise_recurrence_torch

_sru = load_sru()
from sru.ops import elementwise_recurrence_inference  # noqa: E402  (after load_sru compiled the kernels)


class _SwitchableRecurrence:
    """Mixin for sru's cells: ``apply_recurrence`` dispatches on ``self.recurrence_impl`` per call."""

    recurrence_impl = "auto"

    def apply_recurrence(self, U: Tensor, V: Tensor, residual: Tensor, c0: Tensor, scale_val: Optional[Tensor],
                         mask_c: Optional[Tensor], mask_pad: Optional[Tensor]):
        needs_grad = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (U, V, residual, c0, self.bias))
        fp32 = all(t.dtype == torch.float32 for t in (U, V, residual, c0, self.bias))
        which = choose(self.recurrence_impl, U.device.type, needs_grad, fp32, mask_c is not None)
        args = (U, residual, V, self.bias, c0, self.activation_type, self.hidden_size, self.bidirectional,
                self.has_skip_term, scale_val, mask_c, mask_pad)
        if which == "torch":
            return elementwise_recurrence_torch(*args)
        if which == "sru_kernel":
            return elementwise_recurrence_inference(*args)
        return super().apply_recurrence(U, V, residual, c0, scale_val, mask_c, mask_pad)


class SwitchableSRUCell(_SwitchableRecurrence, _sru.SRUCell):
    """``sru.SRUCell`` whose recurrence follows ``recurrence_impl``."""


class SwitchableSRUppCell(_SwitchableRecurrence, _sru.SRUppCell):
    """``sru.SRUppCell`` whose recurrence follows ``recurrence_impl``."""


_SWITCHABLE = {_sru.SRUCell: SwitchableSRUCell, _sru.SRUppCell: SwitchableSRUppCell,
               SwitchableSRUCell: SwitchableSRUCell, SwitchableSRUppCell: SwitchableSRUppCell}


def use_recurrence(rnn: torch.nn.Module, impl: str) -> None:
    """Make every cell of ``rnn`` (an ``sru.SRU`` or ``sru.SRUpp``) run the ``impl`` recurrence
    (``"auto"``, ``"sru"`` or ``"torch"``); can be called again to switch. Parameters are untouched."""
    if impl not in IMPLS:
        raise ValueError(f"unknown SRU recurrence impl {impl!r}; use one of {', '.join(IMPLS)}")
    for cell in rnn.rnn_lst:
        cell.__class__ = _SWITCHABLE[type(cell)]
        cell.recurrence_impl = impl
