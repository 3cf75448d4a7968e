"""SRU block: a bidirectional Simple Recurrent Unit stack (the ``sru`` package, imported lazily).

On a CPU, inference uses sru's C++ kernel; training runs a Python loop over time steps
(slower than nn.LSTM's fused kernel). On a GPU, sru uses its CUDA kernels.
"""
import torch
import torch.nn as nn

from ._sru import load_sru
from .registry import register_block


class BiSRU(nn.Module):
    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, **kw):
        super().__init__()
        sru = load_sru()
        self.rnn = sru.SRU(in_dim, hidden // 2, num_layers=layers, dropout=dropout, bidirectional=True,
                           layer_norm=bool(kw.get("layer_norm", False)), rescale=bool(kw.get("rescale", False)))
        self.out_dim = 2 * (hidden // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.transpose(0, 1).contiguous(), mask_pad=~mask.transpose(0, 1))
        return out.transpose(0, 1) * mask.unsqueeze(-1).to(out.dtype)


@register_block("sru")
def build(in_dim, cfg):
    return BiSRU(in_dim, cfg.hidden, cfg.layers, cfg.dropout, **cfg.block_args)
