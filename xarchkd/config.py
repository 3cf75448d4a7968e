"""Typed run configs: nested dataclasses that round-trip to TOML and JSON, plus ``key=value`` overrides.

A recipe is one ``RunConfig``. ``to_toml``/``from_toml`` and ``to_json``/``from_json`` are exact
inverses; ``apply_overrides(cfg, ["train.epochs=3", "student.block=lstm"])`` coerces each value to
the field's type and refuses unknown keys with a "did you mean".

Every ``RunConfig`` built from a dict, TOML, JSON or overrides is checked field by field
(``check_config``: ranges, choices, fields that only make sense together) as it is built, so a bad
value is a one-line ``ConfigError`` naming the field before any work starts.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from students import StudentConfig
from students.config import REMOVED as STUDENT_REMOVED

from .data.ner_data import SCHEMES
from .data.transfer import ENTITY_SWAPS, SPAN_SWAPS, AugmentConfig, Source, as_sources
from .errors import ConfigError, did_you_mean
from .loss_config import LossConfig


TASKS = ("ner", "mlm")
EMBED_INITS = ("pca", "random")
PRECISIONS = ("no", "fp16", "bf16")


@dataclass
class TeacherConfig:
    """Where the teacher comes from. With ``finetune`` the encoder ``name`` is fine-tuned on the data's
    train split (reused by fingerprint); without, ``name`` must already be a token-classification model."""
    name: str = "minilm-l6"
    finetune: bool = True
    epochs: int = 5                # best-valid epoch is kept (4 of 5 on CoNLL-2003: test F1 0.870)
    lr: float = 1e-4
    batch_size: int = 32
    min_steps: int = 1000          # NER fine-tune: small sets train for more epochs, to at least this many steps
                                   # (2,000 sentences: 5 -> 16 epochs; CoNLL-2003's 14,041 keep 5)
    also: list = field(default_factory=list)   # NER: more teachers, made like ``name``; the student learns from
                                               # the mean of all their logits (teachers/ensemble.py)


def epochs_for_steps(epochs: int, min_steps: int, steps_per_epoch: int) -> int:
    """``epochs``, raised to ``ceil(min_steps / steps_per_epoch)`` where that is larger: a small set still
    trains for at least ``min_steps`` optimizer steps (the student's and the NER teacher's schedules)."""
    return max(epochs, math.ceil(max(0, min_steps) / max(1, steps_per_epoch)))


@dataclass
class DataConfig:
    name: str = "conll2003"       # resource name or folder with train/valid/test .txt
    scheme: str = "auto"           # "auto" (detected from the files) | IOB2 = BIO | IOB1 | BIOES; read into IOB2
    max_length: int = 128          # sub-words per row; longer sentences are split, never dropped
    train_limit: int = 0           # use the first N train sentences only (0 = all)
    eval_limit: int = 0            # score on the first N valid/test sentences only (0 = all)
    transfer: list[Source] = field(default_factory=list)  # transfer sources, each {kind, path, weight}: kind "augment" |
                                   # "text" (a file or text resource) | "conll" | "corpus" (transfer.py); on the command
                                   # line also "augment+reuters-21578*2" (SOURCE or SOURCE*K joined by +)
    transfer_factor: float = 0.0   # transfer rows as a multiple of the labelled train set
    augment: AugmentConfig = field(default_factory=AugmentConfig)   # with "augment" among the sources: probabilities


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
        per_epoch = math.ceil(rows / self.batch_size / self.grad_accum)
        return dataclasses.replace(self, epochs=epochs_for_steps(self.epochs, self.min_steps, per_epoch))


@dataclass
class RunConfig:
    recipe: str = ""
    task: str = "ner"
    out: str = ""                  # run folder; default runs/<recipe>
    cache_dir: str = ""            # teacher-logits caches; default $XARCHKD_HOME/cache
    prune_vocab: bool = True       # embedding rows only for sub-words seen in the training rows
    max_vocab: int = 0             # with prune_vocab: at most this many rows, the most frequent sub-words (0 = all)
    embed_init: str = "pca"        # "pca" (teacher input embeddings reduced by PCA) | "random"
    init_from: str = ""            # start the student's embedding+encoder from another student folder
    upload: str = ""               # s3://bucket/prefix to push checkpoints to (optional)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def run_folder(self) -> Path:
        """Where the run writes: ``out``, or ``runs/<recipe>`` (``runs/<task>`` without a recipe name)."""
        return Path(self.out or f"runs/{self.recipe or self.task}")

    def cache_folder(self) -> Path:
        """Where the run's teacher caches and rows stores go: ``cache_dir``, or ``$XARCHKD_HOME/cache``."""
        from .data.resources import home
        return Path(self.cache_dir) if self.cache_dir else home() / "cache"


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


