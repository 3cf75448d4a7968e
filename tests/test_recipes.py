"""Every shipped NER recipe runs as shipped: its own student, loss, decode, schedule and transfer sources (the
``-news`` recipes' Reuters newswire and names gazetteer included, fetched once into $XARCHKD_HOME). Only what makes
it small is set: the tiny teacher (not fine-tuned), a 300-sentence CoNLL-2003 folder cut to 20 train / 10 eval
sentences, one epoch."""
import json

import pytest

import xarchkd
from xarchkd.config import from_toml
from xarchkd.recipe import recipes

NER = sorted(name for name, r in recipes().items() if r.config.task == "ner")


def test_the_ner_recipes_are_the_ones_the_readme_names():
    assert {"bert-lstm-ner", "bert-sru-ner", "bert-srupp-ner", "bert-cnn-ner", "bert-lstm-ner-news",
            "bert-lstm-ner-demo"} <= set(NER)


@pytest.mark.slow
@pytest.mark.parametrize("name", NER)
def test_a_shipped_recipe_runs_as_shipped_on_a_slice(name, tmp_path, tiny_teacher, conll_small):
    shipped = recipes()[name].config
    res = xarchkd.run(name, progress=False, out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
                      **{"teacher.name": str(tiny_teacher), "teacher.finetune": False, "data.name": str(conll_small),
                         "data.train_limit": 20, "data.eval_limit": 10, "train.epochs": 1, "train.min_steps": 0})
    ran = from_toml((tmp_path / "run" / "config.toml").read_text())
    assert ran.data.transfer == shipped.data.transfer and ran.data.augment == shipped.data.augment
    assert ran.student == shipped.student and ran.loss == shipped.loss
    student = json.loads((tmp_path / "run" / "student" / "config.json").read_text())
    assert student["hidden"] == shipped.student.hidden and student["block"] == shipped.student.block
    assert 0.0 <= res["student"]["f1"] <= 1.0 and res["student"]["params"] > 0
    kd = bool(shipped.loss.mse or shipped.loss.kl)
    factor = sum(src.weight for src in shipped.data.transfer) * shipped.data.transfer_factor if kd else 0
    assert res["train_rows"] >= 20 * (1 + factor)    # train + each source's sentences (2 x |train| of newswire)
