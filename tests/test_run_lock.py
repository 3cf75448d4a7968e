"""Issue 29.4: two runs into the same ``--out`` at once both exited 0, results.json held the second's and
metrics.jsonl got a broken line: nothing locked the folder. Now the second is refused at once."""
import json

import pytest

import xarchkd
import xarchkd.tasks.ner as ner
from xarchkd.errors import ConfigError

from conftest import tiny


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, tiny_teacher, conll_small,
                                                                           monkeypatch):
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"data.train_limit": 40, "data.eval_limit": 20})
    real, seen = ner.prepare_ner, {}

    def second_run_meanwhile(*a, **k):          # while the first run works, a second starts into its folder
        if not seen:
            seen["started"] = True
            with pytest.raises(ConfigError) as e:
                xarchkd.run("bert-cnn-ner", progress=False, **{**o, "train.seed": 1})
            seen["error"] = str(e.value)
        return real(*a, **k)
    monkeypatch.setattr(ner, "prepare_ner", second_run_meanwhile)
    xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert "another run is writing into this folder" in seen["error"] and str(tmp_path / "run") in seen["error"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["seed"] == 0
    for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines():
        json.loads(line)
    xarchkd.run("bert-cnn-ner", progress=False, **{**o, "train.seed": 1})      # once it is done, the folder is free


def test_a_run_refused_for_bad_data_leaves_no_run_folder(tmp_path, tiny_teacher, conll_small):
    """Issue 29 (weak messages): data the preflight cannot see (a tag the teacher does not know) stopped the run
    after it had made OUT and written its config there."""
    import shutil
    from xarchkd.errors import DataError
    data = tmp_path / "data"
    shutil.copytree(conll_small, data)
    (data / "train.txt").write_text((data / "train.txt").read_text().replace(" B-LOC\n", " B-GPE\n", 1))
    with pytest.raises(DataError, match="B-GPE"):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, data))
    assert not (tmp_path / "run").exists()
