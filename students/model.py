"""The student model: embedding -> block stack -> head, saved and loaded like a Hugging Face model.

- Embedding over the teacher tokenizer's ids. ``token_map`` (a buffer) maps each teacher id to an
  embedding row, so the table can keep only the sub-words seen in training (vocabulary pruning;
  every other id maps to the [UNK] row).
- Encoder: one registered block (``students/lstm.py``, ``sru.py``, ``srupp.py``, ``cnn.py``, or yours).
- Head: ``ner`` -- a linear tagger; ``mlm`` -- a transform plus an output layer tied to the input
  embedding (logits over embedding rows).
- ``save_pretrained(dir)`` writes ``config.json`` + ``model.safetensors`` atomically;
  ``from_pretrained(dir, block=..., task=...)`` refuses a checkpoint of another architecture.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from .config import StudentConfig
from .errors import CheckpointError
from .registry import build_block

FORMAT, FORMAT_VERSION = "xarchkd-student", 1


@dataclass
class StudentOutput:
    logits: torch.Tensor     # [B,P,C] at the requested positions ([B,T,C] without positions)
    hidden: torch.Tensor     # encoder states at the same positions, [B,P,out_dim]


class StudentModel(nn.Module):
    def __init__(self, cfg: StudentConfig):
        super().__init__()
        self.cfg = cfg
        rows = cfg.kept_vocab or cfg.vocab_size
        self.embed = nn.Embedding(rows, cfg.embed_dim)
        self.register_buffer("token_map", torch.arange(cfg.vocab_size, dtype=torch.long).clamp(max=rows - 1))
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = build_block(cfg.embed_dim, cfg)
        if cfg.task == "ner":
            self.head = nn.Linear(self.encoder.out_dim, cfg.num_labels)
        elif cfg.task == "mlm":
            self.head = nn.Sequential(nn.Linear(self.encoder.out_dim, cfg.embed_dim), nn.GELU(),
                                      nn.LayerNorm(cfg.embed_dim))
            self.mlm_bias = nn.Parameter(torch.zeros(rows))
        else:
            raise CheckpointError(f"unknown student task {cfg.task!r} (use 'ner' or 'mlm')")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                positions: torch.Tensor | None = None) -> StudentOutput:
        mask = attention_mask.bool()
        x = self.drop(self.embed(self.token_map[input_ids]))
        h = self.encoder(x, mask)
        if positions is not None:
            h = h.gather(1, positions.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        h = self.drop(h)
        if self.cfg.task == "ner":
            logits = self.head(h)
        else:
            logits = self.head(h) @ self.embed.weight.t() + self.mlm_bias
        return StudentOutput(logits, h)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_vocab(self, token_map: torch.Tensor) -> None:
        """Install a teacher-id -> embedding-row map (vocabulary pruning)."""
        if token_map.shape != self.token_map.shape:
            raise ValueError(f"token_map must have {self.token_map.shape[0]} entries")
        if int(token_map.max()) >= self.embed.num_embeddings:
            raise ValueError("token_map points past the embedding table")
        self.token_map.copy_(token_map)

    @torch.no_grad()
    def init_embeddings(self, matrix: torch.Tensor) -> None:
        """Initialise the embedding table (e.g. from a PCA of the teacher's input embeddings)."""
        if matrix.shape != self.embed.weight.shape:
            raise ValueError(f"embedding init has shape {tuple(matrix.shape)}, expected {tuple(self.embed.weight.shape)}")
        self.embed.weight.copy_(matrix)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` (each via a temp file + atomic rename)."""
        from safetensors.torch import save_file
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        tmp = folder / "model.safetensors.tmp"
        save_file(state, str(tmp), metadata={"format": "pt", "xarchkd": FORMAT})
        os.replace(tmp, folder / "model.safetensors")
        cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.cfg.to_dict()}
        (folder / "config.json.tmp").write_text(json.dumps(cfg, indent=2))
        os.replace(folder / "config.json.tmp", folder / "config.json")

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, block: str | None = None,
                        task: str | None = None) -> "StudentModel":
        """Load a saved student; ``block``/``task`` (if given) must match the checkpoint's."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        folder = Path(folder)
        cfg_file, weights = folder / "config.json", folder / "model.safetensors"
        if not cfg_file.is_file() or not weights.is_file():
            raise CheckpointError(f"{folder}: not a student checkpoint (needs config.json and model.safetensors)")
        try:
            raw = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{cfg_file}: corrupt config ({e})") from None
        if raw.pop("format", None) != FORMAT:
            raise CheckpointError(f"{folder}: config.json is not an xarchkd student (a teacher folder?)")
        raw.pop("format_version", None)
        cfg = StudentConfig.from_dict(raw)
        if block is not None and cfg.block != block:
            raise CheckpointError(f"checkpoint at {folder} is a {cfg.block!r} student, expected {block!r}")
        if task is not None and cfg.task != task:
            raise CheckpointError(f"checkpoint at {folder} is a {cfg.task!r} student, expected {task!r}")
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{weights}: unreadable or truncated weights ({e})") from None
        model = cls(cfg)
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
        if missing or unexpected or shapes:
            raise CheckpointError(f"{weights} does not fit a {cfg.block!r} student: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}, shape mismatch {shapes[:3]}")
        model.load_state_dict(state)
        model.eval()
        return model
