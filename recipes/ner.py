"""The NER recipes: a BERT-family teacher distilled into each student block.

Each recipe is data -- a ``RunConfig`` -- run by ``xarchkd.tasks.ner.distill_ner``. The ``-nokd``
twins train the same student on gold labels only (mse = kl = 0), same epochs, so the
gain from distillation is measurable.

The distilling recipes, the defaults for any data folder, also train on a teacher-labelled transfer set: one
entity-swapped copy of the training sentences (``data.transfer="augment"``, factor 1, each entity span swapped for
another training span of its type with probability 0.5, no other edits), so the teacher labels sentences that have no
gold labels. Add your own unlabelled in-domain text with ``--set 'data.transfer=augment+corpus:PATH*2'``.

The ``-news`` presets (``bert-lstm-ner-news``, ``bert-sru-ner-news``) are the CoNLL-2003 recipes: half of the person
and place swaps take a name from the English ``names`` gazetteer, and the teacher also labels 2 x |train| sentences
of Reuters-21578 newswire (``data.transfer="augment+reuters-21578*2"``), with the embedding table capped at the most
frequent sub-words (``max_vocab``) to stay within 4.4M parameters. Both are English news, so only the presets use them.
"""
from __future__ import annotations

import copy

from students import StudentConfig
from xarchkd.config import DataConfig, RunConfig, TrainConfig
from xarchkd.data.transfer import ENTITY_SWAPS, SPAN_SWAPS
from xarchkd.loss_config import LossConfig
from xarchkd.recipe import Recipe


def distill_ner(cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """``xarchkd.tasks.ner.distill_ner``, imported when a recipe runs (listing recipes imports no torch)."""
    from xarchkd.tasks.ner import distill_ner as run
    return run(cfg, resume=resume, progress=progress)

# Student sizes chosen to stay under 4.4M parameters (1/25 of BERT-base) with the pruned vocabulary.
# word_shapes: the students read each word's shape (case, digits), which the uncased teacher tokenizer
# throws away; on CoNLL-2003 that is worth several F1 points (benchmarks/RESULTS.md has the ablation).
# decode="bio": tags come from a BIO-constrained Viterbi over the student's word logits (RESULTS §9:
# +0.3 valid / +0.7 test F1 for the BiLSTM distilled from the mpnet teacher, at no training cost).
# static_dim: a frozen table of the teacher's view of every sub-word of its vocabulary (teachers/static.py),
# so sub-words the training data never had are not all [UNK] (RESULTS §9, fourth round: BiLSTM +0.4 valid at
# two seeds, recall of entities with an unseen sub-word 0.81 -> 0.87; the SRU with 4 layers +1.2 valid). The
# -nokd twins read a table of the same width made from the teacher's input embeddings (static_source="input": no
# forward pass), so the twin is the same student without what the teacher computes; the table lifts the no-KD
# BiLSTM by +0.5 valid / +1.0 test (RESULTS §9, fifth round), so the KD gain is measured against that stronger twin.
# NEWS: the presets for English news like CoNLL-2003 (``bert-lstm-ner-news``, ``bert-sru-ner-news``): half of the person
# and place swaps draw from the English names gazetteer, and the teacher also labels 2 x |train| sentences of
# Reuters-21578 newswire (RESULTS §9, sixth round: BiLSTM +1.2 test / +0.7 valid, SRU +0.7 / +0.1 on CoNLL-2003), with
# the embedding rows capped (max_vocab) to stay within 4.4M parameters. Both sources are English and news-specific,
# so the default recipes, which any data folder gets, swap spans from the training set only and read no other text.
NEWS = {"lstm": 15800, "sru": 15650}
STUDENTS = {
    "lstm": StudentConfig(block="lstm", embed_dim=128, hidden=384, layers=2, dropout=0.2, word_shapes=True,
                          static_dim=32, decode="bio"),
    "sru": StudentConfig(block="sru", embed_dim=128, hidden=384, layers=4, dropout=0.2, word_shapes=True,
                         static_dim=28, decode="bio"),
    "srupp": StudentConfig(block="srupp", embed_dim=128, hidden=384, layers=2, dropout=0.2, word_shapes=True,
                           block_args={"proj_size": 128, "num_heads": 1}, decode="bio"),
    "cnn": StudentConfig(block="cnn", embed_dim=128, hidden=256, layers=4, dropout=0.2, word_shapes=True,
                         block_args={"kernel_size": 3}, decode="bio"),
}


def _ner(block: str, kd: bool = True, news: bool = False) -> RunConfig:
    name = f"bert-{block}-ner" + ("-news" if news else "") + ("" if kd else "-nokd")
    loss = LossConfig(mse=1.0, ce=1.0) if kd else LossConfig(mse=0.0, ce=1.0, kl=0.0)
    if not kd:
        data = DataConfig()
    elif news:
        data = DataConfig(transfer="augment+reuters-21578*2", transfer_factor=1.0, augment=copy.deepcopy(ENTITY_SWAPS))
    else:
        data = DataConfig(transfer="augment", transfer_factor=1.0, augment=copy.deepcopy(SPAN_SWAPS))
    student = copy.deepcopy(STUDENTS[block])
    if not kd and student.static_dim:   # the twin's table: the teacher's input embeddings, no forward pass
        student.static_source = "input"
    return RunConfig(recipe=name, task="ner", student=student, loss=loss, data=data,
                     max_vocab=NEWS[block] if news else 0, train=TrainConfig(epochs=10, batch_size=32, lr=2e-3))


RECIPES = {}
for _block in STUDENTS:
    for _kd, _news in ((True, False), (False, False)) + (((True, True),) if _block in NEWS else ()):
        _cfg = _ner(_block, _kd, _news)
        RECIPES[_cfg.recipe] = Recipe(
            _cfg.recipe, _cfg, distill_ner,
            f"{'distil' if _kd else 'train (no KD, gold labels only)'} a {_block} NER student"
            + (" from the fine-tuned BERT-family teacher" if _kd else "")
            + (" + English newswire and names (for news like CoNLL-2003)" if _news else ""))
