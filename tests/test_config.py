"""Configs round-trip through TOML and JSON; overrides are typed; unknown keys and recipes say 'did you mean'."""
from pathlib import Path

import pytest

from conftest import cli

from xarchkd.config import RunConfig, apply_overrides, from_json, from_toml, to_json, to_toml
from xarchkd.errors import ConfigError
from xarchkd.recipe import get_recipe, recipes, resolve_config


def test_toml_and_json_round_trip():
    cfg = resolve_config("bert-srupp-ner", ["train.epochs=3", "student.block_args={\"proj_size\": 64}",
                                            "loss.kl=0.5", "prune_vocab=false", "data.augment.p_mask=0.2",
                                            "data.transfer=augment", "data.transfer_factor=2"])
    assert from_toml(to_toml(cfg)) == cfg
    assert from_json(to_json(cfg)) == cfg
    assert cfg.data.augment.p_mask == 0.2 and cfg.data.augment.p_swap == 0.5     # nested table, one key set
    assert cfg.train.epochs == 3 and cfg.loss.kl == 0.5 and cfg.prune_vocab is False
    assert cfg.student.block_args == {"proj_size": 64}


def test_unknown_key_and_bad_value():
    with pytest.raises(ConfigError, match="did you mean 'train.epochs'"):
        apply_overrides(RunConfig(), ["train.epoch=3"])
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(RunConfig(), ["train.epochs=three"])
    with pytest.raises(ConfigError, match=r"expected list \(JSON or TOML"):
        apply_overrides(RunConfig(), ["data.transfer=[{kind = augment}]"])     # a bare word is neither
    with pytest.raises(ConfigError, match="unknown config key 'teacher.nmae'.*did you mean 'name'"):
        from_toml('[teacher]\nnmae = "x"\n')


def test_a_list_override_reads_the_recipe_files_toml_as_well_as_json():
    """``--set 'data.transfer=[{kind = "corpus", path = "my.txt"}]'``, copied from a recipe file, is the same
    config as its JSON spelling (it was refused as "expected list")."""
    as_toml = apply_overrides(RunConfig(), ['data.transfer=[{kind = "augment", weight = 3}, {kind = "text", '
                                            'path = "reuters-21578", weight = 2}]', "student.block_args={proj_size = 64}"])
    as_json = apply_overrides(RunConfig(), ['data.transfer=[{"kind": "augment", "weight": 3}, {"kind": "text", '
                                            '"path": "reuters-21578", "weight": 2}]', 'student.block_args={"proj_size": 64}'])
    assert as_toml == as_json and [t.kind for t in as_toml.data.transfer] == ["augment", "text"]
    assert as_toml.data.transfer[1].weight == 2 and as_toml.student.block_args == {"proj_size": 64}


def test_recipes_found_through_entry_points():
    names = set(recipes())
    assert {"bert-lstm-ner", "bert-sru-ner", "bert-srupp-ner", "bert-cnn-ner", "bert-sru-ner-nokd"} <= names
    with pytest.raises(ConfigError, match="did you mean 'bert-sru-ner'"):
        get_recipe("bert-sru-nr")
    nokd = get_recipe("bert-cnn-ner-nokd").config
    assert nokd.loss.mse == 0 and nokd.loss.kl == 0 and nokd.loss.ce > 0


# ---------------------------------------------------------------- issue 14: bad values, bad config files

@pytest.mark.parametrize("override, needle", [
    ("train.lr=-0.001", "train.lr=-0.001: must be a number > 0"),
    ("teacher.lr=-1e-4", "teacher.lr=-0.0001: must be a number > 0"),
    ("train.batch_size=0", "train.batch_size=0: must be at least 1"),
    ("data.max_length=2", "data.max_length=2: must be at least 3"),
    ("train.lr=nan", "train.lr=nan"),
    ("data.train_limit=-5", "data.train_limit=-5: must be 0 (all sentences) or a positive number"),
    ("train.mixed_precision=fp8", "train.mixed_precision='fp8': must be one of no, fp16, bf16"),
    ("data.scheme=IOB3", "data.scheme='IOB3'"),
    ("student.dropout=1.5", "student.dropout=1.5"),
])
def test_bad_values_are_refused_when_the_config_is_built(override, needle):
    """Every field is checked as the config is built (overrides, TOML, JSON, dicts), not when it is used."""
    import re
    with pytest.raises(ConfigError, match=re.escape(needle)):
        resolve_config("bert-lstm-ner", [override])
    key, value = override.split("=")
    section, name = key.split(".")
    with pytest.raises(ConfigError, match=re.escape(key)):
        from_toml(f"[{section}]\n{name} = {value if value[0] in '-0123456789n' else repr(value)}\n")


