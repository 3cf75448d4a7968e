"""NER distillation end to end: rows -> cached teacher logits -> student -> seqeval scores.

``distill_ner(cfg)`` is what every NER recipe runs. It loads no teacher model when
the cache already exists: teacher facts for the report come from the cache manifest
or the teacher folder's files.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from students import StudentConfig, StudentModel

from ..atomic import write_json
from ..disk import saving
from ..config import RunConfig, write_run_config
from ..data.disk_examples import ner_examples   # NerExamples, or DiskNerExamples for rows on disk
from ..data.ner_data import SPLITS, Rows, encode_sentences, first, folder_scheme, load_splits
from ..data.resources import resolve
from ..distill.metrics import evaluate_tags
from ..distill.predict import predict_student
from ..distill.train import train_student
from ..errors import DataError
from ..folder_config import config_labels, folder_config
from ..preflight import check_run, say_plan
from ..run_lock import run_lock
from ..teachers.cache import Cache, ner_cache, static_table
from ..teachers.finetune import ner_teacher
from ..teachers.teacher import input_embeddings, pca_embeddings, teacher_summary


class Split(NamedTuple):
    rows: Rows
    tags: list        # gold tags per sentence
    words: list       # words per sentence


def build_vocab_map(rows_list, vocab_size: int, keep_ids, max_rows: int = 0) -> tuple[torch.Tensor, list[int]]:
    """Map teacher token ids to compact embedding rows: ids seen in ``rows_list`` plus ``keep_ids``
    (special tokens) get rows; every other id maps to the [UNK] row (``keep_ids[0]`` must be UNK).
    ``max_rows`` > 0 caps the rows: the special tokens and then the most frequent ids (ties: the lower id)."""
    seen = set(int(k) for k in keep_ids)
    # Rows, or an on-disk RowStore (which counted its ids as it was written)
    counts = sum(rows.id_counts(vocab_size) for rows in rows_list)
    counts[list(seen)] = 0
    order = np.argsort(-counts, kind="stable")          # most frequent first, lower id first among equals
    seen.update(int(i) for i in (order[:max(0, max_rows - len(seen))] if max_rows else order) if counts[i] > 0)
    kept = [int(keep_ids[0])] + sorted(seen - {int(keep_ids[0])})
    token_map = torch.zeros(vocab_size, dtype=torch.long)  # row 0 = UNK
    token_map[torch.as_tensor(kept)] = torch.arange(len(kept))
    return token_map, kept


def prepare_ner(cfg: RunConfig, progress: bool = True):
    """Teacher folder, tokenizer, label list, and encoded train/valid/test rows for a NER run."""
    from transformers import AutoTokenizer
    tpath = teacher_folder(cfg, cfg.teacher.name, progress)
    tok = AutoTokenizer.from_pretrained(tpath)
    labels = config_labels(folder_config(tpath))
    splits = load_splits(cfg.data.name, cfg.data.scheme, need=SPLITS)
    data_labels = sorted({t for s in splits.values() for seq in s["tags"] for t in seq})
    missing = [t for t in data_labels if t not in labels]
    if missing:
        raise DataError(f"the data has tags {missing} that the teacher does not know (teacher labels: {labels}); "
                        "fine-tune a teacher on this data (teacher.finetune=true) or fix the tag set",
                        str(resolve(cfg.data.name)))
    rows = {}
    for name, ds in splits.items():
        ds = first(ds, cfg.data.train_limit if name == "train" else cfg.data.eval_limit)
        words, tags = list(ds["words"]), list(ds["tags"])
        rows[name] = Split(encode_sentences(words, tags, tok, labels, cfg.data.max_length,
                                            source=f"{cfg.data.name}/{name}"), tags, words)
    return tpath, tok, labels, rows


def teacher_folder(cfg: RunConfig, name: str, progress: bool = True) -> str:
    """The folder of teacher ``name`` (``teacher.name`` or one of ``teacher.also``): fine-tuned on the data's
    train split (reused by fingerprint) with ``teacher.finetune``, else the token-classification model as named."""
    if not cfg.teacher.finetune:
        return resolve(name)
    return str(ner_teacher(name, cfg.data.name, epochs=cfg.teacher.epochs, lr=cfg.teacher.lr,
                           batch_size=cfg.teacher.batch_size, max_length=cfg.data.max_length,
                           mixed_precision=cfg.train.mixed_precision, cpu=cfg.train.cpu, progress=progress,
                           scheme=cfg.data.scheme, min_steps=cfg.teacher.min_steps,
                           train_limit=cfg.data.train_limit))


def teacher_caches(cfg: RunConfig, tpath: str, also: list[str], rows, cache_root: Path, progress: bool = True,
                   **engine) -> Cache:
    """The teacher-logits cache of ``rows``: the teacher's own, or with ``teacher.also`` (their folders: ``also``)
    the mean of every teacher's logits over the same words (``teachers/ensemble.py``; each cache built apart)."""
    own = ner_cache(tpath, rows, cache_root, hidden=bool(cfg.loss.hidden), progress=progress, **engine)
    if not also:
        return own
    from transformers import AutoTokenizer
    from ..teachers.ensemble import mean_cache, rows_for, teacher_positions
    caches, names = [own], [cfg.teacher.name]
    for name, path in zip(cfg.teacher.also, also):
        other = rows_for(rows, AutoTokenizer.from_pretrained(path), teacher_positions(path))
        caches.append(ner_cache(path, other, cache_root, progress=progress, **engine))
        names.append(name)
    return mean_cache(caches, names)


