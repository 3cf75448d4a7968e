"""Typed run configs: nested dataclasses that round-trip to TOML and JSON, plus ``key=value`` overrides.

A recipe is one ``RunConfig``. ``to_toml``/``from_toml`` and ``to_json``/``from_json`` are exact
inverses; ``apply_overrides(cfg, ["train.epochs=3", "student.block=lstm"])`` coerces each value to
the field's type and refuses unknown keys with a "did you mean".
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field

from students import StudentConfig

from .errors import ConfigError, did_you_mean
from .loss import LossConfig
from .transfer import AugmentConfig


@dataclass
class TeacherConfig:
    """Where the teacher comes from. With ``finetune`` the encoder ``name`` is fine-tuned on the data's
    train split (reused by fingerprint); without, ``name`` must already be a token-classification model."""
    name: str = "minilm-l6"
    finetune: bool = True
    epochs: int = 5                # best-valid epoch is kept (4 of 5 on CoNLL-2003: test F1 0.870)
    lr: float = 1e-4
    batch_size: int = 32


@dataclass
class DataConfig:
    name: str = "conll2003"       # resource name or folder with train/valid/test .txt
    scheme: str = "IOB2"
    max_length: int = 128          # sub-words per row; longer sentences are split, never dropped
    train_limit: int = 0           # use the first N train sentences only (0 = all)
    eval_limit: int = 0            # score on the first N valid/test sentences only (0 = all)
    transfer: str = ""             # transfer set: "" | "augment" | a text file | "pydoc-text" | "conll:PATH" (transfer.py)
    transfer_factor: float = 0.0   # transfer rows as a multiple of the labelled train set
    augment: AugmentConfig = field(default_factory=AugmentConfig)   # with transfer="augment": probabilities


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.05           # fraction of steps with linear warm-up, then linear decay
    grad_clip: float = 1.0
    grad_accum: int = 1
    mixed_precision: str = "no"    # "no" | "fp16" | "bf16" (GPU only)
    cpu: bool = False              # force the CPU even when a GPU is present
    seed: int = 0
    patience: int = 0              # stop after N epochs without a better valid score (0 = never)
    log_every: int = 50            # steps between log lines
    min_steps: int = 3000          # NER: small sets train for more epochs, to at least this many optimizer steps

    def for_rows(self, rows: int) -> "TrainConfig":
        """This config with ``epochs`` raised to ``ceil(min_steps / steps_per_epoch)`` where that is
        larger, ``steps_per_epoch`` being ``ceil(rows / batch_size / grad_accum)`` as the training
        schedule counts it (all processes together; transfer rows count as rows)."""
        per_epoch = max(1, math.ceil(rows / self.batch_size / self.grad_accum))
        return dataclasses.replace(self, epochs=max(self.epochs, math.ceil(max(0, self.min_steps) / per_epoch)))


@dataclass
class RunConfig:
    recipe: str = ""
    task: str = "ner"
    out: str = ""                  # run folder; default runs/<recipe>
    cache_dir: str = ""            # teacher-logits caches; default $XARCHKD_HOME/cache
    prune_vocab: bool = True       # embedding rows only for sub-words seen in the training rows
    embed_init: str = "pca"        # "pca" (teacher input embeddings reduced by PCA) | "random"
    init_from: str = ""            # start the student's embedding+encoder from another student folder
    upload: str = ""               # s3://bucket/prefix to push checkpoints to (optional)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, d: dict, where: str = ""):
    """Build dataclass ``cls`` from a (nested) dict; unknown keys raise ConfigError."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a table, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in d.items():
        key = f"{where}.{k}" if where else k
        if k not in names:
            raise ConfigError(f"unknown config key {key!r}{did_you_mean(k, names)}")
        t = hints[k]
        kwargs[k] = from_dict(t, v, key) if dataclasses.is_dataclass(t) else _check_type(t, v, key)
    return cls(**kwargs)


def to_json(cfg) -> str:
    return json.dumps(to_dict(cfg), indent=2)


def from_json(text: str, cls=RunConfig):
    return from_dict(cls, json.loads(text))


def to_toml(cfg) -> str:
    d = to_dict(cfg)
    top = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    out = "\n".join(top) + "\n"
    for k, v in d.items():
        if isinstance(v, dict):
            out += f"\n[{k}]\n" + "".join(f"{kk} = {_toml_value(vv)}\n" for kk, vv in v.items())
    return out


def from_toml(text: str, cls=RunConfig):
    try:
        return from_dict(cls, tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}") from None


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {type(v).__name__} to TOML")


def _check_type(t, v, key):
    origin = typing.get_origin(t) or t
    if origin is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if origin in (int, float, str, bool, list, dict) and not isinstance(v, origin) or \
            (origin is int and isinstance(v, bool)):
        raise ConfigError(f"{key}: expected {origin.__name__}, got {v!r}")
    return v


def apply_overrides(cfg, overrides) -> object:
    """Return a copy of ``cfg`` with ``"a.b=value"`` strings (or a dict of dotted keys) applied."""
    items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
    d = to_dict(cfg)
    keys = _dotted_keys(type(cfg))
    for key, value in items:
        if key not in keys:
            raise ConfigError(f"unknown config key {key!r}{did_you_mean(key, keys)}")
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = _coerce(keys[key], value, key) if isinstance(value, str) else value
    return from_dict(type(cfg), d)


def _split(s: str):
    if "=" not in s:
        raise ConfigError(f"override {s!r} should look like key=value (e.g. train.epochs=3)")
    k, v = s.split("=", 1)
    return k.strip(), v.strip()


def _dotted_keys(cls, prefix="") -> dict:
    out = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if dataclasses.is_dataclass(t):
            out.update(_dotted_keys(t, prefix + f.name + "."))
        else:
            out[prefix + f.name] = t
    return out


def _coerce(t, s: str, key: str):
    origin = typing.get_origin(t) or t
    try:
        if origin is bool:
            if s.lower() in ("1", "true", "yes", "on"):
                return True
            if s.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(s)
        if origin is int:
            return int(s)
        if origin is float:
            return float(s)
        if origin in (list, dict):
            v = json.loads(s)
            if not isinstance(v, origin):
                raise ValueError(s)
            return v
        return s
    except (ValueError, json.JSONDecodeError):
        raise ConfigError(f"{key}={s!r}: expected {getattr(origin, '__name__', origin)}") from None