def _cli(args, capsys):
    rc, _, err = cli(capsys, *args)
    return rc, err.strip().splitlines()


def test_cli_bad_config_file_or_value_is_one_line_before_any_work(tmp_path, capsys):
    """--config naming a missing file, a folder or non-UTF-8 bytes, and out-of-range values from the command
    line or the file: exit 2 with one `xarchkd: error:` line naming the file or field; no run folder made."""
    out = tmp_path / "run"
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"recipe = \"bert-lstm-ner\"\n# caf\xe9\n")
    neg = tmp_path / "neg.toml"
    neg.write_text("[train]\nlr = -0.5\n")
    cases = [(["--config", str(tmp_path / "nope.toml")], "nope.toml: no such file"),
             (["--config", str(tmp_path)], "is a folder, not a TOML file"),
             (["--config", str(bad)], "latin1.toml:2: not valid UTF-8"),
             (["--config", str(neg)], "neg.toml: invalid config: train.lr=-0.5"),
             (["--set", "train.batch_size=0"], "train.batch_size=0: must be at least 1"),
             (["--set", "data.max_length=2"], "data.max_length=2")]
    for extra, needle in cases:
        rc, err = _cli(["run", "bert-lstm-ner", "--out", str(out), *extra], capsys)
        assert rc == 2 and len(err) == 1 and err[0].startswith("xarchkd: error: ") and needle in err[0], (extra, err)
        assert not out.exists()
    rc, err = _cli(["teacher", "--lr", "-1", "--out", str(out)], capsys)
    assert rc == 2 and err == ["xarchkd: error: --lr=-1.0: must be a number > 0 (the teacher fine-tune's peak "
                               "learning rate)"]
    assert not out.exists()


# ---------------------------------------------------------------- issue 14.8: silent surprises

def test_partial_config_file_applies_over_the_named_recipe(tmp_path):
    """A --config file that sets a few keys changes those keys of the recipe named on the command line
    (it used to start from RunConfig's defaults, dropping the recipe); --set applies after it."""
    f = tmp_path / "few.toml"
    f.write_text("[train]\nepochs = 2\n[student]\nhidden = 64\n")
    cfg = resolve_config("bert-srupp-ner", ["train.lr=0.01"], config_file=f)
    recipe = get_recipe("bert-srupp-ner").config
    assert (cfg.train.epochs, cfg.student.hidden, cfg.train.lr) == (2, 64, 0.01)
    assert cfg.student.block == "srupp" and cfg.student.block_args == recipe.student.block_args
    assert cfg.recipe == "bert-srupp-ner" and cfg.student.decode == recipe.student.decode
    full = tmp_path / "full.toml"       # a run's whole config.toml reads back to the same config
    full.write_text(to_toml(cfg))
    assert resolve_config("bert-srupp-ner", config_file=full) == cfg


def test_config_of_another_recipe_or_task_is_refused(tmp_path):
    """--config of another recipe, or a config whose task is not the named recipe's, is refused (the NER
    runner used to run an MLM config); so is a runner called on a config of the other task."""
    other = tmp_path / "mlm.toml"
    other.write_text(to_toml(resolve_config("bert-lstm-mlm")))
    with pytest.raises(ConfigError, match="is a config of recipe 'bert-lstm-mlm', but the command runs 'bert-lstm-n"):
        resolve_config("bert-lstm-ner", config_file=other)
    task_only = tmp_path / "task.toml"
    task_only.write_text('task = "mlm"\n[student]\ntask = "mlm"\n')
    with pytest.raises(ConfigError, match="recipe 'bert-lstm-ner' runs a ner task, but the config says task='mlm'"):
        resolve_config("bert-lstm-ner", config_file=task_only)
    with pytest.raises(ConfigError, match="this is the NER runner, but the config has task='mlm'"):
        get_recipe("bert-lstm-ner").run(resolve_config("bert-lstm-mlm"), progress=False)


