"""The student model: embedding -> one registered block -> head, saved and loaded like a Hugging Face model.

- Embedding over the teacher tokenizer's ids. ``token_map`` (a buffer, saved with the weights)
  maps each teacher id to an embedding row, so the table can keep only the sub-words seen in
  training (vocabulary pruning; every other id maps to the [UNK] row). With ``word_shapes`` a
  word-shape embedding (capitalisation, digits; ids from the data side) is *added* to it, like
  BERT's token-type embedding: the block's input width stays ``embed_dim`` (so ``--init-from`` a
  student without shapes still fits), and it starts at zero (a fresh student equals the plain one).
- ``static_dim`` adds a *frozen* feature table over the whole teacher vocabulary (``set_static``: the
  teacher's own view of each sub-word, e.g. its last hidden state for that sub-word alone, reduced by PCA),
  through a trained projection that starts at zero. The table is never pruned nor trained, so a sub-word
  the training data never had reads the same kind of vector as one it had many times.
- Encoder: one registered block (``students/lstm.py``, ``sru.py``, ``srupp.py``, ``cnn.py``, or yours).
- Head: ``ner`` -- a linear tagger (with ``decode="crf"`` also a CRF's tag-transition scores); ``mlm`` -- Linear + GELU + LayerNorm, then an output layer
  tied to the input embedding (logits over embedding rows, plus a bias).
- ``save_pretrained(dir)`` writes ``config.json`` + ``model.safetensors`` atomically;
  ``from_pretrained(dir, block=..., task=...)`` refuses a checkpoint of another architecture.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn as nn

from . import checkpoint
from .config import NUM_SHAPES, StudentConfig
from .errors import CheckpointError, StudentError
from .registry import build_block

TASKS = ("ner", "mlm")
DECODES = ("argmax", "bio", "crf")     # how xarchkd.distill.decode turns a ner student's word logits into tags


class TagTransitions(nn.Module):
    """A linear-chain CRF's scores over ``num_labels`` tags: opening a row with tag j (``start[j]``), tag j after
    tag i (``trans[i, j]``) and closing with tag j (``end[j]``); all start at 0. The student's word logits are the
    CRF's emissions; ``xarchkd.distill.loss`` trains these scores (``loss.crf``) and ``xarchkd.distill.decode``
    decodes with them."""

    def __init__(self, num_labels: int):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(num_labels))
        self.trans = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.end = nn.Parameter(torch.zeros(num_labels))


@dataclass
class StudentOutput:
    """What ``StudentModel.forward`` returns."""
    logits: torch.Tensor     # [B,P,C] at the requested positions ([B,T,C] without positions)
    hidden: torch.Tensor     # encoder states at the same positions, [B,P,out_dim]
    crf: TagTransitions | None = None    # the tag-transition scores of a decode="crf" student


def default_token_map(cfg: StudentConfig) -> torch.Tensor:
    """Identity for ids that have a row; ids past the table (a pruned one) go to the [UNK] row."""
    rows = cfg.kept_vocab or cfg.vocab_size
    unk_row = cfg.unk_id if 0 <= cfg.unk_id < rows else 0
    ids = torch.arange(cfg.vocab_size, dtype=torch.long)
    return torch.where(ids < rows, ids, torch.full_like(ids, unk_row))


class StudentModel(nn.Module):
    """A small student for token tagging (``task="ner"``) or masked-LM (``task="mlm"``); see the module doc."""

    def __init__(self, cfg: StudentConfig):
        super().__init__()
        if cfg.task not in TASKS:
            raise StudentError(f"unknown student task {cfg.task!r} (use 'ner' or 'mlm')")
        if cfg.decode not in DECODES:
            raise StudentError(f"unknown decode {cfg.decode!r} (use one of {DECODES})")
        if cfg.decode != "argmax" and cfg.task != "ner":
            raise StudentError(f"decode={cfg.decode!r} is for ner students (an mlm student predicts tokens)")
        if cfg.static_dim < 0:
            raise StudentError(f"static_dim must be 0 (off) or positive, got {cfg.static_dim}")
        rows = cfg.kept_vocab or cfg.vocab_size
        if not 0 < rows <= cfg.vocab_size:
            raise StudentError(f"kept_vocab {cfg.kept_vocab} must be between 1 and vocab_size {cfg.vocab_size}")
        self.cfg = cfg
        # padding_idx is a row number; it equals pad_id only without pruning (a pruned table's row
        # pad_id is some other token -- with xarchkd's maps, row 0 is [UNK] -- which must keep training).
        # Blocks ignore pad positions anyway, so the pad row's value never matters.
        unpruned = rows == cfg.vocab_size
        self.embed = nn.Embedding(rows, cfg.embed_dim,
                                  padding_idx=cfg.pad_id if unpruned and 0 <= cfg.pad_id < rows else None)
        self.register_buffer("token_map", default_token_map(cfg))
        # zeros without drawing random numbers: a seeded shape student starts exactly as the plain one
        self.shape_embed = (nn.Embedding.from_pretrained(torch.zeros(NUM_SHAPES, cfg.embed_dim), freeze=False)
                            if cfg.word_shapes else None)
        self.static = self.static_proj = None
        if cfg.static_dim:
            self.static = nn.Embedding(cfg.vocab_size, cfg.static_dim).requires_grad_(False)
            self.static_proj = nn.Linear(cfg.static_dim, cfg.embed_dim, bias=False)
            nn.init.zeros_(self.static_proj.weight)      # a fresh student reads as the one without the table
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = build_block(cfg.embed_dim, cfg)
        if cfg.task == "ner":
            self.head = nn.Linear(self.encoder.out_dim, cfg.num_labels)
            self.crf = TagTransitions(cfg.num_labels) if cfg.decode == "crf" else None
        else:
            self.head = nn.Sequential(nn.Linear(self.encoder.out_dim, cfg.embed_dim), nn.GELU(),
                                      nn.LayerNorm(cfg.embed_dim))
            self.mlm_bias = nn.Parameter(torch.zeros(rows))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                positions: torch.Tensor | None = None, shapes: torch.Tensor | None = None) -> StudentOutput:
        """Run ``input_ids``/``attention_mask`` ``[B,T]`` (right-padded); with ``positions`` ``[B,P]``
        (padded with 0) only those positions' states go through the head. ``shapes`` ``[B,T]`` are the
        word-shape ids a ``word_shapes`` student reads (``None``: all 0, "unknown"); others ignore them."""
        mask = attention_mask.bool()
        rows = self.token_map[input_ids]
        x = self.embed(rows)
        if self.shape_embed is not None:
            x = x + self.shape_embed(torch.zeros_like(input_ids) if shapes is None else shapes)
        if self.static is not None:     # by teacher id: no pruning
            x = x + self.static_proj(self.static(input_ids))
        x = self.drop(x)
        h = self.encoder(x, mask)
        if positions is not None:       # a word's state is its first sub-word's
            h = h.gather(1, positions.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        h = self.drop(h)
        if self.cfg.task == "ner":
            logits = self.head(h)
        else:
            logits = self.head(h) @ self.embed.weight.t() + self.mlm_bias
        return StudentOutput(logits, h, getattr(self, "crf", None))

    def num_parameters(self) -> int:
        """Number of parameter elements, frozen ones (``static_dim``'s table) included; the tied MLM output
        layer counted once."""
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def set_vocab(self, token_map: torch.Tensor) -> None:
        """Install a teacher-id -> embedding-row map (vocabulary pruning), ``LongTensor[vocab_size]``."""
        if token_map.shape != self.token_map.shape:
            raise StudentError(f"token_map has shape {tuple(token_map.shape)}, expected {tuple(self.token_map.shape)}")
        if token_map.dtype.is_floating_point or token_map.dtype == torch.bool:
            raise StudentError(f"token_map must hold integer row ids, got {token_map.dtype}")
        if int(token_map.min()) < 0 or int(token_map.max()) >= self.embed.num_embeddings:
            raise StudentError(f"token_map points outside the embedding table (rows 0..{self.embed.num_embeddings - 1})")
        self.token_map.copy_(token_map)

    @torch.no_grad()
    @torch.no_grad()
    def set_static(self, table: torch.Tensor) -> None:
        """Install the frozen per-sub-word feature table ``[vocab_size, static_dim]`` (a student built with
        ``static_dim``; ``xarchkd.teachers.cache.static_table`` makes it from a teacher)."""
        if self.static is None:
            raise StudentError("this student has no static feature table (static_dim=0)")
        if table.shape != self.static.weight.shape:
            raise StudentError(f"static table has shape {tuple(table.shape)}, "
                               f"expected {tuple(self.static.weight.shape)}")
        if not torch.isfinite(table).all():
            raise StudentError("static table has non-finite values")
        self.static.weight.copy_(table)

    @torch.no_grad()
    def init_embeddings(self, matrix: torch.Tensor) -> None:
        """Initialise the embedding table ``[kept, embed_dim]`` (e.g. a PCA of the teacher's input embeddings)."""
        if matrix.shape != self.embed.weight.shape:
            raise StudentError(f"embedding init has shape {tuple(matrix.shape)}, expected {tuple(self.embed.weight.shape)}")
        self.embed.weight.copy_(matrix)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder``, each atomically."""
        checkpoint.write_checkpoint(folder, self.cfg, self.state_dict())

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, block: str | None = None,
                        task: str | None = None) -> "StudentModel":
        """Load a saved student (in eval mode); ``block``/``task``, if given, must match the checkpoint's.

        Every problem (missing files, not a student, another architecture, weights that do not fit,
        a truncated file, an unregistered block) is a ``CheckpointError`` naming the folder.
        """
        cfg = checkpoint.read_config(folder)
        if block is not None and cfg.block != block:
            raise CheckpointError(f"checkpoint at {folder} is a {cfg.block!r} student, expected {block!r}")
        if task is not None and cfg.task != task:
            raise CheckpointError(f"checkpoint at {folder} is a {cfg.task!r} student, expected {task!r}")
        state = checkpoint.read_weights(folder)
        try:
            model = cls(cfg)
        except StudentError as e:
            raise CheckpointError(f"checkpoint at {folder} cannot be rebuilt: {e}") from None
        for name, module in model.named_modules():      # a block may read an older layout of its own weights
            if hasattr(module, "upgrade_state_dict") and module is not model:
                module.upgrade_state_dict(state, f"{name}.")
        checkpoint.check_state_fits(folder, model.state_dict(), state, cfg.block)
        model.load_state_dict(state)
        return model.eval()
