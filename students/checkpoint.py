"""Reading and writing a student checkpoint folder: ``config.json`` + ``model.safetensors``.

``config.json`` holds the ``StudentConfig`` fields plus ``"format": "xarchkd-student"`` and
``"format_version"``. Weights are safetensors only (never pickle / ``torch.load``). Each file is
written to a temporary name in the same folder, flushed to disk, then renamed over the old one,
so a crash never leaves a half-written file under the real name. Every problem on reading is a
``CheckpointError`` that names the folder or file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from .config import StudentConfig
from .errors import CheckpointError

FORMAT, FORMAT_VERSION = "xarchkd-student", 1
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


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
    text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **cfg.to_dict()}, indent=2)
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
    fields = {k: v for k, v in raw.items() if k not in ("format", "format_version")}
    try:
        return StudentConfig.from_dict(fields)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint at {folder}: {e}") from None


def read_weights(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read ``folder/model.safetensors``; a truncated or corrupt file is a ``CheckpointError``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = Path(folder) / WEIGHTS_FILE
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint at {folder}: {WEIGHTS_FILE} is unreadable or truncated ({e})") from None


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
