"""The one distillation objective, shared by NER and MLM. The whole loss lives in this file.

    loss = mse * MSE(student_logits, teacher_logits)
         + ce  * CE(student_logits, gold)
         + kl  * T^2 * KL(softmax(teacher/T) || softmax(student/T))
         + hidden * MSE(W @ student_hidden, teacher_hidden)        (W: a learned projection)

All terms are averaged over *real* positions only (``mask``): padding never counts.
NER passes dense teacher logits ([N, C], C = tags). MLM passes the teacher's top-k
logits and their vocabulary ids ([N, k] each); the teacher terms then compare the
student's logits gathered at those k ids (a sparse MSE / KL over the top-k set).
Gold labels of -1 mean "no gold label" (teacher-labelled transfer rows): those
positions get no CE. ``distill_loss`` returns the total and each component, for logging.
Users can register their own objective with ``register_loss``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

NO_LABEL = -1


@dataclass
class LossConfig:
    """Weights of each term (0 turns a term off) and the KL temperature."""
    mse: float = 1.0
    ce: float = 1.0
    kl: float = 0.0
    temperature: float = 2.0
    hidden: float = 0.0
    name: str = "distill"      # a key of LOSSES


def distill_loss(student_logits: torch.Tensor, mask: torch.Tensor, cfg: LossConfig,
                 teacher_logits: torch.Tensor | None = None, teacher_indices: torch.Tensor | None = None,
                 gold: torch.Tensor | None = None, student_hidden: torch.Tensor | None = None,
                 teacher_hidden: torch.Tensor | None = None, projection: torch.nn.Module | None = None):
    """Compute the objective. Shapes share leading dims ``[..., ]`` with ``mask`` (bool, True = real).

    student_logits: [..., C]; teacher_logits: [..., C] dense, or [..., k] with teacher_indices [..., k];
    gold: [...] long (-1 = none); student_hidden [..., H] and teacher_hidden [..., D] with projection H->D.
    Returns ``(total, {"mse": ..., "ce": ..., "kl": ..., "hidden": ...})`` (components as floats, detached).
    """
    mask = mask.bool()
    s = student_logits[mask].float()
    total = s.new_zeros(())
    parts: dict[str, float] = {}
    if (cfg.mse or cfg.kl) and teacher_logits is not None:
        t = teacher_logits[mask].float()
        s_t = s if teacher_indices is None else s.gather(-1, teacher_indices[mask].long())
        if cfg.mse:
            term = F.mse_loss(s_t, t) if len(t) else s.new_zeros(())
            total = total + cfg.mse * term
            parts["mse"] = term.item()
        if cfg.kl:
            T = cfg.temperature
            term = (F.kl_div(F.log_softmax(s_t / T, -1), F.log_softmax(t / T, -1), log_target=True,
                             reduction="batchmean") * T * T) if len(t) else s.new_zeros(())
            total = total + cfg.kl * term
            parts["kl"] = term.item()
    if cfg.ce and gold is not None:
        g = gold[mask].long()
        has = g != NO_LABEL
        term = F.cross_entropy(s[has], g[has]) if has.any() else s.new_zeros(())
        total = total + cfg.ce * term
        parts["ce"] = term.item()
    if cfg.hidden and teacher_hidden is not None and student_hidden is not None:
        if projection is None:
            raise ValueError("hidden-state matching needs a projection from student to teacher width")
        term = F.mse_loss(projection(student_hidden[mask].float()), teacher_hidden[mask].float())
        total = total + cfg.hidden * term
        parts["hidden"] = term.item()
    parts["total"] = total.item()
    return total, parts


LOSSES: dict[str, Callable] = {"distill": distill_loss}


def register_loss(name: str):
    """Decorator: make ``fn`` (same signature as ``distill_loss``) selectable as ``LossConfig.name``."""
    def deco(fn):
        LOSSES[name] = fn
        return fn
    return deco


def get_loss(cfg: LossConfig) -> Callable:
    from .errors import ConfigError, did_you_mean
    if cfg.name not in LOSSES:
        raise ConfigError(f"unknown loss {cfg.name!r}{did_you_mean(cfg.name, LOSSES)}; known: {', '.join(LOSSES)}")
    return LOSSES[cfg.name]