# Options removed because they did not pay (docs/results/README.md, Removed options): an old config.toml
# (``--config``, ``--resume``) holding one at its "off" value reads as before; one that sets it is refused by name.
REMOVED = {"train.ema": 0.0, "loss.confidence": False, **{f"student.{k}": v for k, v in STUDENT_REMOVED.items()}}


def _removed(key: str) -> ConfigError:
    return ConfigError(f"{key} was removed (it did not pay: docs/results/README.md, Removed options); "
                       "leave it out of the config and of --set")


def from_dict(cls, d: dict, where: str = ""):
    """Build dataclass ``cls`` from a (nested) dict; unknown keys raise ConfigError."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a table, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in d.items():
        key = f"{where}.{k}" if where else k
        if key in REMOVED:
            if v == REMOVED[key]:
                continue
            raise _removed(key)
        if k not in names:
            raise ConfigError(f"unknown config key {key!r}{did_you_mean(k, names)}")
        t = hints[k]
        if key == "data.transfer":
            kwargs[k] = as_sources(v)           # a list of sources (or the command line's shorthand string)
            continue
        kwargs[k] = from_dict(t, v, key) if dataclasses.is_dataclass(t) else _check_type(t, v, key)
    obj = cls(**kwargs)
    if cls is RunConfig:
        check_config(obj)
    return obj


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


def write_run_config(cfg: RunConfig, out: Path, resume: bool = False) -> None:
    """Write ``out/config.toml`` and ``out/config.json`` (what ``--config`` reads back and ``--resume`` compares
    with; local paths absolute) and ``out/inputs.json`` (``run_inputs``). A resumed run whose folder has no ``config.json`` (made before there was one) writes neither: had
    its schedule changed, the training loop refuses it later, and the folder must still describe the run."""
    if resume and not (Path(out) / "config.json").is_file():
        return
    from .run_inputs import absolute, write_inputs
    full = absolute(cfg)         # local paths absolute: --config OUT/config.toml reads the same from anywhere
    (Path(out) / "config.toml").write_text(to_toml(full))
    (Path(out) / "config.json").write_text(to_json(full))
    write_inputs(cfg, out)       # the inputs' content fingerprints, for --resume (inputs.json)


def merge_tables(base: dict, table: dict, where: str = "") -> dict:
    """``base`` (a config as a nested dict) with the keys of ``table`` set over it, table by table (a key
    missing from ``table`` keeps its ``base`` value; ``student.block_args`` is one value, replaced whole)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'the config'}: expected a table, got {type(table).__name__}")
    out = dict(base)
    for k, v in table.items():
        key = f"{where}.{k}" if where else k
        if isinstance(out.get(k), dict) and key != "student.block_args":
            out[k] = merge_tables(out[k], v, key)
        else:
            out[k] = v
    return out


def apply_overrides(cfg, overrides) -> object:
    """Return a copy of ``cfg`` with ``"a.b=value"`` strings (or a dict of dotted keys) applied."""
    items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
    d = to_dict(cfg)
    keys = _dotted_keys(type(cfg))
    for key, value in items:
        if key in REMOVED:
            raise _removed(key)
        if key not in keys:
            raise ConfigError(f"unknown config key {key!r}{did_you_mean(key, keys)}")
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[p]
        if key == "data.transfer" and isinstance(value, str) and not value.lstrip().startswith("["):
            node[parts[-1]] = value                 # the shorthand, read by from_dict (as_sources)
        else:
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
            v = _inline_value(s)
            if not isinstance(v, origin):
                raise ValueError(s)
            return v
        return s
    except (ValueError, tomllib.TOMLDecodeError):     # (json.JSONDecodeError is a ValueError)
        shape = {list: ' (JSON or TOML, as in a recipe file: [{kind = "augment"}] or ["DIR"])',
                 dict: ' (JSON or TOML, as in a recipe file: {proj_size = 64})'}.get(origin, "")
        raise ConfigError(f"{key}={s!r}: expected {getattr(origin, '__name__', origin)}{shape}") from None


def _inline_value(s: str):
    """A ``--set`` list or table, written as JSON or as a TOML inline value (the recipe files' own syntax)."""
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        doc = tomllib.loads(f"v = {s}")
        if list(doc) != ["v"]:                   # a newline in the value made more than one key
            raise ValueError(s) from None
        return doc["v"]


# ---------------------------------------------------------------- checks made as a config is built

