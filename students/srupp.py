"""SRU++ block ("srupp"): SRU with a small self-attention sub-layer in each layer (``sru.SRUpp``).

``sru.SRUpp`` supports ``bidirectional=True`` itself, so this is one bidirectional stack (no manual
reversed pass). Its attention is full (not causal): each token attends to every real token of its
sentence. Padding is passed as ``mask_pad``, which both excludes pads as attention keys and makes
the recurrence (both directions) carry its state through pads, so real positions never read them.
A sentence with no real token at all would make the attention softmax all ``-inf`` (NaN), so for
such rows position 0 is treated as real; their outputs are zeroed anyway.

The attention and projections are plain torch modules; the recurrence follows ``block_args["impl"]``
exactly as in the SRU block (``students/sru.py``): ``"auto"`` (default) runs ``students/sru_torch.py``
on a GPU (sru's CUDA kernels crash there) and for CPU training, sru's C++ kernel for CPU inference;
``"torch"`` / ``"sru"`` force one. Parameters and state-dict keys are ``sru.SRUpp``'s either way. The
block prints one line on its first forward saying which runs.

``block_args``: ``proj_size`` (attention width, default ``max(8, hidden // 4)``), ``num_heads`` (1;
must divide ``proj_size``), ``attn_dropout`` (0.0), ``layer_norm`` (False), ``impl`` ("auto"). The
``sru`` package is imported only when the block is built.
"""
import sys

import torch
import torch.nn as nn

from .errors import StudentError
from .registry import register_block
from .sru import check_impl
from .sru_torch import describe


class BiSRUpp(nn.Module):
    """Bidirectional SRU++ over ``[B,T,in_dim]``; ``out_dim = 2 * (hidden // 2)``."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, proj_size: int = 0,
                 num_heads: int = 1, attn_dropout: float = 0.0, layer_norm: bool = False, impl: str = "auto"):
        super().__init__()
        self.impl = check_impl("srupp", impl)
        proj_size = proj_size or max(8, hidden // 4)
        if proj_size % num_heads:
            raise StudentError(f"srupp: proj_size {proj_size} is not divisible by num_heads {num_heads}")
        from ._sru import load_sru
        sru = load_sru()
        self.rnn = sru.SRUpp(in_dim, hidden // 2, proj_size, num_layers=layers, dropout=dropout,
                             attn_dropout=attn_dropout, num_heads=num_heads, bidirectional=True,
                             layer_norm=layer_norm)
        from ._sru_cells import use_recurrence
        use_recurrence(self.rnn, impl)
        self.out_dim = 2 * (hidden // 2)
        self._announced = False

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self._announced:
            self._announced = True
            print(f"[students] srupp block: {describe(self.impl, x.device.type)}", file=sys.stderr, flush=True)
        pad = ~mask.bool()
        pad_tb = pad.transpose(0, 1)
        first = pad_tb[:1] & mask.any(1).to(pad_tb.device).unsqueeze(0)    # an all-pad row keeps one "real" key
        pad_tb = torch.cat((first, pad_tb[1:])).contiguous()                # (see above); no in-place op: exports
        out, _, _ = self.rnn(x.transpose(0, 1).contiguous(), mask_pad=pad_tb)
        return out.transpose(0, 1).masked_fill(pad.unsqueeze(-1), 0.0)


@register_block("srupp")
def build(in_dim, cfg):
    a = cfg.block_args
    return BiSRUpp(in_dim, cfg.hidden, cfg.layers, cfg.dropout, proj_size=int(a.get("proj_size", 0)),
                   num_heads=int(a.get("num_heads", 1)), attn_dropout=float(a.get("attn_dropout", 0.0)),
                   layer_norm=bool(a.get("layer_norm", False)), impl=str(a.get("impl", "auto")))
