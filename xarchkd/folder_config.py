"""What a model folder's JSON files say, read without loading the model (and without torch): its
``config.json`` (``folder_config``), whether it holds an xarchkd student (``is_student``) and whether its model
has a token-classification head (``has_ner_head``)."""
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


def has_ner_head(folder) -> bool:
    """Whether a teacher folder's model has a token-classification head (its config's ``architectures``)."""
    return any(a.endswith("ForTokenClassification") for a in folder_config(folder).get("architectures") or [])