def _at_least(n):
    return lambda v: v >= n


def _finite(v) -> bool:
    return math.isfinite(v)


def _positive(v) -> bool:
    return math.isfinite(v) and v > 0


def _non_negative(v) -> bool:
    return math.isfinite(v) and v >= 0


def _fraction(v) -> bool:       # a probability or a share: 0 <= v <= 1
    return math.isfinite(v) and 0 <= v <= 1


def _below_one(v) -> bool:      # a dropout rate: 0 <= v < 1
    return math.isfinite(v) and 0 <= v < 1


def _one_of(choices, fold=False):
    return lambda v: (v.upper() if fold else v) in choices


def _nonempty(v) -> bool:
    return bool(v.strip())


# dotted key -> (test, what a good value is). Every numeric field with a range is here.
FIELD_RULES: dict = {
    "task": (_one_of(TASKS), f"one of {', '.join(TASKS)}"),
    "embed_init": (_one_of(EMBED_INITS), f"one of {', '.join(EMBED_INITS)}"),
    "teacher.name": (_nonempty, "a resource name, a folder or a Hub id"),
    "teacher.epochs": (_at_least(1), "at least 1"),
    "teacher.lr": (_positive, "a number > 0 (the teacher fine-tune's peak learning rate)"),
    "teacher.batch_size": (_at_least(1), "at least 1"),
    "teacher.min_steps": (_at_least(0), "at least 0 (0: teacher.epochs as given)"),
    "max_vocab": (lambda v: v == 0 or v >= 8, "0 (every sub-word the training rows use) or at least 8 embedding rows"),
    "data.name": (_nonempty, "a resource name or a data folder"),
    "data.scheme": (_one_of(SCHEMES, fold=True), f"one of {', '.join(SCHEMES)}"),
    "data.max_length": (_at_least(3), "at least 3 ([CLS], one sub-word and [SEP])"),
    "data.train_limit": (_at_least(0), "0 (all sentences) or a positive number of sentences"),
    "data.eval_limit": (_at_least(0), "0 (all sentences) or a positive number of sentences"),
    "data.transfer_factor": (_non_negative, "a number >= 0"),
    "data.augment.p_mask": (_fraction, "a probability in [0, 1]"),
    "data.augment.p_replace": (_fraction, "a probability in [0, 1]"),
    "data.augment.p_swap": (_fraction, "a probability in [0, 1]"),
    "data.augment.p_ngram": (_fraction, "a probability in [0, 1]"),
    "data.augment.min_ngram": (_at_least(1), "at least 1"),
    "data.augment.max_ngram": (_at_least(1), "at least 1"),
    "data.augment.retries": (_at_least(0), "at least 0"),
    "data.augment.p_names": (_fraction, "a probability in [0, 1]"),
    "student.block": (_nonempty, "a block name (lstm, sru, srupp, cnn or a registered one)"),
    "student.embed_dim": (_at_least(1), "at least 1"),
    "student.hidden": (_at_least(2), "at least 2 (a bidirectional block splits it in two)"),
    "student.layers": (_at_least(1), "at least 1"),
    "student.dropout": (_below_one, "a rate in [0, 1)"),
    "student.static_dim": (_at_least(0), "0 (off) or the width of the frozen teacher-view table"),
    "student.static_source": (_one_of(("hidden", "input")), "hidden (the teacher's view of each sub-word) or input "
                              "(its input embeddings)"),
    "loss.mse": (_non_negative, "a weight >= 0"),
    "loss.ce": (_non_negative, "a weight >= 0"),
    "loss.kl": (_non_negative, "a weight >= 0"),
    "loss.hidden": (_non_negative, "a weight >= 0"),
    "loss.temperature": (_positive, "a number > 0"),
    "loss.crf": (_non_negative, "a weight >= 0"),
    "train.epochs": (_at_least(1), "at least 1"),
    "train.batch_size": (_at_least(1), "at least 1"),
    "train.lr": (_positive, "a number > 0 (the student's peak learning rate)"),
    "train.weight_decay": (_non_negative, "a number >= 0"),
    "train.warmup": (_fraction, "a share of the steps in [0, 1]"),
    "train.grad_clip": (_non_negative, "a number >= 0 (0: no clipping)"),
    "train.grad_accum": (_at_least(1), "at least 1"),
    "train.mixed_precision": (_one_of(PRECISIONS), f"one of {', '.join(PRECISIONS)}"),
    "train.seed": (_at_least(0), "at least 0"),
    "train.patience": (_at_least(0), "at least 0 (0: never stop early)"),
    "train.log_every": (_at_least(1), "at least 1"),
    "train.min_steps": (_at_least(0), "at least 0 (0: train.epochs as given)"),
}