def build_student(cfg: RunConfig, tok, labels: list[str], tpath: str, rows_list,
                  static: torch.Tensor | None = None) -> StudentModel:
    """A fresh NER student for ``cfg``: sized to the teacher's tokenizer and labels, its embedding table pruned
    to the sub-words of ``rows_list`` (``prune_vocab``), given the frozen teacher-view
    table ``static`` (``static_dim``; ``teachers.cache.static_table``), PCA-initialised from the teacher's
    input embeddings (``embed_init``) and started from ``init_from`` where those say so."""
    scfg = StudentConfig(**{**cfg.student.__dict__, "task": "ner", "vocab_size": len(tok),
                            "num_labels": len(labels), "labels": labels, "pad_id": tok.pad_token_id,
                            "unk_id": tok.unk_token_id})
    token_map = kept = None
    if cfg.prune_vocab:
        specials = [tok.unk_token_id, tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id]
        token_map, kept = build_vocab_map(rows_list, len(tok), [s for s in specials if s is not None],
                                          cfg.max_vocab)
        scfg.kept_vocab = len(kept)
    torch.manual_seed(cfg.train.seed)
    model = StudentModel(scfg)
    if token_map is not None:
        model.set_vocab(token_map)
    if scfg.static_dim:
        model.set_static(static)
    if cfg.embed_init == "pca":
        emb = input_embeddings(tpath)
        model.init_embeddings(pca_embeddings(emb[torch.as_tensor(kept)] if kept else emb, scfg.embed_dim))
    if cfg.init_from:
        init_student_from(model, cfg.init_from)
    return model


