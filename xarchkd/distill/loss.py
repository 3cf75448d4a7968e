"""The one distillation objective, shared by NER and MLM. The whole loss lives in this file.

    loss = mse * MSE(student_logits, teacher_logits)
         + ce  * CE(student_logits, gold)
         + kl  * T^2 * KL(softmax(teacher/T) || softmax(student/T))
         + hidden * MSE(W @ student_hidden, teacher_hidden)        (W: a learned projection)
         + crf * NLL of the gold tag sequence under a linear-chain CRF  (a decode="crf" student's scores)

All terms are averaged over *real* positions only (``mask``): padding never counts.
NER passes dense teacher logits ([N, C], C = tags). MLM passes the teacher's top-k
logits and their vocabulary ids ([N, k] each); the teacher terms then compare the
student's logits gathered at those k ids (a sparse MSE / KL over the top-k set).
Gold labels of -1 mean "no gold label" (teacher-labelled transfer rows): those
positions get no CE, and rows without gold get no CRF term. ``distill_loss`` returns the total and each component, for logging.
Users can register their own objective with ``register_loss``.

Nothing here waits for the device: padding is excluded by masked sums (``torch.where``) divided
by the count of real positions, not by boolean indexing (whose output size the host must read),
and the logged components stay 0-d tensors on the device. The training loop reads them only when
it logs, so a GPU step never stalls on the host.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..loss_config import LossConfig  # noqa: F401  (defined apart so a config is read without torch)

NO_LABEL = -1


def distill_loss(student_logits: torch.Tensor, mask: torch.Tensor, cfg: LossConfig,
                 teacher_logits: torch.Tensor | None = None, teacher_indices: torch.Tensor | None = None,
                 gold: torch.Tensor | None = None, student_hidden: torch.Tensor | None = None,
                 teacher_hidden: torch.Tensor | None = None, projection: torch.nn.Module | None = None,
                 crf: torch.nn.Module | None = None):
    """Compute the objective. Shapes share leading dims ``[..., ]`` with ``mask`` (bool, True = real).

    student_logits: [..., C]; teacher_logits: [..., C] dense, or [..., k] with teacher_indices [..., k];
    gold: [...] long (-1 = none); student_hidden [..., H] and teacher_hidden [..., D] with projection H->D;
    crf: the student's ``TagTransitions`` (``start``, ``trans``, ``end``), with ``[B, P, C]`` word logits.
    Returns ``(total, {"mse": ..., "ce": ..., "kl": ..., "hidden": ..., "total": ...})``: the components
    are detached 0-d float tensors on the logits' device (``float(v)`` or ``v.item()`` reads one; doing
    so waits for the device, so a training loop reads them only when it logs).
    """
    mask = mask.bool()
    m = mask.unsqueeze(-1)
    s = torch.where(m, student_logits.float(), 0.0)          # garbage in the padding never reaches a term
    n = mask.sum().clamp_min(1)                               # real positions (stays on the device)
    total = s.new_zeros(())
    parts: dict[str, torch.Tensor] = {}
    if (cfg.mse or cfg.kl) and teacher_logits is not None:
        t = torch.where(m, teacher_logits.float(), 0.0)
        s_t = s if teacher_indices is None else s.gather(-1, teacher_indices.long())
        if cfg.mse:
            term = torch.where(m, (s_t - t) ** 2, 0.0).sum() / (n * t.shape[-1])
            total = total + cfg.mse * term
            parts["mse"] = term.detach()
        if cfg.kl:
            T = cfg.temperature
            kl = F.kl_div(F.log_softmax(s_t / T, -1), F.log_softmax(t / T, -1), log_target=True, reduction="none")
            term = torch.where(m, kl, 0.0).sum() / n * T * T  # "batchmean" over the real positions
            total = total + cfg.kl * term
            parts["kl"] = term.detach()
    if cfg.ce and gold is not None:
        g = torch.where(mask, gold.long(), NO_LABEL)
        ce = F.cross_entropy(s.reshape(-1, s.shape[-1]), g.reshape(-1), ignore_index=NO_LABEL, reduction="sum")
        term = ce / (g != NO_LABEL).sum().clamp_min(1)       # mean over gold-labelled positions (0 if none)
        total = total + cfg.ce * term
        parts["ce"] = term.detach()
    if cfg.crf and crf is not None and gold is not None:
        term = crf_nll(s, gold, mask, crf)
        total = total + cfg.crf * term
        parts["crf"] = term.detach()
    if cfg.hidden and teacher_hidden is not None and student_hidden is not None:
        if projection is None:
            raise ValueError("hidden-state matching needs a projection from student to teacher width")
        th = teacher_hidden.float()
        diff = projection(torch.where(m, student_hidden.float(), 0.0)) - th
        term = torch.where(m, diff ** 2, 0.0).sum() / (n * th.shape[-1])
        total = total + cfg.hidden * term
        parts["hidden"] = term.detach()
    parts["total"] = total.detach()
    return total, parts


def crf_nll(emissions: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor, crf) -> torch.Tensor:
    """Negative log-likelihood of the gold tag paths under a linear-chain CRF, summed over the rows whose every
    real position has a gold tag and divided by their gold positions (the CE term's scale).

    ``emissions`` ``[B, P, C]``, ``gold``/``mask`` ``[B, P]`` (real positions first in each row); ``crf.start``
    ``[C]``, ``crf.trans`` ``[C, C]`` (row: previous tag), ``crf.end`` ``[C]``. The forward algorithm runs one
    ``[B, C, C]`` log-sum-exp per position; finished rows keep their value, so nothing waits for the host."""
    b, p, c = emissions.shape
    labelled = ((gold >= 0) | ~mask).all(1) & mask.any(1)                  # rows with a full gold path
    g = torch.where(mask & (gold >= 0), gold.long(), 0)
    emit = emissions.gather(-1, g.unsqueeze(-1)).squeeze(-1)               # [B, P] the gold tags' emissions
    gold_score = crf.start[g[:, 0]] + torch.where(mask, emit, 0.0).sum(1)
    if p > 1:
        step = crf.trans[g[:, :-1], g[:, 1:]]                               # [B, P-1]
        gold_score = gold_score + torch.where(mask[:, 1:], step, 0.0).sum(1)
    last = (mask.sum(1) - 1).clamp_min(0)
    gold_score = gold_score + crf.end[g.gather(1, last.unsqueeze(1)).squeeze(1)]
    alpha = crf.start + emissions[:, 0]                                     # [B, C]
    for t in range(1, p):
        nxt = torch.logsumexp(alpha.unsqueeze(2) + crf.trans, dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
    log_z = torch.logsumexp(alpha + crf.end, dim=1)
    nll = torch.where(labelled, log_z - gold_score, 0.0).sum()
    return nll / torch.where(labelled.unsqueeze(1), mask, False).sum().clamp_min(1)


LOSSES: dict[str, Callable] = {"distill": distill_loss}


def register_loss(name: str):
    """Decorator: make ``fn`` (same signature as ``distill_loss``) selectable as ``LossConfig.name``."""
    def deco(fn):
        LOSSES[name] = fn
        return fn
    return deco


def get_loss(cfg: LossConfig) -> Callable:
    from ..errors import ConfigError, did_you_mean
    if cfg.name not in LOSSES:
        raise ConfigError(f"unknown loss {cfg.name!r}{did_you_mean(cfg.name, LOSSES)}; known: {', '.join(LOSSES)}")
    return LOSSES[cfg.name]
