"""Configs round-trip through TOML and JSON; overrides are typed; unknown keys and recipes say 'did you mean'."""
import pytest

from xarchkd.config import RunConfig, apply_overrides, from_json, from_toml, to_json, to_toml
from xarchkd.errors import ConfigError
from xarchkd.recipe import get_recipe, recipes, resolve_config


def test_toml_and_json_round_trip():
    cfg = resolve_config("bert-srupp-ner", ["train.epochs=3", "student.block_args={\"proj_size\": 64}",
                                            "loss.kl=0.5", "prune_vocab=false", "data.augment.p_ngram=0"])
    assert from_toml(to_toml(cfg)) == cfg
    assert from_json(to_json(cfg)) == cfg
    assert cfg.data.augment.p_ngram == 0.0 and cfg.data.augment.p_swap == 0.3     # nested table, one key set
    assert cfg.train.epochs == 3 and cfg.loss.kl == 0.5 and cfg.prune_vocab is False
    assert cfg.student.block_args == {"proj_size": 64}


def test_unknown_key_and_bad_value():
    with pytest.raises(ConfigError, match="did you mean 'train.epochs'"):
        apply_overrides(RunConfig(), ["train.epoch=3"])
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(RunConfig(), ["train.epochs=three"])
    with pytest.raises(ConfigError, match="unknown config key 'teacher.nmae'.*did you mean 'name'"):
        from_toml('[teacher]\nnmae = "x"\n')


def test_recipes_found_through_entry_points():
    names = set(recipes())
    assert {"bert-lstm-ner", "bert-sru-ner", "bert-srupp-ner", "bert-cnn-ner", "bert-sru-ner-nokd"} <= names
    with pytest.raises(ConfigError, match="did you mean 'bert-sru-ner'"):
        get_recipe("bert-sru-nr")
    nokd = get_recipe("bert-cnn-ner-nokd").config
    assert nokd.loss.mse == 0 and nokd.loss.kl == 0 and nokd.loss.ce > 0
