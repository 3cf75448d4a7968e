"""The masked-LM recipes: an MLM-adapted BERT-family teacher distilled into each student block.

The teacher is ``minilm-l6`` MLM-adapted on the text corpus (Python documentation + CoNLL-2003
sentences; reused by fingerprint). Students get a masked-LM head tied to their input embedding and
learn from the teacher's top-k logits at the (static) masked positions plus CE on the true token.
"""
from __future__ import annotations

from students import StudentConfig
from xarchkd.config import DataConfig, RunConfig, TeacherConfig, TrainConfig
from xarchkd.loss_config import LossConfig
from xarchkd.recipe import Recipe


def distill_mlm(cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """``xarchkd.tasks.mlm.distill_mlm``, imported when a recipe runs (listing recipes imports no torch)."""
    from xarchkd.tasks.mlm import distill_mlm as run
    return run(cfg, resume=resume, progress=progress)

STUDENTS = {
    "lstm": StudentConfig(block="lstm", task="mlm", embed_dim=128, hidden=384, layers=2, dropout=0.1),
    "sru": StudentConfig(block="sru", task="mlm", embed_dim=128, hidden=384, layers=2, dropout=0.1),
    "cnn": StudentConfig(block="cnn", task="mlm", embed_dim=128, hidden=256, layers=4, dropout=0.1),
}


def _mlm(block: str) -> RunConfig:
    return RunConfig(recipe=f"bert-{block}-mlm", task="mlm", prune_vocab=False, student=STUDENTS[block],
                     teacher=TeacherConfig(name="minilm-l6", finetune=True, epochs=1, lr=1e-4, batch_size=32,
                                           min_steps=0),
                     data=DataConfig(name="pydoc-text+conll2003", max_length=128),
                     loss=LossConfig(mse=1.0, ce=1.0),
                     train=TrainConfig(epochs=3, batch_size=32, lr=2e-3, min_steps=0))   # 3 epochs: ~30-60 min, 2 cores


RECIPES = {c.recipe: Recipe(c.recipe, c, distill_mlm, f"distil an MLM-adapted teacher into a {b} masked-LM student")
           for b in STUDENTS for c in [_mlm(b)]}
