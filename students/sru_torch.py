"""SRU's elementwise recurrence in plain PyTorch, and the rule that picks it or sru's own kernels.

``elementwise_recurrence_torch`` computes exactly what ``sru.ops.elementwise_recurrence_naive`` (sru's
Python loop), its C++ CPU kernel and its CUDA kernels compute, with the same arguments and results,
but as ordinary differentiable torch ops: it runs on any device and dtype, and autograd gives the
backward pass. It needs no ``sru`` import. Per time step it does three fused element-wise ops on a
``[B, directions, d]`` slab (both directions in one loop, the backward one time-reversed); the reset
gate and the output (highway) mix, which only read the stored states, are computed for all steps
at once after the loop.

sru's CUDA kernels fail on current GPUs (``RuntimeError: Caught an unknown exception!``, sru issues
#205/#209), so on CUDA the students always use this; on the CPU ``choose`` picks by measurement
(``benchmarks/sru_impl_speed.py``, see ``AUTO_CPU``): this recurrence for training (sru trains on a
CPU through a slower Python loop), sru's C++ kernel for inference (fp32, no dropout mask).
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor

IMPLS = ("auto", "sru", "torch")

# What "auto" runs on a CPU, from benchmarks/sru_impl_speed.py --threads 1 on the 2-core dev machine (cores
# shared with other jobs), SRU block at the NER recipe's size, median ms: training step (batch 32 x 30)
# torch 165 vs sru 220 (SRU++: 193 vs 240) -> "torch"; inference batch 1 x 24: sru's C++ kernel 1.0 vs
# torch 6.0 (SRU++: 1.3 vs 6.3), and at batch 32 still 41 vs 47 -> "sru".
AUTO_CPU = {"train": "torch", "infer": "sru"}


def choose(impl: str, device_type: str, needs_grad: bool, fp32: bool, has_dropout_mask: bool) -> str:
    """Which recurrence one call runs: ``"torch"`` (this module), ``"sru"`` (sru's own dispatch) or
    ``"sru_kernel"`` (sru's C++ inference kernel, called directly).

    ``impl="auto"``: on any non-CPU device always ``"torch"`` (never sru's CUDA kernels); on the CPU,
    ``AUTO_CPU["train"]`` when a backward pass is needed, else ``AUTO_CPU["infer"]`` where the C++
    kernel can run (fp32 inputs and no dropout mask), else ``"torch"``.
    """
    if impl == "torch":
        return "torch"
    if impl == "sru":
        return "sru"
    if impl != "auto":
        raise ValueError(f"unknown SRU recurrence impl {impl!r}; use one of {', '.join(IMPLS)}")
    if device_type != "cpu":
        return "torch"
    if needs_grad:
        return AUTO_CPU["train"]
    if AUTO_CPU["infer"] == "sru" and fp32 and not has_dropout_mask:
        return "sru_kernel"
    return "torch"


def describe(impl: str, device_type: str) -> str:
    """One line saying what ``impl`` runs on ``device_type`` (printed once per block)."""
    if impl == "torch" or (impl == "auto" and device_type != "cpu"):
        return f"torch recurrence ({device_type})"
    if impl == "sru":
        what = "its CUDA kernels" if device_type == "cuda" else "a Python loop to train, its C++ kernel for inference"
        return f"sru's recurrence ({device_type}: {what})"
    kinds = {"torch": "torch recurrence", "sru": "sru's C++ kernel"}
    return (f"{kinds[AUTO_CPU['train']]} for training, {kinds[AUTO_CPU['infer']]} for inference "
            f"({device_type}, impl=auto)")


def forget_scan(u0: Tensor, u1: Tensor, fw: Tensor, c0: Tensor, pad: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """The loop over time: all states ``C`` and forget gates ``F`` (``[T, ...]``), see ``ForgetScan``."""
    per_step = fw.dim() == u0.dim()
    C = torch.empty_like(u0)
    F = torch.empty_like(u0)
    c = c0
    for t in range(u0.size(0)):
        f = torch.sigmoid(torch.addcmul(u1[t], c, fw[t] if per_step else fw), out=F[t])
        c_new = torch.addcmul(u0[t], c - u0[t], f)
        c = torch.where(pad[t], c, c_new) if pad is not None else c_new
        C[t] = c
    return C, F


def _scan_states(u0: Tensor, u1: Tensor, fw: Tensor, c0: Tensor, pad: Tensor) -> Tensor:
    """``forget_scan``'s states for ``torch.jit.script``: ``fw`` and ``pad`` given per step (``[T, ...]``,
    broadcastable), so the loop has one form. Scripted, its loop over time stays a loop in a traced graph
    (an ONNX ``Loop`` whose trip count is the input's length) instead of being unrolled to the example's."""
    c = c0
    states: List[Tensor] = []
    for t in range(u0.size(0)):
        f = torch.sigmoid(u1[t] + c * fw[t])
        c = torch.where(pad[t], c, u0[t] + (c - u0[t]) * f)
        states.append(c)
    return torch.stack(states)


_scripted_scan = None


def traceable_scan(u0: Tensor, u1: Tensor, fw: Tensor, c0: Tensor, pad: Optional[Tensor]) -> Tensor:
    """All states of ``forget_scan`` through the scripted loop (``_scan_states``, scripted on first use): what
    runs while ``torch.jit`` traces the recurrence, e.g. for ``torch.onnx.export``, so the exported graph is right
    at every length. Equal to ``forget_scan`` (same ops per step)."""
    global _scripted_scan
    if _scripted_scan is None:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)      # torch.jit.script's own deprecation notice
            _scripted_scan = torch.jit.script(_scan_states)
    fws = fw if fw.dim() == u0.dim() else fw.expand_as(u0)
    pads = pad if pad is not None else torch.zeros_like(u0[..., :1], dtype=torch.bool)
    return _scripted_scan(u0, u1, fws, c0, pads)


class ForgetScan(torch.autograd.Function):
    """The sequential core: ``c[t] = u0[t] + (c[t-1] - u0[t]) * sigmoid(u1[t] + fw * c[t-1])``, kept at
    ``c[t-1]`` where ``pad[t]``; returns all states ``[T, ...]``. Its backward is one loop of two
    element-wise ops per step (everything else is computed for all steps at once), much cheaper than
    letting autograd record the forward loop."""

    @staticmethod
    def forward(ctx, u0: Tensor, u1: Tensor, fw: Tensor, c0: Tensor, pad: Optional[Tensor]) -> Tensor:
        C, F = forget_scan(u0, u1, fw, c0, pad)
        ctx.save_for_backward(u0, fw, c0, C, F, pad)
        ctx.per_step = fw.dim() == u0.dim()
        return C

    @staticmethod
    def backward(ctx, gC: Tensor):
        u0, fw, c0, C, F, pad = ctx.saved_tensors
        C_prev = torch.cat((c0.unsqueeze(0), C[:-1]))
        A = (C_prev - u0) * F * (1 - F)            # d c[t] / d u1[t]
        dc_dprev = torch.addcmul(F, A, fw)         # d c[t] / d c[t-1]
        if pad is not None:
            dc_dprev = dc_dprev.masked_fill(pad, 1.0)
        G = torch.empty_like(gC)                   # total gradient reaching each c[t]
        carry = torch.zeros_like(c0)
        gC = gC.contiguous()
        for t in range(gC.size(0) - 1, -1, -1):
            g = torch.add(gC[t], carry, out=G[t])
            carry = g * dc_dprev[t]
        if pad is not None:
            G = G.masked_fill(pad, 0.0)
        du1 = G * A
        du0 = G - G * F
        dfw = du1 * C_prev
        if not ctx.per_step:
            dfw = dfw.sum(dim=(0, 1))
        return du0, du1, dfw, carry, None


def elementwise_recurrence_torch(U: Tensor, x: Tensor, weight_c: Tensor, bias: Tensor, c_init: Optional[Tensor],
                                 activation_type: int, hidden_size: int, bidirectional: bool, has_skip_term: bool,
                                 scale_x: Optional[Tensor] = None, dropout_mask_c: Optional[Tensor] = None,
                                 mask_pad: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """SRU's recurrence over ``[T, B, *]`` inputs (or one step ``[B, *]``); returns ``(h, c_last)``.

    Arguments as in ``sru.ops.elementwise_recurrence_naive``: ``U`` ``[T,B,dirs*d*k]`` the projected
    input (``k`` = 3, or 4 with the skip term taken from ``U``), ``x`` the layer input (the skip term
    when ``k == 3``, times ``scale_x``), ``weight_c`` ``[2*dirs*d]`` (or per step ``[T,B,dirs*d*2]``),
    ``bias`` ``[2*dirs*d]``, ``c_init`` ``[B, dirs*d]``, ``dropout_mask_c`` ``[B, dirs*d]``,
    ``mask_pad`` ``[T,B]`` (nonzero = pad: the state carries through unchanged, the output is 0).
    Half-precision inputs are computed in fp32 (as sru's GPU path does); ``h`` is ``[T,B,dirs*d]``,
    ``c_last`` ``[B,dirs*d]`` (each direction's state after its last step).
    """
    if activation_type not in (0, 1):
        raise ValueError(f"activation_type must be 0 or 1, not {activation_type}")
    one_step = x.dim() == 2
    if one_step:
        U, x = U.unsqueeze(0), x.unsqueeze(0)
        mask_pad = mask_pad.reshape(1, -1) if mask_pad is not None else None
    dt = torch.float64 if U.dtype == torch.float64 else torch.float32
    dirs = 2 if bidirectional else 1
    T, B, d = x.size(0), x.size(1), hidden_size
    k = U.size(-1) // d // dirs

    U = U.to(dt).reshape(T, B, dirs, d, k)
    fb, rb = bias.to(dt).view(2, dirs, d)
    if weight_c.dim() > 1:                      # per-step weights from a custom transform module
        wc = weight_c.to(dt).reshape(T, B, dirs, d, 2)
        fw, rw = wc[..., 0], wc[..., 1]
    else:
        fw, rw = weight_c.to(dt).view(2, dirs, d)
    if not has_skip_term:
        xp = None
    elif k == 3:
        xp = x.to(dt).reshape(T, B, dirs, d)
        xp = xp * scale_x.to(dt) if scale_x is not None else xp
    else:
        xp = U[..., 3]
    c0 = (c_init.to(dt).reshape(B, dirs, d) if c_init is not None
          else U.new_zeros(B, dirs, d))
    pad = mask_pad.to(device=U.device, dtype=torch.bool).reshape(T, B, 1, 1) if mask_pad is not None else None

    C, C_prev, c_last = _cell_states(U, fb, fw, c0, pad, dirs, T, B)
    h = _hidden_states(U, rb, rw, C, C_prev, xp, activation_type, dropout_mask_c, pad, B, dirs, d, dt)
    h = h.reshape(T, B, dirs * d)
    c_last = c_last.reshape(B, dirs * d)
    return (h.squeeze(0), c_last) if one_step else (h, c_last)


def _scan_order(t: Tensor, dirs: int) -> Tensor:
    """Time-reverse the backward direction (dim 2) so one loop runs both directions."""
    if dirs == 1 or t.dim() < 4:
        return t
    return torch.stack((t[:, :, 0], t[:, :, 1].flip(0)), dim=2)


def _cell_states(U: Tensor, fb: Tensor, fw: Tensor, c0: Tensor, pad: Optional[Tensor], dirs: int, T, B):
    """``(C, C_prev, c_last)``: the cell states ``c[t]`` and ``c[t-1]`` (``c0`` first) in time order, and each
    direction's state after its last step, by one forget-gate scan over both directions (in scan order)."""
    u0 = _scan_order(U[..., 0], dirs)
    u1 = _scan_order(U[..., 1] + fb, dirs)
    fws = _scan_order(fw, dirs) if fw.dim() == 4 else None
    pads = (_scan_order(pad.expand(T, B, dirs, 1), dirs) if dirs == 2 else pad) if pad is not None else None

    scan_args = (u0, u1, fw if fws is None else fws, c0, pads)
    if torch.jit.is_tracing():  # a loop, not unrolled at the example's length (torch.onnx.export)
        C = traceable_scan(*scan_args)
    elif torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in scan_args):
        C = ForgetScan.apply(*scan_args)                        # scan order
    else:   # plain ops: no autograd.Function in the way of torch.jit.trace / export
        C = forget_scan(*scan_args)[0]
    c_last = C[-1]
    C_prev = torch.cat((c0.unsqueeze(0), C[:-1]))
    C, C_prev = _scan_order(C, dirs), _scan_order(C_prev, dirs)   # back to time order (the flip is its own inverse)
    return C, C_prev, c_last


def _hidden_states(U: Tensor, rb: Tensor, rw: Tensor, C: Tensor, C_prev: Tensor, xp: Optional[Tensor],
                   activation_type: int, dropout_mask_c: Optional[Tensor], pad: Optional[Tensor], B, dirs: int,
                   d: int, dt) -> Tensor:
    """The outputs ``h`` ``[T,B,dirs,d]``: the reset gate mixes the activated cell state with the skip term
    (when there is one), dropout on the gate, 0 at pads."""
    r = torch.sigmoid(torch.addcmul(U[..., 2] + rb, C_prev, rw))
    g = C if activation_type == 0 else torch.tanh(C)
    if dropout_mask_c is not None:
        r = r * dropout_mask_c.to(dt).view(B, dirs, d)
    h = torch.addcmul(xp, g - xp, r) if xp is not None else g * r
    if pad is not None:
        h = h.masked_fill(pad, 0.0)
    return h
