"""A run says what it will do before it does it (``xarchkd/preflight.py``: its plan)."""
import xarchkd
from xarchkd.config import apply_overrides
from xarchkd.preflight import ner_plan
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
    assert "sub-words alone for the student's frozen table" in text      # the recipe's static_dim table
    assert secs > 0
    twin = ner_plan(apply_overrides(cfg, {"loss.mse": 0.0, "data.transfer_factor": 0.0})).lines
    assert not any(l.startswith("label") for l in twin) and "300 rows (gold labels only)" in "\n".join(twin)
    for off in ({"student.static_source": "input"}, {"student.static_dim": 0}):   # the twins' table; none
        assert not any(l.startswith("table") for l in ner_plan(apply_overrides(cfg, off)).lines)


def test_a_run_prints_its_plan_before_any_work(tmp_path, tiny_teacher, conll_small, capsys):
    xarchkd.run("bert-cnn-ner", progress=True, **tiny(tmp_path, tiny_teacher, conll_small, **{"data.train_limit": 20,
                                                                                            "data.eval_limit": 10}))
    out = capsys.readouterr().out
    assert out.index("[xarchkd] plan for bert-cnn-ner") < out.index("total    ~")
    assert "20 train / 100 valid" in out and "labels 40 sentences" in out    # train_limit counts (the data has 300)


def test_train_limit_slices_the_teachers_fine_tune_too(tmp_path, tiny_teacher, conll_small):
    """``data.train_limit`` is what teacher and student learn from: the fine-tune's steps and fingerprint follow it
    (a teacher fine-tuned on the whole split would know labels the student's run was told to leave out)."""
    from xarchkd.teachers.finetune import ner_teacher_target
    whole = ner_teacher_target(tiny_teacher, conll_small, batch_size=10)
    some = ner_teacher_target(tiny_teacher, conll_small, batch_size=10, train_limit=20)
    assert (whole["sentences"], whole["steps"]) == (300, 30) and (some["sentences"], some["steps"]) == (20, 2)
    assert some["fp"] != whole["fp"] and some["out"] != whole["out"]
    cfg = resolve_config("bert-lstm-ner", tiny(tmp_path, tiny_teacher, conll_small, **{
        "teacher.finetune": True, "teacher.min_steps": 0, "teacher.batch_size": 10, "data.train_limit": 20}))
    plan = ner_plan(cfg)
    assert "2 steps" in "\n".join(plan.lines)
    assert 0 < plan.finetune_seconds < plan.seconds          # the fine-tune's share, which later runs reuse
    assert ner_plan(apply_overrides(cfg, {"teacher.finetune": False})).finetune_seconds == 0


def test_a_teachers_cost_follows_its_compute_not_its_word_table(tiny_teacher):
    """multilingual-e5-small has 5.2x minilm-l6's parameters, but 96M of them are a 250k-row word table that a
    forward pass only looks up: its plan says ~2x for labelling and ~3.8x for a fine-tune step (measured 3.8-4.2x)."""
    import json
    from pathlib import Path
    from xarchkd.preflight import KNOWN_SIZES, _teacher_scales, _teacher_size
    assert _teacher_scales(*KNOWN_SIZES["minilm-l6"]) == (1.0, 1.0)
    forward, step = _teacher_scales(*KNOWN_SIZES["multilingual-e5-small"])
    assert 1.8 < forward < 2.1 and 3.5 < step < 4.1
    params, vocab, hidden = _teacher_size("a-folder", tiny_teacher)      # read from the folder, not the table of names
    c = json.loads((Path(tiny_teacher) / "config.json").read_text())
    assert (vocab, hidden) == (c["vocab_size"], c["hidden_size"]) and params > vocab * hidden


def test_the_plans_time_follows_the_words_to_process(tmp_path, tiny_teacher, conll_small):
    """The same number of sentences, each twice as long: the plan's time doubles (seconds per word, not per row)."""
    from pathlib import Path
    long = tmp_path / "long"
    long.mkdir()
    for split in ("train", "valid", "test"):
        blocks = (Path(conll_small) / f"{split}.txt").read_text().strip().split("\n\n")
        (long / f"{split}.txt").write_text("\n\n".join(b + "\n" + b for b in blocks) + "\n")
    plans = [ner_plan(resolve_config("bert-lstm-ner", tiny(tmp_path, tiny_teacher, d, **{"train.epochs": 2})))
             for d in (conll_small, str(long))]
    assert plans[0].lines[0].split(":")[1] == plans[1].lines[0].split(":")[1]     # the same sentence counts
    assert 1.9 < plans[1].seconds / plans[0].seconds < 2.1


def test_newswire_rows_count_at_their_own_length(tmp_path, tiny_teacher, conll_small):
    """Reuters-21578's transfer sentences average 26.7 words, not the train split's: a plan that labels and trains
    on them says so in its time (a CoNLL -news plan once said ~34 min for a 52-minute student)."""
    from xarchkd.data.ner_data import load_splits
    from xarchkd.preflight import TEXT_WORDS
    train = load_splits(str(conll_small), "auto", need=("train",))["train"]
    words = sum(len(w) for w in train["words"]) / len(train)
    plans = {src: ner_plan(resolve_config("bert-lstm-ner", tiny(tmp_path, tiny_teacher, conll_small, **{
        "train.epochs": 2, "data.transfer": src, "student.static_dim": 0}))) for src in ("augment", "reuters-21578")}
    rows = [l for l in plans["reuters-21578"].lines if l.startswith(("label", "student"))]
    assert len(rows) == 2 and "600 sentences" in rows[0] and "600 rows" in rows[1]   # as many rows as one copy
    want = (words + TEXT_WORDS["reuters-21578"]) / (2 * words)                     # their words, against a copy's
    assert abs(plans["reuters-21578"].seconds / plans["augment"].seconds - want) < 0.01 * want
