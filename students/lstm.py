"""BiLSTM block ("lstm"): ``torch.nn.LSTM`` over packed sequences, so padding is never read.

``nn.LSTM(in_dim, hidden // 2, layers, bidirectional=True)`` with dropout between layers;
``out_dim = 2 * (hidden // 2)``. Rows must be right-padded (the packing uses each row's length).
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .registry import register_block


class BiLSTM(nn.Module):
    """Bidirectional LSTM over ``[B,T,in_dim]``; pads are skipped by packing and output as zeros."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.rnn = nn.LSTM(in_dim, hidden // 2, num_layers=layers, batch_first=True, bidirectional=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * (hidden // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        lengths = mask.sum(1).clamp(min=1).cpu()     # packing needs >= 1 step; an empty row is zeroed below
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out.masked_fill(~mask.unsqueeze(-1), 0.0)


@register_block("lstm")
def build(in_dim, cfg):
    return BiLSTM(in_dim, cfg.hidden, cfg.layers, cfg.dropout)
