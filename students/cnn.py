"""Dilated gated CNN block ("cnn", ID-CNN style): residual dilated 1-D convolutions with GLU and LayerNorm.

A Linear maps ``in_dim`` to ``hidden``; then each of ``layers`` blocks does: zero the pad positions,
Conv1d(hidden -> 2*hidden, kernel ``k``, dilation cycling 1, 2, 4, 1, 2, 4, ...), GLU gate,
dropout, residual add, LayerNorm. Zeroing before every convolution means padding never leaks into
real positions (the pads look exactly like the convolution's own zero padding).
``out_dim = hidden``. ``block_args``: ``kernel_size`` (3, odd), ``dilations`` ([1, 2, 4]).
"""
import torch
import torch.nn as nn

from .errors import StudentError
from .registry import register_block


class GatedCNN(nn.Module):
    """Stack of residual dilated gated convolutions over ``[B,T,in_dim]``."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, kernel_size: int = 3,
                 dilations=(1, 2, 4)):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise StudentError(f"cnn: kernel_size must be odd (keeps the length), got {kernel_size}")
        self.inp = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(layers):
            d = int(dilations[i % len(dilations)])
            self.convs.append(nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=d, padding=d * (kernel_size // 2)))
            self.norms.append(nn.LayerNorm(hidden))
        self.drop = nn.Dropout(dropout)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        h = self.inp(x)
        for conv, norm in zip(self.convs, self.norms):
            g = nn.functional.glu(conv((h * m).transpose(1, 2)), dim=1).transpose(1, 2)
            h = norm(h + self.drop(g))
        return h * m


@register_block("cnn")
def build(in_dim, cfg):
    a = cfg.block_args
    return GatedCNN(in_dim, cfg.hidden, cfg.layers, cfg.dropout, int(a.get("kernel_size", 3)),
                    tuple(a.get("dilations", (1, 2, 4))))
