"""The student's configuration: which block, how wide and deep, which head."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import CheckpointError

# Word-shape ids a student with ``word_shapes`` accepts (0 = special token / padding; the data side,
# ``xarchkd.data.ner_data.word_shape``, assigns 1..NUM_SHAPES-1: lower, Capitalised, ALL CAPS, mIxed, digits, other,
# no case: CJK and other scripts without letter case).
NUM_SHAPES = 8

# Options removed because they did not pay (docs/results/README.md, Removed options): a saved
# config that holds one at its "off" value loads as before; one a student was trained with is refused by name.
REMOVED = {"unk_dropout": 0.0, "pool": "first", "char_dim": 0}


@dataclass
class StudentConfig:
    """Everything needed to rebuild a student (saved as ``config.json`` next to its weights)."""

    block: str = "sru"          # registry key: "lstm" | "sru" | "srupp" | "cnn" | a user's block
    task: str = "ner"           # "ner" (token tagging head) | "mlm" (masked-LM head tied to the embedding)
    vocab_size: int = 30522     # size of the teacher tokenizer's vocabulary (ids the model accepts)
    kept_vocab: int = 0         # rows of the embedding table; 0 = vocab_size (no pruning)
    embed_dim: int = 128
    word_shapes: bool = False   # add a word-shape embedding (case, digits) to the sub-word one: an
                                # uncased teacher tokenizer drops capitalisation, this gives it back
    hidden: int = 256           # width of the block stack's output (bidirectional: both directions together)
    layers: int = 2
    dropout: float = 0.1
    static_dim: int = 0         # > 0: a frozen table of the teacher's view of every sub-word of its vocabulary (never
                                # pruned: unseen sub-words keep theirs), ``static_dim`` wide, projected and added; 0 = off
    static_source: str = "hidden"   # what the table holds: the teacher's last hidden state for each sub-word alone
                                # ("hidden", its forward passes) or its input embeddings ("input", no forward pass)
    num_labels: int = 9         # ner only
    labels: list[str] = field(default_factory=list)   # ner tag names, saved with the model
    pad_id: int = 0
    unk_id: int = 100
    block_args: dict = field(default_factory=dict)     # block-specific extras (kernel_size, num_heads, ...)
    decode: str = "argmax"      # ner only: "argmax" per word, "bio" (Viterbi over valid IOB2 sequences), or
                                # "crf" (the same Viterbi plus learned tag-transition scores: a CRF, loss.crf)

    def to_dict(self) -> dict:
        """A JSON-ready copy of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StudentConfig":
        """Build from ``to_dict()`` output; unknown keys raise ``CheckpointError`` naming them."""
        if not isinstance(d, dict):
            raise CheckpointError(f"a student config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if not (k in REMOVED and v == REMOVED[k])}
        used = sorted(k for k in d if k in REMOVED)
        if used:
            raise CheckpointError(f"this student was trained with {used}, options removed since (they did not pay); "
                                  "load it with the xarchkd release that trained it")
        unknown = sorted(set(d) - names)
        if unknown:
            raise CheckpointError(f"unknown student config keys {unknown} (known: {sorted(names)})")
        return cls(**d)
