"""What a model folder's JSON files say, read without loading the model (and without torch): its
``config.json`` (``folder_config``), whether it holds an xarchkd student (``is_student``), whether its model
has a token-classification head (``has_ner_head``), its labels (``config_labels``) and how many sub-words it reads (``position_room``)."""
from __future__ import annotations

import json
from pathlib import Path


def read_json_object(path) -> dict:
    """A JSON file holding an object, as a dict ({} when there is none, or it is unreadable or not an object)."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def folder_config(folder) -> dict:
    """A folder's ``config.json`` as a dict ({} when it has none or it is unreadable)."""
    return read_json_object(Path(folder) / "config.json")


def is_student(folder) -> bool:
    """Whether ``folder`` holds an xarchkd student (its config.json says so)."""
    from students.checkpoint import FORMAT
    return folder_config(folder).get("format") == FORMAT


def config_labels(cfg: dict) -> list[str]:
    """The labels of a model's config dict, in id order (``id2label``; [] when it has none)."""
    id2label = cfg.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))]


def has_ner_head(folder) -> bool:
    """Whether a teacher folder's model has a token-classification head (its config's ``architectures``)."""
    return any(a.endswith("ForTokenClassification") for a in folder_config(folder).get("architectures") or [])


# model types whose positions start at padding_idx + 1 (two fewer sub-words than position embeddings)
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "mpnet", "camembert", "longformer")


def position_room(cfg: dict) -> tuple[int, int] | None:
    """``(max_position_embeddings, sub-words the model reads)`` of a model's config dict (RoBERTa-style models
    read two fewer), or None when the config does not say."""
    limit = cfg.get("max_position_embeddings") if isinstance(cfg, dict) else None
    if not isinstance(limit, int) or isinstance(limit, bool):
        return None
    return limit, limit - 2 if cfg.get("model_type") in OFFSET_POSITIONS else limit
