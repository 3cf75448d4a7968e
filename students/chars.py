"""Spelling features: a small character CNN over each sub-word's letters (``StudentConfig.char_dim``).

A pruned student reads every sub-word it never saw in training as [UNK]; on CoNLL-2003 one test
entity in eight holds such a sub-word. The teacher's tokenizer already spells every id, so the
student can too: ``token_char_ids`` turns the vocabulary into a ``[vocab_size, MAX_CHARS]`` table of
character ids (a buffer saved with the weights), and ``CharEncoder`` embeds those characters, runs one
convolution and max-pools, giving each sub-word a vector from its spelling that exists for seen and
unseen ids alike. It depends on the id alone, so at inference it is a lookup table in all but name.
"""
from __future__ import annotations

import string

import torch
import torch.nn as nn

MAX_CHARS = 12          # a sub-word's first 12 characters (after the begin/continuation marker)
PAD, OTHER, WORD_START, CONTINUES = 0, 1, 2, 3
ALPHABET = string.ascii_lowercase + string.ascii_uppercase + string.digits + string.punctuation
CHAR_ID = {c: i + 4 for i, c in enumerate(ALPHABET)}
NUM_CHARS = len(ALPHABET) + 4


def token_char_ids(tokens: list[str]) -> torch.Tensor:
    """``[len(tokens), MAX_CHARS + 1]`` int16 character ids of each token string: a marker (word start,
    or ``##``/``▁``-style continuation), then its characters (non-ASCII ones share one id), 0-padded."""
    out = torch.zeros(len(tokens), MAX_CHARS + 1, dtype=torch.int16)
    for i, tok in enumerate(tokens):
        tok = tok or ""
        if tok.startswith("##"):
            mark, body = CONTINUES, tok[2:]
        elif tok.startswith(("▁", "Ġ")):
            mark, body = WORD_START, tok[1:]
        else:
            mark, body = WORD_START, tok
        ids = [mark] + [CHAR_ID.get(c, OTHER) for c in body[:MAX_CHARS]]
        out[i, :len(ids)] = torch.tensor(ids, dtype=torch.int16)
    return out


class CharEncoder(nn.Module):
    """Character embedding -> Conv1d (kernel 3) -> ReLU -> max over characters -> Linear to ``out_dim``.
    The output layer starts at zero, so a fresh student with it equals one without it."""

    def __init__(self, char_dim: int, out_dim: int):
        super().__init__()
        self.embed = nn.Embedding(NUM_CHARS, char_dim, padding_idx=PAD)
        self.conv = nn.Conv1d(char_dim, 2 * char_dim, kernel_size=3, padding=1)
        self.out = nn.Linear(2 * char_dim, out_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """``chars`` ``[N, L]`` character ids -> ``[N, out_dim]``."""
        x = self.conv(self.embed(chars).transpose(1, 2)).relu()          # [N, 2*char_dim, L]
        x = x.masked_fill((chars == PAD).unsqueeze(1), 0.0).amax(-1)     # after ReLU, 0 is the floor
        return self.out(x)
