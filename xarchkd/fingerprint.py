"""Content fingerprints: sha256 over files, arrays and settings. Used to key caches and teachers."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def hash_file(path: str | Path, h=None, chunk: int = 1 << 22):
    """Feed a file's bytes into ``h`` (a new sha256 if None) and return it."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h


def hash_model_dir(path: str | Path, names=WEIGHT_FILES + TOKENIZER_FILES) -> str:
    """sha256 over the named files of a model folder that exist (weights, config, tokenizer)."""
    h = hashlib.sha256()
    path = Path(path)
    found = False
    for name in names:
        p = path / name
        if p.is_file():
            found = True
            h.update(name.encode())
            hash_file(p, h)
    if not found:  # a Hub id or an unusual layout: fall back to the name itself
        h.update(str(path).encode())
    return h.hexdigest()


def hash_arrays(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def hash_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
