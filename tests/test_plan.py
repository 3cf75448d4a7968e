"""A run says what it will do before it does it (``xarchkd/plan.py``)."""
import xarchkd
from xarchkd.config import apply_overrides
from xarchkd.plan import ner_plan
from xarchkd.recipe import resolve_config

from conftest import tiny


def test_the_plan_names_the_data_teacher_labels_and_student_with_a_time(tmp_path, tiny_teacher, conll_small):
    cfg = resolve_config("bert-lstm-ner", tiny(tmp_path, tiny_teacher, conll_small, **{"student.block": "lstm",
                                                                                      "train.epochs": 2}))
    plan = ner_plan(cfg)
    text, secs = "\n".join(plan.lines), plan.seconds
    assert "300 train / 100 valid / 100 test sentences" in text
    assert f"teacher  {tiny_teacher} as it is" in text
    assert "labels 600 sentences (train + augment)" in text       # the swap copy doubles the rows
    assert "student  lstm, 2 epochs x 600 rows" in text
    assert secs > 0
    twin = ner_plan(apply_overrides(cfg, {"loss.mse": 0.0, "data.transfer_factor": 0.0})).lines
    assert not any(l.startswith("label") for l in twin) and "300 rows (gold labels only)" in "\n".join(twin)


def test_a_run_prints_its_plan_before_any_work(tmp_path, tiny_teacher, conll_small, capsys):
    xarchkd.run("bert-cnn-ner", progress=True, **tiny(tmp_path, tiny_teacher, conll_small, **{"data.train_limit": 20,
                                                                                            "data.eval_limit": 10}))
    out = capsys.readouterr().out
    assert out.index("[xarchkd] plan for bert-cnn-ner") < out.index("total    ~")
    assert "20 train / 100 valid" in out and "labels 40 sentences" in out    # train_limit counts (the data has 300)
