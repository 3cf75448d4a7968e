"""Reading and writing a student checkpoint folder: ``config.json`` + ``model.safetensors``.

``config.json`` holds the ``StudentConfig`` fields plus ``"format": "xarchkd-student"``,
``"format_version"`` and ``"weights_sha256"`` (the sha256 of ``model.safetensors``, checked on every load,
so flipped or changed weight bytes are refused; a checkpoint saved before the checksum existed loads
unchecked). Weights are safetensors only (never pickle / ``torch.load``). Each file is
written to a temporary name in the same folder, flushed to disk, then renamed over the old one,
so a crash never leaves a half-written file under the real name. Every problem on reading is a
``CheckpointError`` that names the folder or file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from .config import StudentConfig
from .errors import CheckpointError

FORMAT, FORMAT_VERSION = "xarchkd-student", 1
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
CHECKSUM = "weights_sha256"
_META = ("format", "format_version", CHECKSUM)     # config.json keys that are not StudentConfig fields


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` for a temp file next to ``path``, fsync it, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)          # mkstemp makes it owner-only; a checkpoint is meant to be shared
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_checkpoint(folder: str | os.PathLike, cfg: StudentConfig, state: dict[str, torch.Tensor]) -> None:
    """Write ``state`` (tensor dict, no shared storage) and ``cfg`` into ``folder`` (created if needed)."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    _atomic_write(folder / WEIGHTS_FILE, lambda p: save_file(state, p, metadata={"format": "pt", "xarchkd": FORMAT}))
    text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, CHECKSUM: sha256_file(folder / WEIGHTS_FILE),
                       **cfg.to_dict()}, indent=2)
    _atomic_write(folder / CONFIG_FILE, lambda p: Path(p).write_text(text + "\n"))


def read_config(folder: str | os.PathLike) -> StudentConfig:
    """Read and check ``folder/config.json``; raise ``CheckpointError`` naming the folder on any problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"no student checkpoint at {folder}: the folder does not exist")
    missing = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / n).is_file()]
    if missing:
        raise CheckpointError(f"no student checkpoint at {folder}: missing {' and '.join(missing)}")
    try:
        raw = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint at {folder}: unreadable {CONFIG_FILE} ({e})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint at {folder} is not an xarchkd student ({CONFIG_FILE} has no "
                              f"\"format\": \"{FORMAT}\"; a teacher or another model's folder?)")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint at {folder} has format_version {version!r}; this version of "
                              f"students reads {FORMAT_VERSION}")
    fields = {k: v for k, v in raw.items() if k not in _META}
    try:
        return StudentConfig.from_dict(fields)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint at {folder}: {e}") from None


def read_weights(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read ``folder/model.safetensors``; a file that fails the checksum its ``config.json`` records, or a
    truncated or corrupt one, is a ``CheckpointError``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = Path(folder) / WEIGHTS_FILE
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint at {folder}: {WEIGHTS_FILE} is unreadable or truncated ({e})") from None
    expected = _recorded_checksum(folder)
    if expected is not None and sha256_file(path) != expected:
        raise CheckpointError(f"checkpoint at {folder}: {WEIGHTS_FILE} fails its sha256 checksum (its bytes changed "
                              f"since it was saved: a damaged copy?); {CONFIG_FILE} records {expected[:16]}...")
    return state


def _recorded_checksum(folder) -> str | None:
    """The weights' sha256 that ``folder/config.json`` records, or None (saved before checksums, or unreadable:
    ``read_config`` reports that)."""
    try:
        raw = json.loads((Path(folder) / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    value = raw.get(CHECKSUM) if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def check_state_fits(folder, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], block: str) -> None:
    """Raise ``CheckpointError`` listing a few missing / unexpected / mis-shaped tensors, if any."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                    for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = [f"{what} {items[:3]}{' ...' if len(items) > 3 else ''}"
                 for what, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes))
                 if items]
        raise CheckpointError(f"checkpoint at {folder}: weights do not fit a {block!r} student: " + "; ".join(parts))
