"""SRU block ("sru"): a bidirectional Simple Recurrent Unit stack (``sru.SRU``'s modules and parameters).

``sru`` is imported (and, the first time, compiled) only when this block is built, via ``_sru.load_sru``.
Padding is passed to sru as ``mask_pad``: at padded steps the recurrence carries its state through
unchanged and outputs zero, so neither direction reads the pads.

The recurrence (the per-time-step part; the projections are plain matrix products) has two
implementations, chosen by ``block_args["impl"]``: ``"torch"`` -- ``students/sru_torch.py``, plain
differentiable torch ops, any device and dtype; ``"sru"`` -- sru's own (on a CPU a Python loop for
training and a C++ kernel for inference; on a GPU its CUDA kernels, which crash on current GPUs:
sru issues #205/#209); ``"auto"`` (default) -- ``torch`` on a GPU, and on a CPU whichever measured
faster (``benchmarks/sru_impl_speed.py``): ``torch`` for training (several times faster than sru's
loop), sru's C++ kernel for inference. Parameters and state-dict keys are sru's in every case, so a
checkpoint loads under any ``impl``. The block prints one line on its first forward saying which runs.

Other ``block_args``: ``layer_norm`` (False), ``rescale`` (False), ``highway_bias`` (0.0).
"""
import sys

import torch
import torch.nn as nn

from .errors import StudentError
from .registry import register_block
from .sru_torch import IMPLS, describe


def check_impl(block: str, impl: str) -> str:
    """``impl`` if it is a known recurrence implementation, else a ``StudentError``."""
    if impl not in IMPLS:
        raise StudentError(f"{block}: block_args impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    return impl


class BiSRU(nn.Module):
    """Bidirectional SRU over ``[B,T,in_dim]``; ``out_dim = 2 * (hidden // 2)``."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, layer_norm: bool = False,
                 rescale: bool = False, highway_bias: float = 0.0, impl: str = "auto"):
        super().__init__()
        self.impl = check_impl("sru", impl)
        from ._sru import load_sru
        sru = load_sru()
        self.rnn = sru.SRU(in_dim, hidden // 2, num_layers=layers, dropout=dropout, bidirectional=True,
                           layer_norm=layer_norm, rescale=rescale, highway_bias=highway_bias)
        from ._sru_cells import use_recurrence
        use_recurrence(self.rnn, impl)
        self.out_dim = 2 * (hidden // 2)
        self._announced = False

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self._announced:
            self._announced = True
            print(f"[students] sru block: {describe(self.impl, x.device.type)}", file=sys.stderr, flush=True)
        pad = ~mask.bool()
        out, _ = self.rnn(x.transpose(0, 1).contiguous(), mask_pad=pad.transpose(0, 1).contiguous())
        return out.transpose(0, 1).masked_fill(pad.unsqueeze(-1), 0.0)


@register_block("sru")
def build(in_dim, cfg):
    a = cfg.block_args
    return BiSRU(in_dim, cfg.hidden, cfg.layers, cfg.dropout, layer_norm=bool(a.get("layer_norm", False)),
                 rescale=bool(a.get("rescale", False)), highway_bias=float(a.get("highway_bias", 0.0)),
                 impl=str(a.get("impl", "auto")))