def distill_ner(cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run one NER recipe end to end; write ``<out>/results.json`` and return it ({} on the non-main
    ranks of a multi-process launch). One run at a time in a run folder (``run_lock``)."""
    check_run(cfg, "ner", resume)    # before any work: config, data folder, teacher folder, student block, ...
    with run_lock(cfg.run_folder()):
        return _distill_ner(cfg, resume, progress)


def _distill_ner(cfg: RunConfig, resume: bool, progress: bool) -> dict:
    if os.environ.get("RANK", "0") == "0":
        say_plan(cfg, progress)      # what the run will fetch, fine-tune, label and train, a rough time, disk room
    out = cfg.run_folder()
    out.mkdir(parents=True, exist_ok=True)
    write_run_config(cfg, out, resume)
    tpath, tok, labels, rows = prepare_ner(cfg, progress)                       # 1. teachers and rows
    also = [teacher_folder(cfg, name, progress) for name in cfg.teacher.also]
    cache_root = cfg.cache_folder()
    # the teacher builds its caches where training runs: on the GPU when there is one, in the run's precision
    engine = dict(device="cpu" if cfg.train.cpu else "auto", mixed_precision=cfg.train.mixed_precision)
    parts = labelled_parts(cfg, tpath, also, tok, labels, rows["train"], cache_root, progress, engine)  # 2. caches
    model = build_student(cfg, tok, labels, tpath, [r for r, _ in parts],                        # 3. student
                          student_table(cfg, tpath, tok, labels, cache_root, progress, engine))
    valid_rows, valid_tags, _ = rows["valid"]
    evaluate = lambda m: {"score": evaluate_tags(predict_student(m, valid_rows), valid_rows, valid_tags)["f1"]}
    examples = ner_examples(parts, tok.pad_token_id)    # NerExamples, or DiskNerExamples when rows are on disk
    kd = parts[0][1] is not None
    hidden_size = parts[0][1].arrays["hidden"].shape[1] if kd and cfg.loss.hidden else 0
    uploader = None
    if cfg.upload:
        from ..distill.upload import checkpoint_uploader
        uploader = checkpoint_uploader(cfg.upload, out)
    train_cfg = cfg.train.for_rows(len(examples))      # small sets: enough epochs for train.min_steps
    if train_cfg.epochs != cfg.train.epochs and os.environ.get("RANK", "0") == "0":
        print(f"[xarchkd] {len(examples)} training rows: {cfg.train.epochs} -> {train_cfg.epochs} epochs to reach "
              f"train.min_steps={cfg.train.min_steps} optimizer steps (set train.min_steps=0 to keep "
              f"train.epochs)", flush=True)
    if os.environ.get("RANK", "0") == "0":     # the best student so far is usable as it is, should the run stop
        if not resume:                         # a new run into an old folder: no old weights beside its tokenizer
            shutil.rmtree(out / "student", ignore_errors=True)
        tok.save_pretrained(out / "student")   # a self-contained folder (predict/serve/bench/export)
        write_student_record(out / "student", cfg, tpath)     # ... that knows its data (xarchkd eval's default)
    fit = train_student(model, examples, evaluate, cfg.loss, train_cfg, out, resume=resume, progress=progress,  # 4.
                        teacher_hidden_size=hidden_size, on_checkpoint=uploader)
    if not fit["main_process"]:     # other ranks of `accelerate launch`: the main process scores and writes
        return {}
    results = score_and_record(cfg, out, tpath, also, rows["test"], parts, fit, len(examples))   # 5. record
    if uploader is not None:
        uploader(out / "student")
    return results


def labelled_parts(cfg: RunConfig, tpath: str, also: list[str], tok, labels, train: Split, cache_root: Path,
                   progress: bool, engine: dict) -> list:
    """``(rows, teacher cache)`` for the training rows and each transfer part (cache None without a teacher term)."""
    kd = bool(cfg.loss.mse or cfg.loss.kl or cfg.loss.hidden)
    own = teacher_caches(cfg, tpath, also, train.rows, cache_root, progress, **engine) if kd else None
    parts = [(train.rows, own)]
    if cfg.data.transfer and cfg.data.transfer_factor > 0:
        from ..data.transfer import transfer_parts
        for extra in transfer_parts(cfg, tok, labels, train.words, train.tags, progress=progress):
            parts.append((extra, teacher_caches(cfg, tpath, also, extra, cache_root, progress, **engine)))
    return parts


def student_table(cfg: RunConfig, tpath: str, tok, labels, cache_root: Path, progress: bool, engine: dict):
    """The student's frozen ``static_dim`` table: the teacher's view of each sub-word, or (``static_source=input``,
    the -nokd twins') its input embeddings, no forward pass; None without a table."""
    if not cfg.student.static_dim:
        return None
    if cfg.student.static_source == "input":
        # a matrix padded past the tokenizer (a multiple of 8, say) keeps the tokenizer's rows
        return pca_embeddings(input_embeddings(tpath)[:len(tok)], cfg.student.static_dim)
    return static_table(tpath, tok, labels, cfg.student.static_dim, cache_root, progress=progress, **engine)


def score_and_record(cfg: RunConfig, out: Path, tpath: str, also: list[str], test: Split, parts: list,
                     fit: dict, n_examples: int) -> dict:
    """Score ``out/student`` (the best epoch's, with the tokenizer and data record written before training) on the
    test split; write and return ``results.json``. Teacher facts come from its files (safetensors header,
    fine-tuning record)."""
    kd = parts[0][1] is not None
    teacher = {**(parts[0][1].teacher if kd else {}),
               **{k: v for k, v in teacher_summary(tpath).items() if v is not None}}
    best = StudentModel.from_pretrained(out / "student", block=cfg.student.block, task="ner")
    scfg = best.cfg
    scores = evaluate_tags(predict_student(best, test.rows), test.rows, test.tags)
    size_mb = (out / "student" / "model.safetensors").stat().st_size / 1e6
    results = {
        "recipe": cfg.recipe, "task": "ner", "kd": kd,
        "teacher": {k: teacher.get(k) for k in ("name", "path", "params", "size_mb", "f1", "valid_f1")},
        "teachers_also": [{k: teacher_summary(path).get(k) for k in ("name", "path", "f1", "valid_f1")}
                          for path in also],
        "student": {"arch": scfg.block, "params": best.num_parameters(), "size_mb": round(size_mb, 2),
                    "f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
                    "valid_f1": fit["best"]["score"], "best_epoch": fit["best"]["epoch"],
                    "per_type": scores["per_type"], "kept_vocab": scfg.kept_vocab or scfg.vocab_size},
        "scoring": scores["scoring"], "train_rows": n_examples, "train_seconds": fit["train_seconds"],
        "transfer": {"sources": [dataclasses.asdict(s) for s in cfg.data.transfer], "factor": cfg.data.transfer_factor,
                     "rows": sum(len(r) for r, _ in parts[1:]) if len(parts) > 1 else 0},
        "caches": [_cache_facts(c) for _, c in parts if c is not None],
        "history": fit["history"], "student_dir": str(out / "student"),
    }
    with saving(out / "results.json", f"the trained student is in {out / 'student'} and the run's last checkpoint "
                f"is whole: free space, then run again with --resume (it goes on from that checkpoint)"):
        write_json(out / "results.json", results)
    return results


STUDENT_RECORD = "xarchkd_student.json"


def write_student_record(folder: Path, cfg: RunConfig, teacher_path: str) -> None:
    """Write ``folder/xarchkd_student.json``: the recipe, the teacher and the data the student was trained on
    (``data.name``, its absolute folder, ``data.scheme``), so ``xarchkd eval`` scores it on its own data."""
    scheme = cfg.data.scheme.upper()
    record = {"recipe": cfg.recipe, "teacher": str(teacher_path),
              "data": {"name": cfg.data.name, "path": str(Path(resolve(cfg.data.name)).resolve()),
                       "scheme": folder_scheme(cfg.data.name) if scheme == "AUTO" else scheme}}
    write_json(Path(folder) / STUDENT_RECORD, record)


def trained_on(folder) -> dict:
    """``{"name", "path", "scheme"}`` of the data a student (its ``xarchkd_student.json``) or a teacher fine-tuned
    here (its ``xarchkd_teacher.json``) was trained on; {} when the folder does not say."""
    from ..teachers.teacher import INFO_FILE
    for name in (STUDENT_RECORD, INFO_FILE):
        try:
            rec = json.loads((Path(folder) / name).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        data = rec.get("data") if isinstance(rec, dict) else None
        if isinstance(data, dict):
            return data
        if isinstance(data, str):       # a teacher's record: the data as it was named, and its scheme
            return {"name": data, "path": data, "scheme": rec.get("scheme", "auto")}
    return {}


def _cache_facts(c: Cache) -> dict:
    """Where a teacher-logits cache lives, its size, and what building it cost (from its manifest)."""
    build = c.manifest.get("build", {})
    return {"path": str(c.path), "rows": len(c), "mb": round(c.size_bytes / 1e6, 2),
            "build_seconds": build.get("seconds"), "rows_per_s": build.get("rows_per_s"),
            "processes": build.get("processes", 1), "shards": build.get("shards", [])}


def init_student_from(model: StudentModel, folder: str) -> None:
    """Two-stage distillation: start ``model``'s embedding and encoder from another student's (e.g. an
    MLM-distilled one). Embedding rows are matched by *teacher token id* through both students'
    ``token_map``s, so a pruned NER student can start from an unpruned MLM student (and vice versa);
    ids the source has no own row for get its [UNK] row. The head stays as initialised."""
    from students import CheckpointError
    src = StudentModel.from_pretrained(folder)
    if src.cfg.vocab_size != model.cfg.vocab_size or src.cfg.embed_dim != model.cfg.embed_dim:
        raise CheckpointError(f"--init-from {folder}: its embedding is {src.cfg.vocab_size} ids x "
                              f"{src.cfg.embed_dim}, this student's {model.cfg.vocab_size} x {model.cfg.embed_dim} "
                              "(another tokenizer or width)")
    own = model.state_dict()
    enc = {k: v for k, v in src.state_dict().items() if k.startswith("encoder.")}
    bad = sorted(k for k in set(enc) | {k for k in own if k.startswith("encoder.")}
                 if k not in enc or k not in own or own[k].shape != enc[k].shape)
    if bad:
        raise CheckpointError(f"--init-from {folder}: encoder weights differ ({bad[:3]}): a {src.cfg.block!r} student "
                              f"of another size than this {model.cfg.block!r} one")
    with torch.no_grad():   # each of our rows -> the teacher id it stands for (the [UNK] row: unk_id)
        unk = model.cfg.unk_id
        teacher_id = torch.full((model.embed.num_embeddings,), unk).scatter_reduce(
            0, model.token_map, torch.arange(len(model.token_map)), reduce="amin", include_self=False)
        teacher_id[model.token_map[unk]] = unk
        model.embed.weight.copy_(src.embed.weight[src.token_map[teacher_id]])
    model.load_state_dict(enc, strict=False)
