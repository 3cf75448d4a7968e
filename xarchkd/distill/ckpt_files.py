"""The training checkpoint's own check: ``checkpoints/last`` records each file's size and sha256 in its
``trainer_state.json`` (``files``), the checkpoint before it is kept as ``checkpoints/previous``, and
``--resume`` names a damaged file -- and offers the previous checkpoint when it is intact -- instead of
failing inside torch, safetensors or json (issue 29.10)."""
from __future__ import annotations

import json
from pathlib import Path

from ..data.fingerprint import hash_file
from ..errors import CheckpointError

STATE_FILE = "trainer_state.json"
PREVIOUS = "previous"


def manifest(folder: Path) -> dict:
    """``{file name: {"bytes": n, "sha256": hex}}`` of a checkpoint folder's files (all but the state file)."""
    return {f.name: {"bytes": f.stat().st_size, "sha256": hash_file(f).hexdigest()}
            for f in sorted(Path(folder).iterdir()) if f.is_file() and f.name != STATE_FILE}


def read_state(ckpt: Path) -> dict:
    """The checkpoint's loop state, its files checked against their record; ``CheckpointError`` naming the
    first damaged file (with the previous checkpoint offered when it is intact)."""
    problem = _problem(ckpt)
    if problem:
        raise CheckpointError(f"--resume: {problem}{offer_previous(ckpt)}")
    state = json.loads((ckpt / STATE_FILE).read_text())
    state.pop("files", None)
    return state


def _problem(ckpt: Path) -> str | None:
    """What is wrong with checkpoint folder ``ckpt``, or None (a checkpoint from before the record: unchecked)."""
    f = ckpt / STATE_FILE
    if not f.is_file():
        return f"no finished checkpoint in {ckpt} (nothing to resume; run without it)"
    try:
        state = json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return f"{f} is corrupt (not JSON: {e})"
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        return f"{f} is corrupt (no epoch)"
    for name, rec in sorted((state.get("files") or {}).items()):
        p = ckpt / name
        if not p.is_file():
            return f"{p} is missing (the checkpoint lists it)"
        if p.stat().st_size != rec.get("bytes"):
            return f"{p} is truncated or changed ({p.stat().st_size} bytes, expected {rec.get('bytes')})"
        if hash_file(p).hexdigest() != rec.get("sha256"):
            return f"{p} fails its sha256 checksum (corrupt)"
    return None


def offer_previous(ckpt: Path) -> str:
    """``; the run's previous checkpoint (after epoch E) is intact: ...`` when ``checkpoints/previous`` passes its
    checks, else ''."""
    prev = ckpt.with_name(PREVIOUS)
    if ckpt.name == PREVIOUS or not prev.is_dir() or _problem(prev) is not None:
        return ""
    epoch = json.loads((prev / STATE_FILE).read_text())["epoch"]
    return (f"; the run's previous checkpoint (after epoch {epoch}) is intact: to resume from it, "
            f"rm -r {ckpt} && mv {prev} {ckpt}")


def load_error(ckpt: Path, e: Exception) -> CheckpointError:
    """A checkpoint whose files pass their record (or predate it) but do not load: one line, and the offer."""
    why = (str(e).strip().splitlines() or [""])[0][:200]
    return CheckpointError(f"--resume: cannot load the checkpoint in {ckpt} ({type(e).__name__}: {why}): a damaged "
                           f"file?{offer_previous(ckpt)}")
