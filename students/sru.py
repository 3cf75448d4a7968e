"""SRU block ("sru"): a bidirectional Simple Recurrent Unit stack from the ``sru`` package.

``sru`` is imported (and, the first time, compiled) only when this block is built, via ``_sru.load_sru``.
Padding is passed to sru as ``mask_pad``: at padded steps the recurrence carries its state through
unchanged and outputs zero, so neither direction reads the pads.

Speed: on a CPU, inference uses sru's C++ kernel, but training (grad enabled) runs sru's
pure-Python loop over time steps, much slower than ``nn.LSTM``'s fused kernel. On a GPU sru uses
its CUDA kernels. ``block_args``: ``layer_norm`` (False), ``rescale`` (False), ``highway_bias`` (0.0).
"""
import torch
import torch.nn as nn

from .registry import register_block


class BiSRU(nn.Module):
    """Bidirectional SRU over ``[B,T,in_dim]``; ``out_dim = 2 * (hidden // 2)``."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, layer_norm: bool = False,
                 rescale: bool = False, highway_bias: float = 0.0):
        super().__init__()
        from ._sru import load_sru
        sru = load_sru()
        self.rnn = sru.SRU(in_dim, hidden // 2, num_layers=layers, dropout=dropout, bidirectional=True,
                           layer_norm=layer_norm, rescale=rescale, highway_bias=highway_bias)
        self.out_dim = 2 * (hidden // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pad = ~mask.bool()
        out, _ = self.rnn(x.transpose(0, 1).contiguous(), mask_pad=pad.transpose(0, 1).contiguous())
        return out.transpose(0, 1).masked_fill(pad.unsqueeze(-1), 0.0)


@register_block("sru")
def build(in_dim, cfg):
    a = cfg.block_args
    return BiSRU(in_dim, cfg.hidden, cfg.layers, cfg.dropout, layer_norm=bool(a.get("layer_norm", False)),
                 rescale=bool(a.get("rescale", False)), highway_bias=float(a.get("highway_bias", 0.0)))
