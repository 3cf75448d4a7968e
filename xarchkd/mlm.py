"""Masked-LM distillation end to end: an MLM teacher, static masks, sparse top-k cache, students, metrics.

Metrics follow the seed thesis: absolute top-1/top-5 accuracy against the true token, and
*relative* top-1/top-5 -- whether the teacher's top-1 prediction is the student's top-1 /
within the student's top-5 ("agreement with the teacher") -- on held-out text.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from students import StudentConfig, StudentModel
from students.chars import token_char_ids

from .accel import (LOSS_READ_EVERY, EpochStats, build_info, build_lock, make_accelerator, say_eta, scheduler_steps,
                    teacher_step)
from .atomic import write_json
from .batching import Ragged, flat_positions, ids_and_positions, length_batches, pad_ids, pad_words, ragged_index
from .cache import Cache, mlm_cache
from .config import RunConfig, write_run_config
from .fingerprint import hash_arrays, hash_json, hash_model_dir
from .mlm_data import MaskedRows, mask_rows, text_rows
from .preflight import check_run
from .resources import home, resolve
from .teacher import INFO_FILE, MaskedLogits, Teacher, input_embeddings, is_built, pca_embeddings, publish_teacher
from .train import train_student

HELDOUT_EVERY = 20       # every 20th row of the corpus is held out
HELDOUT_SEED = 1234


def corpus_sentences(spec: str = "pydoc-text+conll2003", limit: int = 0) -> list[str]:
    """Plain-text sentences: '+'-joined sources, each a text resource/file or a CoNLL data set (its train words)."""
    out: list[str] = []
    for part in spec.split("+"):
        if part in ("conll2003",) or (os.path.isdir(part) and (Path(part) / "train.txt").is_file()):
            from .conll import read_conll
            ds = read_conll(Path(resolve(part)) / "train.txt")
            out += [" ".join(w) for w in ds["words"]]
        else:
            from .text import split_sentences
            p = Path(resolve(part))
            p = p / "corpus.txt" if p.is_dir() else p
            out += split_sentences(p.read_text(encoding="utf-8", errors="replace"))
    return out[:limit] if limit else out


def split_corpus(rows: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    held = [r for i, r in enumerate(rows) if i % HELDOUT_EVERY == 0]
    train = [r for i, r in enumerate(rows) if i % HELDOUT_EVERY != 0]
    return train, held


def mlm_teacher(encoder: str = "minilm-l6", text: str = "pydoc-text+conll2003", out: str | None = None,
                epochs: int = 1, lr: float = 1e-4, batch_size: int = 32, max_length: int = 128, limit: int = 0,
                seed: int = 0, progress: bool = True, mixed_precision: str = "no", cpu: bool = False) -> Path:
    """MLM-adapt ``encoder`` (new LM head tied to its input embeddings; the whole model trained) on ``text``.

    Reports held-out masked-token top-1/top-5 per epoch (with its steps, first/last learning rate and
    mean loss) into ``xarchkd_teacher.json``; the folder is keyed by a fingerprint of encoder, text and
    settings and reused when present. Runs through Accelerate like ``finetune.ner_teacher``: on the GPU
    when there is one, under ``mixed_precision`` (GPU only; ``cpu`` ignores a GPU), across the processes
    of ``accelerate launch`` with a schedule that ends at the last step; device and precision go to the
    record's ``build``, not the fingerprint.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    enc_path = resolve(encoder)
    tok = AutoTokenizer.from_pretrained(enc_path)
    rows = text_rows(corpus_sentences(text, limit), tok, max_length)
    train, held = split_corpus(rows)
    settings = dict(encoder=hash_model_dir(enc_path), text=hash_arrays([np.concatenate(rows)]), epochs=epochs, lr=lr,
                    batch_size=batch_size, max_length=max_length, seed=seed)
    fp = hash_json(settings)[:16]
    out = Path(out) if out else home() / "teachers" / f"mlm-{Path(str(encoder)).name}-{fp}"
    if is_built(out, fp):
        return out
    torch.manual_seed(seed)
    mlm = AutoModelForMaskedLM.from_pretrained(enc_path, tie_word_embeddings=True)
    mlm.tie_weights()
    acc = make_accelerator(mixed_precision, cpu=cpu)
    with build_lock(acc, out, lambda: is_built(out, fp)) as must_build:
        if not must_build:      # another run built it while this one waited
            return out
        # Under `accelerate launch` each of n ranks takes every n-th batch, the same count on every rank.
        n_proc, rank = acc.num_processes, acc.process_index
        steps_per_epoch = -(-len(train) // batch_size) // n_proc
        total = max(1, scheduler_steps(acc, epochs * steps_per_epoch))   # the prepared scheduler steps n per step
        opt = torch.optim.AdamW(mlm.parameters(), lr=lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, total // 20)) *
                                                  max(0.0, (total - s) / total))
        model, opt, sched = acc.prepare(MaskedLogits(mlm), opt, sched)   # DDP wraps the masked-only forward
        held_m = mask_rows(held, tok, seed=HELDOUT_SEED)
        record = {"fingerprint": fp, "encoder": str(encoder), "text": text,
                  "rows": {"train": len(train), "held": len(held)},
                  "epochs": [], "build": build_info(acc)}
        for epoch in range(1, epochs + 1):
            model.train()
            t0 = time.time()
            m = mask_rows(train, tok, seed=seed * 1000 + epoch)   # fresh masks each teacher epoch
            batches = length_batches([len(x) for x in m.input_ids], batch_size, True, seed + epoch)
            bar = tqdm(batches[rank:steps_per_epoch * n_proc:n_proc], desc=f"mlm teacher epoch {epoch}/{epochs}",
                       disable=not (progress and acc.is_main_process), mininterval=5)
            stats = EpochStats(acc.device)
            for step, idx in enumerate(bar):
                logits, tgt = _masked_logits(model, m, idx, tok.pad_token_id)
                loss = torch.nn.functional.cross_entropy(logits.float(), tgt)
                stats.add(teacher_step(acc, model, loss, opt, sched), loss)
                if step % LOSS_READ_EVERY == 0 and acc.is_main_process:     # reading the loss waits for the GPU
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                say_eta(acc, f"MLM-adapting the teacher {Path(str(encoder)).name}", epoch, step, epochs,
                        steps_per_epoch, t0)
            train_s = time.time() - t0
            model.eval()                 # held-out scores without dropout
            if acc.is_main_process:      # the main process scores; the others wait for it
                scores = mlm_accuracy(lambda idx: _masked_logits(acc.unwrap_model(model), held_m, idx,
                                                                 tok.pad_token_id)[0], held_m)
                record["epochs"].append({"epoch": epoch, "train_seconds": round(train_s, 1), **stats.summary(),
                                         **scores})
                print(f"[xarchkd] mlm teacher epoch {epoch}: {record['epochs'][-1]}", flush=True)
            acc.wait_for_everyone()
        if acc.is_main_process:
            record.update(record["epochs"][-1] if record["epochs"] else
                          mlm_accuracy(lambda idx: _masked_logits(MaskedLogits(mlm).eval(), held_m, idx,
                                                                  tok.pad_token_id)[0], held_m))
            _save_teacher(mlm, tok, record, out)
        acc.wait_for_everyone()
        return out


def _save_teacher(mlm, tok, record: dict, out: Path) -> None:
    """Save the MLM teacher into ``out.tmp``, then publish it at ``out`` (``teacher.publish_teacher``)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    mlm.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    publish_teacher(tmp, out, record)


def _masked_logits(model: torch.nn.Module, m: MaskedRows, idx, pad_id):
    """``(logits, targets)`` at the masked positions of rows ``idx``; ``model`` is a ``MaskedLogits``
    (or the DDP wrapper around one)."""
    ids, mask = pad_ids([m.input_ids[i] for i in idx], pad_id)
    dev = next(model.parameters()).device
    b, p = flat_positions([m.positions[i] for i in idx])
    tgt = torch.cat([torch.as_tensor(m.targets[i], dtype=torch.long) for i in idx]).to(dev)
    return model(ids.to(dev), mask.to(dev), b.to(dev), p.to(dev)), tgt


@torch.no_grad()
def mlm_accuracy(logits_fn, m: MaskedRows, teacher_top1: np.ndarray | None = None, batch_size: int = 64) -> dict:
    """Top-1/top-5 accuracy vs the true tokens (and vs ``teacher_top1`` if given), over masked positions."""
    hit1 = hit5 = rel1 = rel5 = n = 0
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in m.positions])])
    for idx in length_batches([len(x) for x in m.input_ids], batch_size, shuffle=False):
        logits = logits_fn(idx).float().cpu()
        top5 = logits.topk(5, -1).indices
        tgt = torch.cat([torch.as_tensor(m.targets[i], dtype=torch.long) for i in idx])
        hit1 += (top5[:, 0] == tgt).sum().item()
        hit5 += (top5 == tgt[:, None]).any(-1).sum().item()
        if teacher_top1 is not None:
            t1 = torch.as_tensor(np.concatenate([teacher_top1[offsets[i]:offsets[i + 1]] for i in idx]), dtype=torch.long)
            rel1 += (top5[:, 0] == t1).sum().item()
            rel5 += (top5 == t1[:, None]).any(-1).sum().item()
        n += len(tgt)
    out = {"top1": hit1 / max(1, n), "top5": hit5 / max(1, n), "masked_tokens": n}
    if teacher_top1 is not None:
        out.update(rel_top1=rel1 / max(1, n), rel_top5=rel5 / max(1, n))
    return out


class MlmExamples(torch.utils.data.Dataset):
    """Masked rows plus (optionally) their cached teacher top-k; ``collate`` builds padded batches
    (rows kept concatenated, teacher top-k gathered from the memmap with one fancy index per batch)."""

    def __init__(self, m: MaskedRows, cache: Cache | None, token_map: torch.Tensor, pad_id: int):
        self.m, self.cache, self.map, self.pad_id = m, cache, token_map, pad_id
        self.lengths = [len(x) for x in m.input_ids]
        self._ids, self._pos, self._tgt = Ragged.of(m.input_ids), Ragged.of(m.positions), Ragged.of(m.targets)
        self._offsets = np.asarray(cache.offsets) if cache is not None else None

    def __len__(self):
        return len(self.m)

    def __getitem__(self, i):
        return i

    def collate(self, idx) -> dict:
        idx = np.asarray(idx, dtype=np.int64)
        batch, n, pos_mask = ids_and_positions(self._ids, self._pos, idx, self.pad_id)
        tpos = batch["pos_mask"]
        gold = torch.full(pos_mask.shape, -1, dtype=torch.long)
        gold[tpos] = self.map[torch.from_numpy(self._tgt.take(idx)[0])]
        batch["gold"] = gold
        if self.cache is not None:
            items = ragged_index(self._offsets[idx], n)
            vals = np.zeros(pos_mask.shape + (self.cache.arrays["values"].shape[1],), dtype=np.float32)
            vals[pos_mask] = self.cache.arrays["values"][items]
            inds = torch.zeros(vals.shape, dtype=torch.long)
            inds[tpos] = self.map[torch.from_numpy(self.cache.arrays["indices"][items].astype(np.int64))]
            batch["teacher_logits"], batch["teacher_indices"] = torch.from_numpy(vals), inds
        return batch


def student_logits_fn(model: StudentModel, m: MaskedRows):
    """Student logits over the *teacher's* vocabulary ids at masked positions (maps pruned rows back)."""
    model.eval()

    def fn(idx):
        dev = next(model.parameters()).device      # the model may sit on a GPU; the scores are read on the host
        ids, mask = pad_ids([m.input_ids[i] for i in idx], model.cfg.pad_id)
        pos = pad_words([m.positions[i] for i in idx], 0)
        with torch.inference_mode():
            lg = model(ids.to(dev), mask.to(dev), positions=pos.to(dev)).logits
        lens = [len(m.positions[i]) for i in idx]
        rows = torch.cat([lg[b, :n] for b, n in enumerate(lens)])
        return rows[:, model.token_map].cpu()    # column j = teacher token id j
    return fn


def distill_mlm(cfg: RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run one MLM recipe end to end; write ``<out>/results.json`` and return it ({} on the non-main
    ranks of a multi-process launch)."""
    check_run(cfg, "mlm", resume)    # before any work: config, corpus, teacher folder, student block, ...
    from transformers import AutoTokenizer
    out = Path(cfg.out or f"runs/{cfg.recipe or 'mlm'}")
    out.mkdir(parents=True, exist_ok=True)
    write_run_config(cfg, out, resume)
    if cfg.teacher.finetune:
        tpath = str(mlm_teacher(cfg.teacher.name, cfg.data.name, epochs=cfg.teacher.epochs, lr=cfg.teacher.lr,
                                batch_size=cfg.teacher.batch_size, max_length=cfg.data.max_length,
                                limit=cfg.data.train_limit, progress=progress,
                                mixed_precision=cfg.train.mixed_precision, cpu=cfg.train.cpu))
    else:
        tpath = resolve(cfg.teacher.name)
    tok = AutoTokenizer.from_pretrained(tpath)
    rows = text_rows(corpus_sentences(cfg.data.name, cfg.data.train_limit), tok, cfg.data.max_length)
    train, held = split_corpus(rows)
    if cfg.data.eval_limit:
        held = held[:cfg.data.eval_limit]
    train_m = mask_rows(train, tok, seed=cfg.train.seed)
    held_m = mask_rows(held, tok, seed=HELDOUT_SEED)
    root = Path(cfg.cache_dir) if cfg.cache_dir else home() / "cache"
    k = int(cfg.student.block_args.get("topk", 0)) or 64
    kd = bool(cfg.loss.mse or cfg.loss.kl)
    engine = dict(device="cpu" if cfg.train.cpu else "auto", mixed_precision=cfg.train.mixed_precision)
    train_c = mlm_cache(tpath, train_m, root, k=k, progress=progress, **engine) if kd else None
    held_c = mlm_cache(tpath, held_m, root, k=k, progress=progress, **engine)
    teacher_top1 = np.asarray(held_c.arrays["indices"][:, 0])

    scfg = StudentConfig(**{**cfg.student.__dict__, "task": "mlm", "vocab_size": len(tok), "pad_id": tok.pad_token_id,
                            "unk_id": tok.unk_token_id, "num_labels": 0, "labels": []})
    scfg.block_args = {k2: v for k2, v in scfg.block_args.items() if k2 != "topk"}
    torch.manual_seed(cfg.train.seed)
    model = StudentModel(scfg)
    if scfg.char_dim:
        model.set_token_chars(token_char_ids(tok.convert_ids_to_tokens(list(range(len(tok))))))
    if cfg.embed_init == "pca":
        model.init_embeddings(pca_embeddings(input_embeddings(tpath), scfg.embed_dim))
    token_map = model.token_map.clone()
    evaluate = lambda m: {"score": (s := mlm_accuracy(student_logits_fn(m, held_m), held_m, teacher_top1))["rel_top5"],
                          **s}
    fit = train_student(model, MlmExamples(train_m, train_c, token_map, tok.pad_token_id), evaluate, cfg.loss,
                        cfg.train, out, resume=resume, progress=progress)
    if not fit["main_process"]:     # other ranks of `accelerate launch`: the main process scores and writes
        return {}
    tok.save_pretrained(out / "student")
    best = StudentModel.from_pretrained(out / "student", block=scfg.block, task="mlm")
    scores = mlm_accuracy(student_logits_fn(best, held_m), held_m, teacher_top1)
    tinfo = json.loads((Path(tpath) / INFO_FILE).read_text()) if (Path(tpath) / INFO_FILE).is_file() else {}
    if "top1" not in tinfo:
        t = Teacher.load(tpath, "mlm")
        tinfo.update(mlm_accuracy(lambda idx: _masked_logits(MaskedLogits(t.model), held_m, idx, tok.pad_token_id)[0],
                                  held_m))
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
