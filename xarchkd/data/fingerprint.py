"""Content fingerprints: sha256 over files, arrays and settings. Used to key caches and teachers."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
# A model saved in shards (save_pretrained's max_shard_size): its index and every shard.
SHARD_PATTERNS = ("model.safetensors.index.json", "model-*-of-*.safetensors", "pytorch_model.bin.index.json",
                  "pytorch_model-*-of-*.bin")


def hash_file(path: str | Path, h=None, chunk: int = 1 << 22):
    """Feed a file's bytes into ``h`` (a new sha256 if None) and return it."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h


def model_files(path: str | Path, names=WEIGHT_FILES + TOKENIZER_FILES) -> list[Path]:
    """The files of a model folder that define it: the named ones that exist, then a sharded model's index
    and shards (``SHARD_PATTERNS``, sorted by name)."""
    path = Path(path)
    files = [path / n for n in names if (path / n).is_file()]
    return files + [p for pattern in SHARD_PATTERNS for p in sorted(path.glob(pattern)) if p.is_file()]


def hash_model_dir(path: str | Path, names=WEIGHT_FILES + TOKENIZER_FILES) -> str:
    """sha256 over the files of a model folder that exist (weights -- every shard of a sharded model --,
    config, tokenizer; ``model_files``)."""
    h = hashlib.sha256()
    path = Path(path)
    found = False
    for p in model_files(path, names):
        found = True
        h.update(p.name.encode())
        hash_file(p, h)
    if not found:  # a Hub id or an unusual layout: fall back to the name itself
        h.update(str(path).encode())
    return h.hexdigest()


def file_checksums(path: str | Path) -> dict[str, str]:
    """``{file name: sha256}`` of a model folder's files (``model_files``): what a teacher built here records
    so a later load can tell its bytes are the ones it saved."""
    return {p.name: hash_file(p).hexdigest() for p in model_files(path)}


def checksum_problem(path: str | Path, recorded: dict) -> str | None:
    """What differs between a folder's files and ``recorded`` (``file_checksums`` output), or None."""
    for name, digest in sorted(recorded.items()):
        p = Path(path) / name
        if not p.is_file():
            return f"{name} is missing"
        if hash_file(p).hexdigest() != digest:
            return f"{name} fails its sha256 checksum (its bytes changed since it was saved)"
    return None


def hash_arrays(arrays, chunk: int = 1 << 24) -> str:
    """sha256 over each array's dtype, shape and bytes. Fed ``chunk`` bytes at a time (the digest is the same
    as of the whole bytes), and a memmapped array's pages are unmapped after each chunk, so hashing an array
    larger than memory keeps a flat resident set."""
    from .memmaps import drop_pages
    h = hashlib.sha256()
    for given in arrays:
        a = np.ascontiguousarray(given)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        flat = a.reshape(-1).view(np.uint8) if a.size else np.zeros(0, np.uint8)
        for i in range(0, len(flat), chunk):
            h.update(flat[i:i + chunk])
            drop_pages(given)
    return h.hexdigest()


def hash_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def open_checked_npy(f: Path, meta: dict | None, where: str, verify: bool = True) -> np.ndarray:
    """Memory-map ``f`` (read-only) after checking it against its manifest entry ``meta`` (``bytes``, ``sha256``;
    the hash only with ``verify``). ``where`` starts each error ("cache at DIR"). Raises ``CacheError``."""
    from ..errors import CacheError
    if meta is None or not f.is_file():
        raise CacheError(f"{where} is missing {f.name}")
    if f.stat().st_size != meta["bytes"]:
        raise CacheError(f"{where}: {f.name} is truncated or changed ({f.stat().st_size} bytes, expected {meta['bytes']})")
    if verify and hash_file(f).hexdigest() != meta["sha256"]:
        raise CacheError(f"{where}: {f.name} fails its sha256 checksum (corrupt)")
    return np.load(f, mmap_mode="r", allow_pickle=False)