def value_problems(values: dict, label=lambda key: key) -> list[str]:
    """``"KEY=VALUE: must be ..."`` for each of ``values`` (dotted key -> value) that breaks its rule in
    ``FIELD_RULES``; ``label(key)`` names the key as the user wrote it (e.g. a CLI option)."""
    out = []
    for key, v in values.items():
        rule = FIELD_RULES.get(key)
        if rule is not None and not rule[0](v):
            out.append(f"{label(key)}={v!r}: must be {rule[1]}")
    return out


def check_values(values: dict, label=lambda key: key) -> None:
    """Raise one ``ConfigError`` listing every bad value of ``values`` (see ``value_problems``)."""
    problems = value_problems(values, label)
    if problems:
        raise ConfigError("; ".join(problems))


def config_problems(cfg: RunConfig) -> list[str]:
    """Every problem of ``cfg`` that needs no file, model or data to see: field ranges and choices, and
    fields that only make sense together."""
    flat = _flat_values(to_dict(cfg))
    out = value_problems(flat)
    aug = cfg.data.augment
    if cfg.student.static_source != "hidden" and not cfg.student.static_dim:
        out.append(f"student.static_source={cfg.student.static_source!r} picks what the frozen table holds, but "
                   "student.static_dim=0 turns the table off")
    if aug.max_ngram < aug.min_ngram:
        out.append(f"data.augment.max_ngram={aug.max_ngram} is below data.augment.min_ngram={aug.min_ngram}")
    if bool(aug.names) != (_finite(aug.p_names) and aug.p_names > 0):
        out.append(f"data.augment.names={aug.names!r} and data.augment.p_names={aug.p_names!r} work together: a "
                   "gazetteer and the share of swaps drawn from it (e.g. names=names, p_names=0.5), or neither "
                   "(data.augment.names= data.augment.p_names=0)")
    lc = cfg.loss
    also = cfg.teacher.also
    if not all(isinstance(n, str) and n.strip() for n in also):
        out.append(f"teacher.also={also!r}: must be a list of teacher names or folders, e.g. [\"mpnet-base\"]")
    elif also and lc.hidden:
        out.append(f"loss.hidden={lc.hidden!r} matches one teacher's hidden states, but teacher.also names more "
                   "teachers (their logits are averaged): set loss.hidden=0")
    if not any(_finite(w) and w > 0 for w in (lc.mse, lc.ce, lc.kl, lc.hidden, lc.crf)):
        out.append("loss.mse, loss.ce, loss.kl, loss.hidden and loss.crf are all 0: nothing would train the student")
    if cfg.task == "ner" and (cfg.student.decode == "crf") != (_finite(lc.crf) and lc.crf > 0):
        out.append(f"student.decode={cfg.student.decode!r} and loss.crf={lc.crf!r} work together: a CRF student "
                   "(decode=crf) is trained by the CRF term (loss.crf > 0), and that term needs a CRF student")
    return out + unused_problems(cfg)


# Fields a runner does not read: (dotted key, the value that means "not used", why). Setting one to anything
# else is an error, not a no-op. The student fields a run derives from its teacher are unused by both.
_DERIVED = [(f"student.{k}", getattr(StudentConfig(), k), "the run sets it from the teacher's tokenizer and labels")
            for k in ("vocab_size", "kept_vocab", "num_labels", "labels", "pad_id", "unk_id")]
UNUSED = {
    "mlm": _DERIVED + [
        ("upload", "", "checkpoint uploads are made by the NER runner only"),
        ("init_from", "", "two-stage initialisation starts a NER student from another student"),
        ("prune_vocab", False, "a masked-LM student keeps every teacher token: its output layer predicts them all"),
        ("max_vocab", 0, "a masked-LM student keeps every teacher token: its output layer predicts them all"),
        ("data.transfer", [], "transfer sets feed NER students; the masked-LM corpus is data.name"),
        ("data.transfer_factor", 0.0, "transfer sets feed NER students"),
        ("data.scheme", "auto", "the masked-LM corpus is plain text, it has no tags"),
        ("data.augment", dataclasses.asdict(AugmentConfig()), "augmentation makes NER transfer sets"),
        ("loss.hidden", 0.0, "hidden-state matching is built for NER students (their cache stores hidden states)"),
        ("loss.crf", 0.0, "a CRF scores tag sequences, a NER student's"),
        ("train.min_steps", 0, "the masked-LM runner trains for train.epochs as given"),
        ("teacher.min_steps", 0, "the masked-LM teacher fine-tunes for teacher.epochs as given"),
        ("teacher.also", [], "several teachers are averaged for NER students"),
        ("student.word_shapes", False, "masked-LM rows carry no word shapes"),
        ("student.static_dim", 0, "the teacher-view table is made by a NER teacher's forward passes"),
        ("student.static_source", "hidden", "a masked-LM student has no teacher-view table"),
    ],
    "ner": _DERIVED,
}


