"""Few labels, plenty of text: `xarchkd subset` splits a data folder into the first N labelled train
sentences (+ valid/test) and the rest; train.min_steps gives a small set enough epochs."""
import json
from pathlib import Path

import pytest

import xarchkd
from xarchkd.cli import main
from xarchkd.config import TrainConfig
from xarchkd.data.ner_data import load_splits, read_conll
from xarchkd.data.subset import write_subset
from xarchkd.errors import ConfigError


def test_subset_writes_the_labelled_folder_and_the_rest(tmp_path, conll_small, capsys):
    out = tmp_path / "small"
    assert main(["subset", "120", "--data", str(conll_small), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["sentences"] == {"train": 120, "rest": 180, "valid": 100, "test": 100}
    src, got = load_splits(str(conll_small)), load_splits(str(out))
    assert list(got["train"]["words"]) == list(src["train"]["words"][:120])        # = data.train_limit=120
    assert list(got["train"]["tags"]) == list(src["train"]["tags"][:120])
    rest = read_conll(out / "rest.txt")
    assert list(rest["words"]) == list(src["train"]["words"][120:])
    assert list(rest["tags"]) == list(src["train"]["tags"][120:])                  # labels kept, for scoring
    for split in ("valid", "test"):
        assert (out / f"{split}.txt").read_bytes() == (conll_small / f"{split}.txt").read_bytes()
    with pytest.raises(ConfigError, match="has 300 sentences; take 1..299"):
        write_subset(str(conll_small), 300, tmp_path / "all")
    assert main(["subset", "0", "--data", str(conll_small), "--out", str(tmp_path / "none")]) == 2


def test_min_steps_raises_the_epochs_of_a_small_set():
    t = TrainConfig(epochs=10, batch_size=32, min_steps=3000)
    assert t.for_rows(2000).epochs == 48                   # 63 steps an epoch
    assert t.for_rows(14041).epochs == 10                  # 439 an epoch: 10 epochs are already enough
    assert TrainConfig(epochs=10, batch_size=32, min_steps=0).for_rows(2000).epochs == 10
    assert TrainConfig(epochs=2, batch_size=16, grad_accum=2, min_steps=20).for_rows(300).epochs == 2
    assert TrainConfig(epochs=2, batch_size=16, grad_accum=2, min_steps=50).for_rows(300).epochs == 5


def test_a_run_trains_for_min_steps(tmp_path, tiny_teacher, conll_small, capsys):
    """40 labelled + 20 transfer rows at batch 16 make 4 steps an epoch: min_steps=10 makes 1 epoch 3."""
    res = xarchkd.run("bert-cnn-ner", progress=True, **{
        "out": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"), "teacher.name": str(tiny_teacher),
        "teacher.finetune": False, "data.name": str(conll_small), "data.train_limit": 40, "data.eval_limit": 20,
        "data.transfer": f"conll:{conll_small / 'train.txt'}", "data.transfer_factor": 0.5,
        "student.embed_dim": 16, "student.hidden": 16, "student.layers": 1, "train.epochs": 1,
        "train.batch_size": 16, "train.min_steps": 10})
    assert res["train_rows"] == 60 and [h["epoch"] for h in res["history"]] == [1, 2, 3]
    assert "60 training rows: 1 -> 3 epochs to reach train.min_steps=10" in capsys.readouterr().out


def test_the_teacher_fine_tune_trains_a_small_set_for_min_steps(tmp_path, tiny_teacher, conll_small, capsys):
    """300 sentences at batch 16 make 19 steps an epoch: teacher min_steps=30 makes 1 epoch 2 (the
    2,000-sentence teacher of the few-labels case stopped still gaining at 5 x 63 steps). The raised
    count is the fingerprint's: asking for 2 epochs outright finds the same teacher."""
    folder = str(tmp_path / "teacher")
    args = ["teacher", "--encoder", str(tiny_teacher), "--data", str(conll_small), "--batch-size", "16", "--out", folder]
    assert main(args + ["--epochs", "1", "--min-steps", "30"]) == 0
    out = capsys.readouterr().out
    assert "300 training sentences: 1 -> 2 epochs to reach teacher.min_steps=30" in out
    assert out.strip().splitlines()[-1] == folder
    info = json.loads((Path(folder) / "xarchkd_teacher.json").read_text())
    assert [e["epoch"] for e in info["epochs"]] == [1, 2] and info["settings"]["epochs"] == 2
    assert main(args + ["--epochs", "2", "--min-steps", "0"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == folder and "teacher epoch" not in out                  # reused, not trained again
    assert main(args + ["--min-steps", "-1"]) == 2
    assert "--min-steps=-1" in capsys.readouterr().err
