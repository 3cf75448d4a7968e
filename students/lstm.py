"""BiLSTM block ("lstm"): one ``torch.nn.LSTM`` layer after another over packed sequences, so padding is
never read, with ``nn.Dropout`` between layers; ``out_dim = 2 * (hidden // 2)``. Rows must be
right-padded (the packing uses each row's length).

Why not ``nn.LSTM(num_layers=layers, dropout=...)``: on a GPU its between-layer dropout runs inside
cuDNN, whose random state is made once per process and never saved or restored with torch's RNG
(pytorch/pytorch#104697), so a killed-then-resumed run drew other dropout masks than an unbroken one
and ended with other weights. ``nn.Dropout`` draws from torch's generator, which a checkpoint restores.
On the CPU the two are the same computation (same weights, same masks, same outputs), and a state dict
saved by the single-module block (``rnn.weight_ih_l1_reverse``) loads into this one
(``rnn.1.weight_ih_l0_reverse``).
"""
import re

import torch
import torch.nn as nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .errors import StudentError
from .registry import register_block

_ONE_MODULE_KEY = re.compile(r"rnn\.((?:weight|bias)_(?:ih|hh))_l(\d+)(_reverse)?$")


class BiLSTM(nn.Module):
    """Bidirectional LSTM over ``[B,T,in_dim]``; pads are skipped by packing and output as zeros."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        if layers < 1:
            raise StudentError(f"lstm: layers must be >= 1, got {layers}")
        width = hidden // 2
        self.rnn = nn.ModuleList(nn.LSTM(in_dim if i == 0 else 2 * width, width, batch_first=True,
                                         bidirectional=True) for i in range(layers))
        self.dropout = nn.Dropout(dropout if layers > 1 else 0.0)
        self.out_dim = 2 * width
        self.register_load_state_dict_pre_hook(_upgrade_hook)

    def upgrade_state_dict(self, state: dict, prefix: str = "") -> None:
        """Rename, in place, the keys of a state dict saved by the one-``nn.LSTM`` block to this block's
        (``StudentModel.from_pretrained`` calls it before it checks that the weights fit)."""
        upgrade_keys(state, prefix)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        lengths = mask.sum(1).clamp(min=1).cpu()     # packing needs >= 1 step; an empty row is zeroed below
        h = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        for i, rnn in enumerate(self.rnn):
            if i:
                h = PackedSequence(self.dropout(h.data), h.batch_sizes, h.sorted_indices, h.unsorted_indices)
            h, _ = rnn(h)
        out, _ = pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
        return out.masked_fill(~mask.unsqueeze(-1), 0.0)


def _upgrade_hook(module, state, prefix, *_):      # module-level, so the block still pickles
    upgrade_keys(state, prefix)


def upgrade_keys(state: dict, prefix: str) -> None:
    """``{prefix}rnn.weight_ih_l1_reverse`` (one ``nn.LSTM``) -> ``{prefix}rnn.1.weight_ih_l0_reverse``, in place."""
    for key in [k for k in state if k.startswith(prefix)]:
        m = _ONE_MODULE_KEY.fullmatch(key[len(prefix):])
        if m:
            state[f"{prefix}rnn.{m.group(2)}.{m.group(1)}_l0{m.group(3) or ''}"] = state.pop(key)


@register_block("lstm")
def build(in_dim, cfg):
    return BiLSTM(in_dim, cfg.hidden, cfg.layers, cfg.dropout)
