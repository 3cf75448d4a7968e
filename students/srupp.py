"""SRU++ block: SRU with a light self-attention sub-layer per layer (``sru.SRUpp``), bidirectional.

``block_args``: ``proj_size`` (attention width, default hidden // 4), ``num_heads`` (1),
``attn_dropout`` (0.0). Padding is excluded from the recurrence and the attention via ``mask_pad``.
"""
import torch
import torch.nn as nn

from ._sru import load_sru
from .registry import register_block


class BiSRUpp(nn.Module):
    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, proj_size: int = 0,
                 num_heads: int = 1, attn_dropout: float = 0.0):
        super().__init__()
        sru = load_sru()
        self.rnn = sru.SRUpp(in_dim, hidden // 2, proj_size or max(8, hidden // 4), num_layers=layers,
                             dropout=dropout, attn_dropout=attn_dropout, num_heads=num_heads, bidirectional=True)
        self.out_dim = 2 * (hidden // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, _, _ = self.rnn(x.transpose(0, 1).contiguous(), mask_pad=~mask.transpose(0, 1))
        return out.transpose(0, 1) * mask.unsqueeze(-1).to(out.dtype)


@register_block("srupp")
def build(in_dim, cfg):
    a = cfg.block_args
    return BiSRUpp(in_dim, cfg.hidden, cfg.layers, cfg.dropout, int(a.get("proj_size", 0)),
                   int(a.get("num_heads", 1)), float(a.get("attn_dropout", 0.0)))
