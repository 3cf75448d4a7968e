"""The student training loop, kept visible in one function (Accelerate-example style).

It never sees a teacher: batches carry teacher outputs read from the logits cache.
Each epoch: length-grouped shuffled batches (order seeded by ``seed`` and the epoch,
so a resumed run sees the same batches), AdamW with warm-up and linear decay,
gradient accumulation and clipping through Accelerate, one evaluation, the best
student kept with ``save_pretrained``, and a full training state saved with
``accelerator.save_state`` so ``resume=True`` continues from the last finished epoch.
Losses, learning rate and scores go to ``metrics.jsonl`` (and TensorBoard when installed).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .accel import make_accelerator
from .batching import length_batches
from .config import TrainConfig
from .errors import CheckpointError
from .loss import LossConfig, get_loss


class Examples(Protocol):
    """What the loop needs from a task: row lengths, and a collate turning row indices into a batch.

    A batch is a dict with ``input_ids``, ``attention_mask``, ``positions`` ([B,P] token positions
    the loss looks at), ``pos_mask`` ([B,P] bool), ``gold`` ([B,P], -1 = none), and optionally
    ``shapes`` ([B,T] word-shape ids), ``teacher_logits``, ``teacher_indices`` (sparse top-k),
    ``teacher_hidden``.
    """
    lengths: list[int]

    def collate(self, indices) -> dict: ...


def train_student(model: torch.nn.Module, examples: Examples, evaluate: Callable[[torch.nn.Module], dict],
                  loss_cfg: LossConfig, cfg: TrainConfig, out_dir: str | Path, resume: bool = False,
                  progress: bool = True, teacher_hidden_size: int = 0, on_checkpoint: Callable | None = None) -> dict:
    """Train ``model`` on ``examples``; returns ``{"history": [...], "best": {...}, "train_seconds": ...,
    "main_process": ...}`` (``main_process`` is False on the other ranks of a multi-process launch).

    ``evaluate(model)`` returns a dict with a ``score`` (higher is better). The best student is
    saved to ``out_dir/student``; the resumable state to ``out_dir/checkpoints/last``.
    ``on_checkpoint(path)`` is called after each saved checkpoint (e.g. to upload it).
    """
    out = Path(out_dir)
    ckpt, student_dir = out / "checkpoints" / "last", out / "student"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    acc = make_accelerator(cfg.mixed_precision, cpu=cfg.cpu, gradient_accumulation_steps=cfg.grad_accum)
    loss_fn = get_loss(loss_cfg)
    projection = None
    if loss_cfg.hidden and teacher_hidden_size:
        projection = torch.nn.Linear(model.encoder.out_dim, teacher_hidden_size)
    params = list(model.parameters()) + (list(projection.parameters()) if projection else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(examples.lengths) / cfg.batch_size / cfg.grad_accum)
    total = max(1, steps_per_epoch * cfg.epochs)
    warm = int(cfg.warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    if projection is not None:
        model, projection, opt, sched = acc.prepare(model, projection, opt, sched)
    else:
        model, opt, sched = acc.prepare(model, opt, sched)

    state = {"epoch": 0, "step": 0, "best_score": -math.inf, "best_epoch": 0, "history": [], "bad_epochs": 0}
    if resume:
        if not (ckpt / "trainer_state.json").is_file():
            raise CheckpointError(f"--resume: no finished checkpoint in {ckpt} (nothing to resume; run without it)")
        acc.load_state(str(ckpt))
        state = json.loads((ckpt / "trainer_state.json").read_text())
        _say(acc, progress, f"[xarchkd] resuming after epoch {state['epoch']} (step {state['step']})")
    log = open(out / "metrics.jsonl", "a")
    tb = _tensorboard(out / "tensorboard") if acc.is_main_process else None
    t_start = time.time() - state.get("train_seconds", 0.0)

    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        model.train()
        batches = length_batches(examples.lengths, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch)
        # Plain lists: with several processes Accelerate shards this batch sampler and tests each batch's
        # truth value, which a numpy index array does not have.
        loader = acc.prepare_data_loader(DataLoader(examples, batch_sampler=[b.tolist() for b in batches],
                                                    collate_fn=examples.collate))
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=not (progress and acc.is_main_process),
                   mininterval=2)
        sums: dict[str, float] = {}
        for i, batch in enumerate(bar):
            with acc.accumulate(model):
                o = model(batch["input_ids"], batch["attention_mask"], positions=batch["positions"],
                          shapes=batch.get("shapes"))
                loss, parts = loss_fn(o.logits, batch["pos_mask"], loss_cfg,
                                      teacher_logits=batch.get("teacher_logits"),
                                      teacher_indices=batch.get("teacher_indices"), gold=batch.get("gold"),
                                      student_hidden=o.hidden, teacher_hidden=batch.get("teacher_hidden"),
                                      projection=projection)
                acc.backward(loss)
                if acc.sync_gradients and cfg.grad_clip:
                    acc.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                sched.step()
                opt.zero_grad()
            if acc.sync_gradients:
                state["step"] += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if state["step"] % cfg.log_every == 0 and acc.sync_gradients:
                rec = {"step": state["step"], "epoch": epoch, "lr": sched.get_last_lr()[0], **parts}
                log.write(json.dumps(rec) + "\n")
                _tb_log(tb, {f"train/{k}": v for k, v in rec.items() if k not in ("step", "epoch")}, state["step"])
            bar.set_postfix(loss=f"{parts['total']:.3f}", refresh=False)
        model.eval()
        scores = evaluate(acc.unwrap_model(model))
        ep = {"epoch": epoch, "step": state["step"], "seconds": round(time.time() - t_start, 1),
              **{f"train_{k}": round(v / max(1, i + 1), 5) for k, v in sums.items()},
              **{k: v for k, v in scores.items() if isinstance(v, (int, float))}}
        state["history"].append(ep)
        log.write(json.dumps({"eval": ep}) + "\n")
        log.flush()
        _tb_log(tb, {f"eval/{k}": v for k, v in scores.items() if isinstance(v, (int, float))}, state["step"])
        _say(acc, progress, f"[xarchkd] epoch {epoch}: " + ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in ep.items() if k != "epoch"))
        if scores["score"] > state["best_score"]:
            state.update(best_score=scores["score"], best_epoch=epoch, bad_epochs=0)
            if acc.is_main_process:
                acc.unwrap_model(model).save_pretrained(student_dir)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["train_seconds"] = time.time() - t_start
        _save_checkpoint(acc, ckpt, state)
        if on_checkpoint is not None and acc.is_main_process:
            on_checkpoint(ckpt)
        if cfg.patience and state["bad_epochs"] >= cfg.patience:
            _say(acc, progress, f"[xarchkd] no better valid score for {cfg.patience} epochs: stopping")
            break
    log.close()
    if tb is not None:
        tb.close()
    acc.wait_for_everyone()
    return {"history": state["history"], "best": {"epoch": state["best_epoch"], "score": state["best_score"]},
            "train_seconds": round(state.get("train_seconds", time.time() - t_start), 1),
            "student_dir": str(student_dir), "main_process": acc.is_main_process}


def _save_checkpoint(acc, ckpt: Path, state: dict) -> None:
    """Save the full training state atomically: a crash mid-save leaves the previous checkpoint intact."""
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    if acc.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps(state))
        old = ckpt.with_name(ckpt.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if ckpt.exists():
            os.replace(ckpt, old)
        os.replace(tmp, ckpt)
        shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional; metrics.jsonl always has the same numbers
        return None
    return SummaryWriter(str(path))


def _tb_log(tb, values: dict, step: int) -> None:
    if tb is not None:
        for k, v in values.items():
            tb.add_scalar(k, v, step)


def _say(acc, progress: bool, msg: str) -> None:
    if progress and acc.is_main_process:
        print(msg, flush=True)