def _shorthand(sources: list[Source]) -> str:
    """``data.transfer`` in the command line's words (messages)."""
    return "+".join(s.spec + (f"*{s.weight:g}" if s.weight != 1 else "") for s in sources)


def unused_problems(cfg: RunConfig) -> list[str]:
    """The fields of ``cfg`` that its task's runner would not read (``UNUSED``) but that are set, and the
    settings that only work together (a transfer source and its factor, augmentation and its source)."""
    flat = _flat_values(to_dict(cfg), keep=("data.augment",))
    runner = "masked-LM" if cfg.task == "mlm" else "NER"
    out = []
    for key, neutral, why in UNUSED.get(cfg.task, []):
        value = flat[key]
        if isinstance(neutral, dict) and value != neutral:       # a table: name its first changed key
            key = next(f"{key}.{k}" for k in neutral if value[k] != neutral[k])
            value, neutral = value[key.rsplit(".", 1)[1]], neutral[key.rsplit(".", 1)[1]]
        if value != neutral:
            shown = _shorthand(cfg.data.transfer) if key == "data.transfer" else value
            out.append(f"{key}={shown!r} is not used by the {runner} runner ({why}): set {key}={_toml_value(neutral)}")
    if cfg.student.task != cfg.task:
        out.append(f"student.task={cfg.student.task!r} but task={cfg.task!r}: the run builds a {cfg.task} student")
    if cfg.task == "ner" and cfg.max_vocab and not cfg.prune_vocab:
        out.append(f"max_vocab={cfg.max_vocab} caps the pruned vocabulary, but prune_vocab=false keeps every sub-word: "
                   "set prune_vocab=true or max_vocab=0")
    d = cfg.data
    # data.transfer_factor=0 is the off switch (the distilling NER recipes name a transfer set by default)
    if cfg.task == "ner" and d.transfer_factor > 0 and not d.transfer:
        out.append(f"data.transfer_factor={d.transfer_factor} without data.transfer: name a transfer source "
                   "(augment, pydoc-text, reuters-21578, a text file, conll:PATH, corpus:PATH) or set "
                   "data.transfer_factor=0")
    l = cfg.loss
    if cfg.task == "ner" and d.transfer_factor > 0 and d.transfer and not (l.mse or l.kl or l.hidden):
        out.append(f"data.transfer={_shorthand(d.transfer)!r} makes rows without gold labels, which only the teacher terms "
                   "(loss.mse, loss.kl, loss.hidden) train on, and they are all 0: set data.transfer_factor=0")
    # augmentation settings other than the dataclass's and the recipes' (ENTITY_SWAPS, SPAN_SWAPS) are the user's
    if cfg.task == "ner" and d.transfer_factor > 0 and "augment" not in [s.kind for s in d.transfer] and \
            d.augment not in (AugmentConfig(), ENTITY_SWAPS, SPAN_SWAPS):
        changed = [k for k, v in dataclasses.asdict(d.augment).items() if v != getattr(AugmentConfig(), k)]
        out.append(f"data.augment.{changed[0]} is set but data.transfer={_shorthand(d.transfer)!r}: augmentation "
                   "settings are read only with augment among data.transfer's sources")
    return out


def check_config(cfg: RunConfig) -> RunConfig:
    """Raise one ``ConfigError`` naming every bad field of ``cfg`` (``config_problems``); return ``cfg``."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
    return cfg


def _flat_values(d: dict, prefix: str = "", keep=()) -> dict:
    """Dotted key -> value for a nested config dict (``student.block_args`` and the tables in ``keep`` are
    values, not tables)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and f"{prefix}{k}" not in ("student.block_args", *keep):
            out.update(_flat_values(v, f"{prefix}{k}.", keep))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_config_file(path: str | Path) -> dict:
    """The table of a TOML config file (``--config``); a missing, unreadable, non-UTF-8 or malformed file
    is a ``ConfigError`` naming the file (and the line, where there is one)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {path}: is a folder, not a TOML file (a run writes OUT/config.toml)") from None
    except OSError as e:
        raise ConfigError(f"--config {path}: cannot read it ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte {raw[e.start:e.start + 1]!r}); "
                          "a config file is TOML text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