@pytest.mark.parametrize("override, needle", [
    ("upload=s3://bucket/x", "upload='s3://bucket/x' is not used by the masked-LM runner"),
    ("init_from=runs/x/student", "init_from='runs/x/student' is not used by the masked-LM runner"),
    ("prune_vocab=true", "prune_vocab=True is not used by the masked-LM runner"),
    ("max_vocab=15000", "max_vocab=15000 is not used by the masked-LM runner"),
    ("loss.hidden=1.0", "loss.hidden=1.0 is not used by the masked-LM runner"),
    ("train.min_steps=100", "train.min_steps=100 is not used by the masked-LM runner"),
    ("teacher.min_steps=100", "teacher.min_steps=100 is not used by the masked-LM runner"),
    ("data.transfer=augment", "data.transfer='augment' is not used by the masked-LM runner"),
    ("student.word_shapes=true", "student.word_shapes=True is not used by the masked-LM runner"),
])
def test_fields_the_mlm_runner_does_not_read_are_errors(override, needle):
    """The MLM runner silently ignored upload, init_from, prune_vocab, data.transfer, loss.hidden and
    train.min_steps; a field a runner does not use is now an error naming it."""
    import re
    with pytest.raises(ConfigError, match=re.escape(needle)):
        resolve_config("bert-lstm-mlm", [override])


def test_cli_mlm_upload_is_refused_in_one_line(capsys):
    from xarchkd.cli import main
    assert main(["run", "bert-lstm-mlm", "--upload", "s3://bucket/x", "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "upload='s3://bucket/x' is not used by the masked-LM runner" in err[0]


@pytest.mark.parametrize("overrides, needle", [
    (["loss.mse=0"], "data.transfer='augment*3' makes rows without gold labels, which only the teacher"),
    (["data.transfer="], "data.transfer_factor=1.0 without data.transfer"),
    (["data.transfer=pydoc-text", "data.augment.p_mask=0.3"], "data.augment.p_mask is set but data.transfer='pydoc-text'"),
    (["student.vocab_size=100"], "student.vocab_size=100 is not used by the NER runner"),
    (["student.task=mlm"], "student.task='mlm' but task='ner'"),
])
def test_ner_settings_that_would_do_nothing_are_errors(overrides, needle):
    """A factor without a source, transfer rows without a teacher term, augmentation settings without
    augment, and student fields the run derives itself did nothing. (data.transfer_factor=0 is the
    documented off switch of the recipes' transfer set.)"""
    import re
    with pytest.raises(ConfigError, match=re.escape(needle)):
        resolve_config("bert-lstm-ner", overrides)


def test_a_recipe_is_a_file_a_user_can_copy_edit_and_run(tmp_path, capsys):
    """Each bundled recipe is ``recipes/<name>.toml`` holding what it sets; a copy runs under its own file name."""
    from xarchkd.cli import main
    from xarchkd.recipe import recipes
    folder = Path(__file__).resolve().parents[1] / "recipes"
    bundled = {p.stem for p in folder.glob("*.toml")}
    assert {"bert-lstm-ner", "bert-lstm-ner-nokd", "bert-lstm-ner-news", "bert-sru-mlm"} <= bundled
    assert bundled <= set(recipes())
    text = (folder / "bert-lstm-ner.toml").read_text()
    assert text.startswith("# distil a lstm NER student") and 'transfer = [{kind = "augment", weight = 3}]' in text
    mine = tmp_path / "my-tweets.toml"
    mine.write_text(text.replace("epochs = 10", "epochs = 3"))
    assert main(["run", str(mine), "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert 'recipe = "my-tweets"' in printed and 'out = "runs/my-tweets"' in printed and "epochs = 3" in printed
    mine.write_text(text.replace("[student]", "[student]\nhiden = 10"))
    assert main(["run", str(mine), "--print-config"]) == 2
    assert f"{mine}: unknown config key 'student.hiden' (did you mean 'hidden'?)" in capsys.readouterr().err


def test_a_removed_option_reads_when_off_and_is_refused_by_name_when_set(tmp_path):
    """Options that did not pay were removed (train.ema, student.pool, student.unk_dropout): the config.toml of an
    older run, which wrote them at their off values, still reads (``--config``, ``--resume``); setting one is one
    line naming it; an old student folder's config.json loads the same way."""
    from students import StudentConfig
    from students.errors import CheckpointError
    old = to_toml(RunConfig()).replace("[train]\n", "[train]\nema = 0.0\n").replace(
        "[student]\n", '[student]\npool = "first"\nunk_dropout = 0.0\n')
    assert "ema = 0.0" in old and from_toml(old) == RunConfig()
    with pytest.raises(ConfigError, match=r"train.ema was removed"):
        from_toml(old.replace("ema = 0.0", "ema = 0.999"))
    with pytest.raises(ConfigError, match=r"student.pool was removed"):
        apply_overrides(RunConfig(), ["student.pool=mean"])
    saved = {**StudentConfig().to_dict(), "pool": "first", "unk_dropout": 0.0}
    assert StudentConfig.from_dict(saved) == StudentConfig()
    with pytest.raises(CheckpointError, match="unk_dropout"):
        StudentConfig.from_dict({**saved, "unk_dropout": 0.1})
