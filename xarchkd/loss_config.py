"""``LossConfig``: the weights of the objective's terms (``distill/loss.py`` computes it). Plain Python, so that
reading, checking or printing a run config imports no torch."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LossConfig:
    """Weights of each term (0 turns a term off) and the KL temperature."""
    mse: float = 1.0
    ce: float = 1.0
    kl: float = 0.0
    temperature: float = 2.0
    hidden: float = 0.0
    crf: float = 0.0           # NER: CRF negative log-likelihood of the gold tags (needs student.decode="crf")
    name: str = "distill"      # a key of LOSSES
