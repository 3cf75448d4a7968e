"""Loading a model folder, the one way every command does it (runs, cache, eval, predict, fill, serve, bench):

- ``load_teacher``: a Hugging Face token-classification or masked-LM folder (a resource name, a local folder
  or a Hub id) as a ``Teacher``, its checksums checked when it was fine-tuned here; a folder without a
  token-classification head gets a random one when ``labels`` are given (the benchmark times such encoders).
- ``load_student``: a student folder as ``(StudentModel, tokenizer, folder)``; the tokenizer is the folder's
  own, else one given (a teacher's) of the same vocabulary size.
- ``load_model``: whichever of the two a folder holds (``eval`` and ``predict`` take either).
"""
from __future__ import annotations

import json
from pathlib import Path

from .data.resources import resolve
from .errors import ConfigError, ResourceError
from .folder_config import folder_config, has_ner_head, is_student  # noqa: F401  (part of this module's API)


def load_teacher(name_or_path: str, task: str = "ner", labels: list[str] | None = None, device="auto",
                 mixed_precision: str = "no"):
    """A ``Teacher`` from a resource name, a local folder or a Hub id, on ``device`` (``"auto"``: this process's
    GPU if there is one, else the CPU), to run under ``mixed_precision`` autocast. ``labels`` (NER): for a folder
    without a token-classification head, a random head with these labels is attached (its tags mean nothing)."""
    from .teachers.teacher import Teacher
    return Teacher.load(name_or_path, task, labels, device, mixed_precision)


def load_student(name_or_path: str, tokenizer=None, task: str | None = None):
    """``(StudentModel, tokenizer, folder)`` for a student folder, in eval mode. The tokenizer is the folder's own
    when it has one; else ``tokenizer`` (a tokenizer, or a teacher folder to read it from) when its vocabulary
    size is the student's. ``task`` ("ner"/"mlm"), when given, must be the student's."""
    from transformers import AutoTokenizer
    from students import StudentModel
    folder = Path(resolve(name_or_path))
    model = StudentModel.from_pretrained(folder, task=task).eval()
    if (folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file():
        # fix_mistral_regex=False: transformers 5 takes a folder whose config.json has no model_type (a student's)
        # for an old Mistral one and warns of "incorrect tokenization" for an XLM-R tokenizer; nothing is patched
        return model, AutoTokenizer.from_pretrained(str(folder), fix_mistral_regex=False), folder
    if isinstance(tokenizer, (str, Path)):
        tokenizer = AutoTokenizer.from_pretrained(resolve(tokenizer))
    if tokenizer is None or len(tokenizer) != model.cfg.vocab_size:
        raise ConfigError(f"{folder} is a student without a tokenizer" + (
            "" if tokenizer is None else f", and the teacher's has {len(tokenizer)} ids, not {model.cfg.vocab_size}")
            + f": copy the tokenizer files (tokenizer.json ...) of the teacher it was distilled from into {folder}"
            + (", or pass that teacher with --teacher where the command has it" if tokenizer is None else ""))
    return model, tokenizer, folder


def _check_config_json(folder) -> None:
    """``ResourceError`` naming a folder's ``config.json`` when it is there but not JSON (a student's or a
    teacher's: which one it is cannot be told, so neither loader's message would be right)."""
    f = Path(folder) / "config.json"
    if not f.is_file():
        return
    try:
        json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResourceError(f"{f}: not valid JSON ({e}): the model folder's config is damaged") from None


def check_ner_teacher(name_or_path: str, path) -> None:
    """``ResourceError`` when folder ``path`` holds a model without a token-classification head (a masked-LM or a
    bare encoder): loaded for NER it would get a random 2-label head and tag every word ``LABEL_0``."""
    archs = folder_config(path).get("architectures") or []
    if archs and not has_ner_head(path):
        raise ResourceError(f"{name_or_path}: a {'/'.join(archs)} model, not a NER model (no token-classification "
                            "head): give a NER student or a teacher fine-tuned for NER (`xarchkd teacher`)")


def load_model(name_or_path: str, tokenizer=None):
    """``(kind, model, tokenizer)`` for a NER student (``kind`` "student"; ``tokenizer`` as for ``load_student``)
    or a NER teacher folder ("teacher", a ``Teacher``); a masked-LM model of either kind is refused."""
    path = resolve(name_or_path)
    _check_config_json(path)
    if is_student(path):
        model, tok, _ = load_student(name_or_path, tokenizer, task="ner")
        return "student", model, tok
    check_ner_teacher(name_or_path, path)
    t = load_teacher(name_or_path, "ner")
    return "teacher", t, t.tokenizer
