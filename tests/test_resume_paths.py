"""Issue 29.13: ``--resume`` refused the same run when a path was spelt another way (relative vs absolute, a
moved run folder or data folder) -- it compared strings; and the suggested ``--config OUT/config.toml`` failed
from another directory (its paths were relative). Now paths are compared resolved, then by content, and a run
writes its local paths absolute."""
import shutil

import pytest

import xarchkd
from students import CheckpointError
from xarchkd.cli import main

from conftest import tiny


def test_resume_accepts_the_same_run_spelt_or_moved_otherwise(tmp_path, tiny_teacher, conll_small, monkeypatch,
                                                              capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(conll_small, tmp_path / "data")
    o = tiny(tmp_path, tiny_teacher, "data", **{"out": "run", "cache_dir": "cache", "data.train_limit": 40,
                                                "data.eval_limit": 20})
    xarchkd.run("bert-cnn-ner", progress=False, **o)
    # the same folders, spelt absolute
    xarchkd.run("bert-cnn-ner", resume=True, progress=False,
                **{**o, "out": str(tmp_path / "run"), "data.name": str(tmp_path / "data")})
    # the run folder moved, the data copied elsewhere (same content), resumed from another directory
    shutil.move(tmp_path / "run", tmp_path / "moved")
    shutil.copytree(tmp_path / "data", tmp_path / "data2")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    xarchkd.run("bert-cnn-ner", resume=True, progress=False,
                **{**o, "out": "../moved", "data.name": "../data2", "cache_dir": "../cache"})
    # data of other content is refused, and the suggested command works from here
    shutil.copytree(tmp_path / "data", tmp_path / "data3")
    (tmp_path / "data3" / "train.txt").write_text((tmp_path / "data" / "train.txt").read_text()[:-200] + "\n")
    with pytest.raises(CheckpointError, match="other settings \\(data.name") as e:
        xarchkd.run("bert-cnn-ner", resume=True, progress=False, **{**o, "out": "../moved", "data.name": "../data3"})
    suggested = str(e.value).split("Resume with its own settings (")[1].split(")")[0]
    assert suggested == f"xarchkd run bert-cnn-ner --config {tmp_path / 'moved' / 'config.toml'} " \
                        f"--out {tmp_path / 'moved'} --resume"
    capsys.readouterr()
    assert main(suggested.split()[1:]) == 0, capsys.readouterr().err


def test_a_run_folder_written_before_the_typed_transfer_list_and_the_removed_options_resumes(tmp_path):
    """A config.json of an older xarchkd: data.transfer as a string, train.ema / student.pool at their off values.
    --resume reads it as today's config (no change reported); one whose run used a removed option is refused by
    name, before any work."""
    import json
    from xarchkd.config import to_json
    from xarchkd.preflight import check_resume
    from xarchkd.recipe import resolve_config
    cfg = resolve_config("bert-lstm-ner-news", {"out": str(tmp_path)})
    old = json.loads(to_json(cfg))
    old["data"]["transfer"] = "augment+reuters-21578*2"
    old["train"]["ema"], old["student"]["pool"], old["student"]["unk_dropout"] = 0.0, "first", 0.0
    (tmp_path / "config.json").write_text(json.dumps(old))
    check_resume(cfg, tmp_path)
    old["data"]["transfer"] = "augment"
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(CheckpointError, match=r"data.transfer"):
        check_resume(cfg, tmp_path)                     # a real change is still one
    old["data"]["transfer"], old["train"]["ema"] = "augment+reuters-21578*2", 0.999
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(CheckpointError, match=r"train.ema=0.999, removed since"):
        check_resume(cfg, tmp_path)
