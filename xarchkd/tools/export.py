"""``xarchkd export STUDENT OUT [--int8]``: a NER student as a folder that ONNX Runtime runs without PyTorch.

OUT gets ``model.onnx`` (``onnx_graph``: the word-logits graph, checked against the student at several lengths and
in a padded batch), with ``--int8`` also ``model.int8.onnx``, the student's sub-word tokenizer as
``tokenizer.json`` (checked to split sample text as the training side does), and ``xarchkd_export.json`` (see
``xarchkd_runtime.bundle``): labels, decode rule, word split and word-shape rules, special ids, sha256 of every file.
``xarchkd_runtime.Tagger`` and ``xarchkd predict OUT`` read it. OUT is written beside itself and published by
one rename; an existing OUT is replaced only if it is an export.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..atomic import write_dir
from ..data import ner_data
from ..data.text import WORD_RE
from ..errors import ConfigError

from xarchkd_runtime import shapes
from xarchkd_runtime.bundle import (FORMAT, FORMAT_VERSION, MANIFEST, MODEL, MODEL_INT8, SHAPE_RULES, TOKENIZER,
                              ExportError, is_export, read_bundle, sha256_file)

MAX_LENGTH = 128           # sub-words per row, as eval and predict encode
SAMPLE = ["Angela Merkel visited Paris on Monday .", "EU rejects German call to boycott British lamb .",
          "Ünïcode naïve café — 1,000 U.S. dollars ( $ 3.5bn ) !", "xyzzyqwv Blackburn-Rovers O'Neill",
          "Путин посетил « Газпром » в Новосибирске .", "東京 は 日本 の 首都 です 。"]   # XLM-R: "▁" + "Газпром"


def _decode_rule(model) -> dict:
    from ..distill.decode import allowed_transitions
    start, trans = allowed_transitions(model.cfg.labels)
    rule = {"rule": model.cfg.decode, "allowed_start": start.tolist(), "allowed_trans": trans.tolist()}
    if model.cfg.decode == "crf":
        rule["crf"] = {k: getattr(model.crf, k).detach().float().tolist() for k in ("start", "trans", "end")}
    return rule


def _check_tokenizer(tok, manifest: dict, tokenizer_json: Path) -> None:
    """The runtime's rows of ``SAMPLE`` must be the training side's (``ner_data.encode_sentences``)."""
    from tokenizers import Tokenizer
    from xarchkd_runtime.encode import Encoder
    words = [s.split() for s in SAMPLE]
    ref = ner_data.encode_sentences(words, None, tok, manifest["labels"], MAX_LENGTH)
    got = Encoder(manifest, Tokenizer.from_file(str(tokenizer_json))).rows(words)
    same = len(got) == len(ref) and all(
        r.ids == list(map(int, ids)) and r.word_pos == list(map(int, pos)) and r.shapes == list(map(int, shp))
        for r, ids, pos, shp in zip(got, ref.input_ids, ref.word_pos, ref.shapes))
    if not same:
        raise ExportError(f"{tokenizer_json}: the exported tokenizer splits sample text unlike the student's own")


def export_student(student: str, out: str, int8: bool = False, tokenizer=None) -> dict:
    """Export the NER student folder ``student`` into ``out`` (``tokenizer``: a teacher folder or tokenizer, for a
    student saved without its own); returns the manifest."""
    from ..load import load_student
    from .onnx_graph import OPSET, check_graph, quantize, to_onnx
    model, tok, folder = load_student(student, tokenizer)
    cfg = model.cfg
    if cfg.task != "ner":
        raise ConfigError(f"{student} is a {cfg.task!r} student: export is for ner students")
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"{student}: its tokenizer is not a fast (tokenizers) one, which the runtime needs")
    out_p = Path(out)
    if out_p.exists() and any(out_p.iterdir()) and not is_export(out_p):
        raise ConfigError(f"{out} exists and is not an export folder: give a new or empty folder")
    weights = json.loads((folder / "config.json").read_text()).get("weights_sha256")
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "block": cfg.block, "labels": list(cfg.labels),
        "decode": _decode_rule(model),
        "word_shapes": {"used": bool(cfg.word_shapes), "rule": SHAPE_RULES[0],
                        "ids": dict(shapes.NAMES)},
        "words": {"pattern": WORD_RE.pattern, "flags": "X"},
        "special_ids": {"cls": tok.cls_token_id, "sep": tok.sep_token_id, "unk": tok.unk_token_id,
                        "pad": tok.pad_token_id if tok.pad_token_id is not None else cfg.pad_id},
        "mask_token": tok.mask_token, "max_length": MAX_LENGTH, "opset": OPSET,
        "source": {"student": str(folder), "weights_sha256": weights, "params": model.num_parameters()},
    }

    def save(tmp: Path) -> None:
        backend = tok.backend_tokenizer
        backend.no_truncation()
        backend.no_padding()
        backend.save(str(tmp / TOKENIZER))
        _check_tokenizer(tok, manifest, tmp / TOKENIZER)
        to_onnx(model, tmp / MODEL)
        manifest["checks"] = {"fp32": check_graph(model, tmp / MODEL)}
        if int8:        # int8 changes the numbers by design: its difference is recorded, not held to a bound
            quantize(tmp / MODEL, tmp / MODEL_INT8)
            manifest["checks"]["int8"] = check_graph(model, tmp / MODEL_INT8, tol=float("inf"))
        manifest["files"] = {n: sha256_file(tmp / n) for n in (MODEL, MODEL_INT8, TOKENIZER) if (tmp / n).is_file()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        read_bundle(tmp)

    try:
        write_dir(out_p, save)
    except BaseException:
        shutil.rmtree(out_p.with_name(out_p.name + ".tmp"), ignore_errors=True)
        raise
    return manifest
