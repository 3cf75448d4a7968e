"""Masked-LM distillation end to end: corpus -> static masks -> sparse top-k teacher cache -> student -> top-k scores.

``distill_mlm(cfg)`` is what every MLM recipe runs: the MLM teacher (``finetune.mlm_teacher``, or a given one),
the corpus rows and masks (``mlm_data``), the caches (``cache.mlm_cache``), the student trained by
``train.train_student``, and its absolute and relative top-1/top-5 (``metrics.mlm_accuracy``) in results.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from students import StudentConfig, StudentModel

from ..atomic import write_json
from ..config import RunConfig, write_run_config
from ..data.mlm_data import HELDOUT_SEED, MlmExamples, corpus_sentences, mask_rows, split_corpus, text_rows
from ..data.resources import resolve
from ..distill.metrics import mlm_accuracy
from ..distill.predict import masked_logits, student_masked_logits
from ..distill.train import train_student
from ..preflight import check_run
from ..run_lock import run_lock
from ..teachers.cache import mlm_cache
from ..teachers.finetune import mlm_teacher
from ..teachers.teacher import INFO_FILE, MaskedLogits, Teacher, input_embeddings, pca_embeddings


def distill_mlm(cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run one MLM recipe end to end; write ``<out>/results.json`` and return it ({} on the non-main
    ranks of a multi-process launch). One run at a time in a run folder (``run_lock``)."""
    check_run(cfg, "mlm", resume)    # before any work: config, corpus, teacher folder, student block, ...
    with run_lock(cfg.run_folder()):
        return _distill_mlm(cfg, resume, progress)


def _distill_mlm(cfg: RunConfig, resume: bool, progress: bool) -> dict:
    from transformers import AutoTokenizer
    out = cfg.run_folder()
    out.mkdir(parents=True, exist_ok=True)
    write_run_config(cfg, out, resume)
    tpath = _teacher_path(cfg, progress)
    tok = AutoTokenizer.from_pretrained(tpath)
    train, held, train_m, held_m = _masked_splits(cfg, tok)
    k = int(cfg.student.block_args.get("topk", 0)) or 64
    kd = bool(cfg.loss.mse or cfg.loss.kl)
    train_c, held_c = _caches(cfg, tpath, train_m, held_m, k, kd, progress)
    teacher_top1 = np.asarray(held_c.arrays["indices"][:, 0])

    scfg, model = _new_student(cfg, tok, tpath)
    token_map = model.token_map.clone()
    evaluate = lambda m: {"score": (s := mlm_accuracy(student_masked_logits(m, held_m), held_m, teacher_top1))[
        "rel_top5"], **s}
    fit = train_student(model, MlmExamples(train_m, train_c, token_map, tok.pad_token_id), evaluate, cfg.loss,
                        cfg.train, out, resume=resume, progress=progress)
    if not fit["main_process"]:     # other ranks of `accelerate launch`: the main process scores and writes
        return {}
    tok.save_pretrained(out / "student")
    best = StudentModel.from_pretrained(out / "student", block=scfg.block, task="mlm")
    scores = mlm_accuracy(student_masked_logits(best, held_m), held_m, teacher_top1)
    tinfo = _teacher_scores(tpath, held_m, tok)
    results = {
        "recipe": cfg.recipe, "task": "mlm", "kd": kd,
        "teacher": {**held_c.teacher, "top1": tinfo.get("top1"), "top5": tinfo.get("top5")},
        "student": {"arch": scfg.block, "params": best.num_parameters(),
                    "size_mb": round((out / "student" / "model.safetensors").stat().st_size / 1e6, 2), **scores},
        "cache": {"k": k, "train_bytes": train_c.size_bytes if train_c else 0, "held_bytes": held_c.size_bytes,
                  "bytes_per_masked_token": held_c.manifest["bytes_per_item"],
                  "dense_fp16_bytes_per_masked_token": held_c.manifest["dense_fp16_bytes_per_item"]},
        "train_rows": len(train), "held_rows": len(held), "train_seconds": fit["train_seconds"],
        "history": fit["history"], "student_dir": str(out / "student"),
    }
    write_json(out / "results.json", results)
    return results


def _teacher_path(cfg: RunConfig, progress: bool) -> str:
    """The MLM teacher's folder: fine-tuned on the corpus (``teacher.finetune``, reused by fingerprint) or as given."""
    if cfg.teacher.finetune:
        return str(mlm_teacher(cfg.teacher.name, cfg.data.name, epochs=cfg.teacher.epochs, lr=cfg.teacher.lr,
                               batch_size=cfg.teacher.batch_size, max_length=cfg.data.max_length,
                               limit=cfg.data.train_limit, progress=progress,
                               mixed_precision=cfg.train.mixed_precision, cpu=cfg.train.cpu))
    return resolve(cfg.teacher.name)


def _masked_splits(cfg: RunConfig, tok):
    """``(train rows, held-out rows, their masked rows)``: the corpus's rows split, the held-out ones cut to
    ``data.eval_limit``, masked with the run's seed (train) and the fixed ``HELDOUT_SEED`` (held out)."""
    rows = text_rows(corpus_sentences(cfg.data.name, cfg.data.train_limit), tok, cfg.data.max_length)
    train, held = split_corpus(rows)
    if cfg.data.eval_limit:
        held = held[:cfg.data.eval_limit]
    return train, held, mask_rows(train, tok, seed=cfg.train.seed), mask_rows(held, tok, seed=HELDOUT_SEED)


def _caches(cfg: RunConfig, tpath: str, train_m, held_m, k: int, kd: bool, progress: bool):
    """The top-``k`` teacher caches of the masked rows: train (only when a loss distils: ``kd``, else None) and
    held out (always: its top-1 is what relative accuracy compares with)."""
    root = cfg.cache_folder()
    engine = dict(device="cpu" if cfg.train.cpu else "auto", mixed_precision=cfg.train.mixed_precision)
    train_c = mlm_cache(tpath, train_m, root, k=k, progress=progress, **engine) if kd else None
    held_c = mlm_cache(tpath, held_m, root, k=k, progress=progress, **engine)
    return train_c, held_c


def _new_student(cfg: RunConfig, tok, tpath: str):
    """``(StudentConfig, StudentModel)``: an MLM student over the teacher's vocabulary, seeded, with
    (``embed_init = "pca"``) the teacher's input embeddings reduced by PCA."""
    scfg = StudentConfig(**{**cfg.student.__dict__, "task": "mlm", "vocab_size": len(tok), "pad_id": tok.pad_token_id,
                            "unk_id": tok.unk_token_id, "num_labels": 0, "labels": []})
    scfg.block_args = {k2: v for k2, v in scfg.block_args.items() if k2 != "topk"}
    torch.manual_seed(cfg.train.seed)
    model = StudentModel(scfg)
    if cfg.embed_init == "pca":
        model.init_embeddings(pca_embeddings(input_embeddings(tpath), scfg.embed_dim))
    return scfg, model


def _teacher_scores(tpath: str, held_m, tok) -> dict:
    """The teacher's record, with its top-1/top-5 on the held-out masks (computed here when it does not have them)."""
    tinfo = json.loads((Path(tpath) / INFO_FILE).read_text()) if (Path(tpath) / INFO_FILE).is_file() else {}
    if "top1" not in tinfo:
        tinfo.update(mlm_accuracy(masked_logits(MaskedLogits(Teacher.load(tpath, "mlm").model), held_m,
                                                tok.pad_token_id), held_m))
    return tinfo
