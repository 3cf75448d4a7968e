"""The local paths of a run's config, so that ``--resume`` knows the same run however its paths are spelt.

A run writes its config with these paths absolute (``absolute``), so ``--config OUT/config.toml`` reads the
same inputs from any directory, and records each input's content fingerprint in ``OUT/inputs.json``
(``write_inputs``). ``same_input`` then compares an old and a new value: by content where it was recorded
(a moved or copied data folder is the same input; a changed one is not), else by resolved path.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

from .atomic import write_json

# dotted config keys that hold local paths (or resource names / Hub ids, left as they are)
PATH_KEYS = ("out", "cache_dir", "init_from", "teacher.name", "teacher.also", "data.name", "data.augment.names")
INPUTS_FILE = "inputs.json"


def parts(key: str, value) -> list[str]:
    """The path-like parts of a value: a list's items, a masked-LM ``data.name``'s ``+``-joined parts."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if not value:
        return []
    return str(value).split("+") if key == "data.name" else [str(value)]


def _local(part: str) -> str | None:
    """``part`` as an absolute path when it names an existing local file or folder (not a resource name)."""
    from .data.resources import RESOURCES
    p = os.path.expanduser(part)
    return os.path.abspath(p) if part not in RESOURCES and os.path.exists(p) else None


def _absolute_value(key: str, value):
    if key in ("out", "cache_dir"):
        return os.path.abspath(os.path.expanduser(value)) if value else value
    new = [_local(p) or p for p in parts(key, value)]
    return new if isinstance(value, (list, tuple)) else "+".join(new) if new else value


def absolute(cfg):
    """A copy of ``cfg`` with each local path of ``PATH_KEYS`` absolute (resource names and Hub ids kept)."""
    cfg = copy.deepcopy(cfg)
    for key in PATH_KEYS:
        *tables, name = key.split(".")
        obj = cfg
        for t in tables:
            obj = getattr(obj, t)
        setattr(obj, name, _absolute_value(key, getattr(obj, name)))
    return cfg


def fingerprint(path: str) -> str:
    """sha256 of a file's bytes, or of a folder's top-level files (names and bytes; a model folder: its
    model files, as the caches' fingerprints take them)."""
    from .data.fingerprint import hash_file, hash_model_dir, model_files
    p = Path(path)
    if p.is_file():
        return hash_file(p).hexdigest()
    if model_files(p):
        return hash_model_dir(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.iterdir() if x.is_file()):
        h.update(f.name.encode())
        hash_file(f, h)
    return h.hexdigest()


def write_inputs(cfg, out: Path) -> None:
    """Record ``{absolute path: fingerprint}`` of the run's local inputs in ``out/inputs.json``."""
    rec = {}
    for key in PATH_KEYS:
        if key in ("out", "cache_dir"):
            continue
        obj = cfg
        for t in key.split("."):
            obj = getattr(obj, t)
        for part in parts(key, obj):
            if (a := _local(part)) is not None:
                rec[a] = fingerprint(a)
    write_json(Path(out) / INPUTS_FILE, rec)


def read_inputs(out: Path) -> dict:
    """``out/inputs.json`` ({} when the run folder predates it or it is unreadable)."""
    try:
        rec = json.loads((Path(out) / INPUTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def same_input(key: str, old, new, recorded: dict) -> bool:
    """Whether config value ``old`` (as the run saved it) and ``new`` name the same inputs: part by part,
    equal strings, or -- for a local path -- the same content as recorded in ``recorded`` (else the same
    resolved path)."""
    a, b = parts(key, old), parts(key, new)
    if len(a) != len(b):
        return False
    for o, n in zip(a, b):
        if o == n and o not in recorded:
            continue
        n_abs = _local(n)
        if n_abs is None:
            if o != n:
                return False
            continue
        o_abs = os.path.abspath(os.path.expanduser(o))
        if o_abs in recorded:
            if fingerprint(n_abs) != recorded[o_abs]:
                return False
        elif os.path.realpath(o_abs) != os.path.realpath(n_abs):
            return False
    return True
