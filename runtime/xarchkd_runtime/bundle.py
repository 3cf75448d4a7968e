"""An exported student folder (``xarchkd export``): what it holds, and reading it back with its checks.

The folder has ``model.onnx`` (word logits: ``input_ids``, ``attention_mask``, ``positions``, ``shapes`` ->
``logits`` ``[B, P, C]``), optionally ``model.int8.onnx`` (the same graph, weights in int8 by ONNX Runtime's
dynamic quantisation), ``tokenizer.json`` (the ``tokenizers`` sub-word tokenizer the student reads) and
``xarchkd_export.json``, the manifest: labels, the decode rule (its allowed IOB2 transitions, and a CRF's
scores), the word split and word-shape rules, the special token ids, ``max_length``, and the sha256 of every
other file, checked when the folder is read. Torch-free: the manifest is plain JSON.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .shapes import RULE

# Version 2 (2026-12-04): a word is read past a SentencePiece tokenizer's bare "▁" piece (``encode``), so an older
# runtime, which would read a multilingual student's words at that piece, refuses a version-2 export. Version 1
# exports (WordPiece students only: export refused the others) read the same under both.
FORMAT, FORMAT_VERSION, READS = "xarchkd-onnx", 2, (1, 2)
MANIFEST, MODEL, MODEL_INT8, TOKENIZER = "xarchkd_export.json", "model.onnx", "model.int8.onnx", "tokenizer.json"
SHAPE_RULES = (RULE,)       # the word-shape rules this runtime implements
INPUTS = ("input_ids", "attention_mask", "positions", "shapes")


class ExportError(Exception):
    """An exported folder that cannot be used: missing, damaged or of another format. Names the file."""


@dataclass
class Bundle:
    """A read and checked export folder."""
    folder: Path
    manifest: dict

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    def model_path(self, int8: bool = False) -> Path:
        """The fp32 or int8 graph; ``ExportError`` when the export has no int8 graph."""
        name = MODEL_INT8 if int8 else MODEL
        if name not in self.manifest["files"]:
            raise ExportError(f"{self.folder}: no {name} (export it with --int8)")
        return self.folder / name


def sha256_file(path) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def is_export(folder) -> bool:
    """Whether ``folder`` holds an exported student (its manifest says so)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_bundle(folder, verify: bool = True) -> Bundle:
    """Read ``folder``'s manifest and (``verify``) check every listed file against its sha256; every problem is an
    ``ExportError`` naming the file."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file (not an exported student folder?)") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: unreadable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: not an xarchkd export (no \"format\": \"{FORMAT}\")")
    if manifest.get("format_version") not in READS:
        raise ExportError(f"{path}: format_version {manifest.get('format_version')!r}; this runtime reads "
                          f"{' and '.join(map(str, READS))} (a newer export needs a newer xarchkd-runtime)")
    rule = manifest.get("word_shapes", {}).get("rule")
    if manifest.get("word_shapes", {}).get("used") and rule not in SHAPE_RULES:
        raise ExportError(f"{path}: word-shape rule {rule!r} is unknown to this runtime (it knows {SHAPE_RULES})")
    for name, digest in manifest.get("files", {}).items():
        f = folder / name
        if not f.is_file():
            raise ExportError(f"{f}: missing (the manifest lists it)")
        if verify and sha256_file(f) != digest:
            raise ExportError(f"{f}: fails its sha256 checksum (damaged or changed since export; "
                              f"{MANIFEST} records {digest[:16]}...)")
    return Bundle(folder, manifest)
