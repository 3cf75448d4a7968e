"""Recipes: a recipe is a TOML file -- a ``RunConfig`` holding what the recipe sets (the rest: the dataclasses'
defaults), named as the recipe, its first comment line its description -- run by its task's runner
(``tasks/ner.py`` or ``tasks/mlm.py``: one script each, in the order the data flows).

The bundled recipes are the ``recipes/*.toml`` files, found through the ``xarchkd.recipes`` entry-point group, so
the engine never imports ``recipes`` by name; a user's package can ship recipes the same way, call
``register_recipe`` at run time, or simply run a file: ``xarchkd run my-recipe.toml`` (copy a bundled one, edit it).
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

from .config import RunConfig, apply_overrides, from_dict, merge_tables, read_config_file, to_dict
from .errors import ConfigError, did_you_mean


@dataclass
class Recipe:
    name: str
    config: RunConfig
    run: Callable[..., dict]     # run(cfg, resume=False, progress=True) -> results dict
    description: str = ""


_REGISTERED: dict[str, Recipe] = {}
RUNNERS = {"ner": "xarchkd.tasks.ner:distill_ner", "mlm": "xarchkd.tasks.mlm:distill_mlm"}


def runner(task: str) -> Callable[..., dict]:
    """The runner of ``task`` (``run(cfg, resume=False, progress=True) -> results``), imported when a recipe runs:
    listing recipes imports no torch."""
    def run(cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
        module, name = RUNNERS[task].split(":")
        return getattr(importlib.import_module(module), name)(cfg, resume=resume, progress=progress)
    return run


def recipe_from_file(path: str | Path) -> Recipe:
    """The recipe in TOML file ``path``: its ``recipe`` key (default: the file's stem) names it, its first comment
    line describes it; a bad key or value is a ``ConfigError`` naming the file."""
    p = Path(path)
    table = read_config_file(p)
    try:
        cfg = from_dict(RunConfig, {"recipe": p.stem, **table})
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    first = next((ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()), "")
    return Recipe(cfg.recipe, cfg, runner(cfg.task), first.lstrip("#").strip() if first.startswith("#") else "")


def register_recipe(recipe: Recipe) -> Recipe:
    _REGISTERED[recipe.name] = recipe
    return recipe


def recipes() -> dict[str, Recipe]:
    """All known recipes: the entry-point group's, then those registered at run time."""
    found: dict[str, Recipe] = {}
    for ep in entry_points(group="xarchkd.recipes"):
        found.update(ep.load())
    found.update(_REGISTERED)
    return found


def get_recipe(name: str) -> Recipe:
    """A known recipe by name, or the recipe in a ``.toml`` file at path ``name``."""
    if name.endswith(".toml"):
        if not Path(name).is_file():
            raise ConfigError(f"{name}: no such recipe file")
        return recipe_from_file(name)
    known = recipes()
    if name not in known:
        raise ConfigError(f"unknown recipe {name!r}{did_you_mean(name, known)}; known: {', '.join(sorted(known))}")
    return known[name]


def resolve_config(name: str, overrides=(), config_file=None) -> RunConfig:
    """The recipe's config, then the tables of ``config_file`` (a TOML file, e.g. a run's ``config.toml``:
    it may set only some keys, the recipe gives the rest), then ``overrides`` (``["a.b=v", ...]`` or a dict
    of dotted keys). A file written for another recipe, or a config of another task than the recipe's
    runner, is a ``ConfigError``."""
    recipe = get_recipe(name)
    cfg = copy.deepcopy(recipe.config)
    table = read_config_file(config_file) if config_file is not None else {}
    named = table.get("recipe")
    if named and named != recipe.name:
        raise ConfigError(f"{config_file} is a config of recipe {named!r}, but the command runs {name!r}: run "
                          f"`xarchkd run {named} --config {config_file}`, or remove its recipe line")
    task = _override_value(overrides, "task", table.get("task", recipe.config.task))
    if task != recipe.config.task:
        raise ConfigError(f"recipe {name!r} runs a {recipe.config.task} task, but the config says task={task!r}"
                          f"{f' ({config_file})' if config_file else ''}: pick a {task} recipe (`xarchkd recipes`)")
    if config_file is not None:
        try:
            cfg = from_dict(RunConfig, merge_tables(to_dict(cfg), table))
        except ConfigError as e:
            raise ConfigError(f"{config_file}: {e}") from None
    cfg = apply_overrides(cfg, overrides)
    if not cfg.out:
        cfg.out = f"runs/{recipe.name}"
    return cfg


def _override_value(overrides, key: str, default):
    """The value ``overrides`` (``["k=v", ...]`` or a dict) give ``key`` (the last one wins), else ``default``."""
    items = overrides.items() if isinstance(overrides, dict) else \
        [o.split("=", 1) for o in overrides if isinstance(o, str) and "=" in o]
    found = [v.strip() if isinstance(v, str) else v for k, v in items if k.strip() == key]
    return found[-1] if found else default


def run(name: str, resume: bool = False, progress: bool = True, **overrides) -> dict:
    """Run recipe ``name`` and return its results (also written to ``<out>/results.json``).

    Overrides are keyword arguments: ``out="runs/x"``, nested dicts (``train={"epochs": 3}``)
    or dotted keys (``**{"train.epochs": 3}``). Under a multi-process ``accelerate launch`` only the
    main process returns the results; the other ranks return ``{}``.
    """
    cfg = resolve_config(name, _flatten(overrides))
    return get_recipe(name).run(cfg, resume=resume, progress=progress)


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "block_args" and not k.endswith(".block_args"):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat
