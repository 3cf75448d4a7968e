"""The student training loop, kept visible in one function (Accelerate-example style).

It never sees a teacher: batches carry teacher outputs read from the logits cache.
Each epoch: length-grouped shuffled batches (order seeded by ``seed`` and the epoch,
so a resumed run sees the same batches), AdamW with warm-up and linear decay,
gradient accumulation and clipping through Accelerate, one evaluation, the best
student kept with ``save_pretrained``, and a full training state saved with
``accelerator.save_state`` so ``resume=True`` continues from the last finished epoch.
Losses, learning rate and scores go to ``metrics.jsonl`` (and TensorBoard when installed):
a fresh run starts it anew, a resumed one appends after the lines of the epochs it keeps.

The step itself never waits for the host: the loss components stay on the device and are read
(one sync) only on logging steps and at the end of an epoch. Under ``accelerate launch`` the main
process alone evaluates, logs and saves; the other ranks get its scores by broadcast.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from accelerate.utils import broadcast_object_list

from ..atomic import publish_dir, write_text
from ..disk import DiskFullError, saving
from ..config import TrainConfig
from ..data.batching import length_batches
from ..errors import CheckpointError
from .accel import agree_on_failure, make_accelerator
from .ckpt_files import PREVIOUS, STATE_FILE, load_error, manifest, read_state
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
    ckpt = out / "checkpoints" / "last"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    acc = make_accelerator(cfg.mixed_precision, cpu=cfg.cpu, gradient_accumulation_steps=cfg.grad_accum)
    run = _Run(acc, cfg, loss_cfg, get_loss(loss_cfg), *_prepare(acc, model, len(examples.lengths), loss_cfg, cfg,
                                                                 teacher_hidden_size))
    schedule = {"epochs": cfg.epochs, "steps_per_epoch": run.steps_per_epoch, "batch_size": cfg.batch_size,
                "grad_accum": cfg.grad_accum, "lr": cfg.lr, "warmup": cfg.warmup}
    state = _start_state(acc, ckpt, schedule, progress) if resume else \
        {"epoch": 0, "step": 0, "best_score": -math.inf, "best_epoch": 0, "history": [], "bad_epochs": 0,
         "schedule": schedule}
    log = _open_log(out / "metrics.jsonl", resume, state["epoch"]) if acc.is_main_process else None
    tb = _tensorboard(out / "tensorboard") if acc.is_main_process else None
    t_start = time.time() - state.get("train_seconds", 0.0)

    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        means = _train_epoch(run, examples, epoch, state, log, tb, progress)
        scored, scores = _score(run, evaluate)
        _record_epoch(acc, state, epoch, means, scores, time.time() - t_start, log, tb, progress)
        _keep_if_best(acc, state, epoch, scores["score"], scored, out / "student")
        state["epoch"] = epoch
        state["train_seconds"] = time.time() - t_start
        _save_checkpoint(acc, ckpt, state)
        if on_checkpoint is not None and acc.is_main_process:
            on_checkpoint(ckpt)
        if cfg.patience and state["bad_epochs"] >= cfg.patience:
            _say(acc, progress, f"[xarchkd] no better valid score for {cfg.patience} epochs: stopping")
            break
    for f in (log, tb):
        if f is not None:
            f.close()
    acc.wait_for_everyone()
    return {"history": state["history"], "best": {"epoch": state["best_epoch"], "score": state["best_score"]},
            "train_seconds": round(state.get("train_seconds", time.time() - t_start), 1),
            "student_dir": str(out / "student"), "main_process": acc.is_main_process}


def _score(run, evaluate: Callable):
    """``(scored model, its scores)`` after an epoch, the model in eval mode. The main process scores; the other ranks take its scores, so all decide best/patience alike."""
    acc = run.acc
    scored = acc.unwrap_model(run.model)
    scored.eval()
    return scored, _from_main(acc, evaluate(scored) if acc.is_main_process else None)


def _record_epoch(acc, state: dict, epoch: int, means: dict, scores: dict, seconds: float, log, tb,
                  progress: bool) -> None:
    """An epoch's line (train means, numeric scores) into ``state["history"]``, ``metrics.jsonl``, TensorBoard
    and the progress output."""
    ep = {"epoch": epoch, "step": state["step"], "seconds": round(seconds, 1),
          **{f"train_{k}": round(v, 5) for k, v in means.items()},
          **{k: v for k, v in scores.items() if isinstance(v, (int, float))}}
    state["history"].append(ep)
    if log is not None:
        log.write(json.dumps({"eval": ep}) + "\n")
        log.flush()
    _tb_log(tb, {f"eval/{k}": v for k, v in scores.items() if isinstance(v, (int, float))}, state["step"])
    _say(acc, progress, f"[xarchkd] epoch {epoch}: " + ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in ep.items() if k != "epoch"))


def _keep_if_best(acc, state: dict, epoch: int, score: float, scored, folder: Path) -> None:
    """A better score than any before: record it and (main process) save ``scored`` to ``folder``; else count
    one more epoch without progress (``bad_epochs``, for patience)."""
    if score > state["best_score"]:
        before = state["best_epoch"]
        state.update(best_score=score, best_epoch=epoch, bad_epochs=0)
        kept = (f"the run's checkpoint after epoch {epoch - 1} is intact: free space, then run again with --resume"
                if epoch > 1 else "nothing was trained before it: free space and run again")
        error = None
        if acc.is_main_process:
            try:
                with saving(folder, kept + (f"; the best student so far (epoch {before}) is kept in {folder}"
                                            if before else "")):
                    scored.save_pretrained(folder)
            except DiskFullError as e:
                error = e
        agree_on_failure(acc, error, kept)
    else:
        state["bad_epochs"] += 1


@dataclass
class _Run:
    """What one training run's steps share: the accelerator, configs, loss, and the prepared objects."""
    acc: object
    cfg: TrainConfig
    loss_cfg: LossConfig
    loss_fn: Callable
    model: torch.nn.Module
    projection: torch.nn.Module | None
    params: list
    opt: torch.optim.Optimizer
    sched: object
    steps_per_epoch: int


def _prepare(acc, model, rows: int, loss_cfg: LossConfig, cfg: TrainConfig, teacher_hidden_size: int) -> tuple:
    """AdamW with linear warm-up and decay over the run's optimizer steps, the hidden-state projection (if the
    loss matches hidden states), all prepared by ``acc``. Returns ``(model, projection, params, opt, sched,
    steps_per_epoch)``."""
    projection = None
    if loss_cfg.hidden and teacher_hidden_size:
        projection = torch.nn.Linear(model.encoder.out_dim, teacher_hidden_size)
    params = list(model.parameters()) + (list(projection.parameters()) if projection else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(rows / cfg.batch_size / cfg.grad_accum)
    total = max(1, steps_per_epoch * cfg.epochs)
    warm = int(cfg.warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    if projection is not None:
        model, projection, opt, sched = acc.prepare(model, projection, opt, sched)
    else:
        model, opt, sched = acc.prepare(model, opt, sched)
    acc.register_save_state_pre_hook(_own_storage)      # every weight saved, even views of one buffer
    acc.register_load_state_pre_hook(_load_weights)     # ... and loaded back into them
    return model, projection, params, opt, sched, steps_per_epoch


def _train_epoch(run: _Run, examples: Examples, epoch: int, state: dict, log, tb, progress: bool) -> dict:
    """One pass over length-grouped, shuffled batches (seeded by ``seed`` and the epoch, so a resumed run sees
    the same batches); returns the epoch's mean loss parts (read from the device once)."""
    acc, cfg, model = run.acc, run.cfg, run.model
    model.train()
    batches = length_batches(examples.lengths, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch)
    # Plain lists: with several processes Accelerate shards this batch sampler and tests each batch's
    # truth value, which a numpy index array does not have.
    # Pinned host memory lets the prepared loader copy each batch to the GPU with non_blocking=True.
    loader = acc.prepare_data_loader(DataLoader(examples, batch_sampler=[b.tolist() for b in batches],
                                                collate_fn=examples.collate, pin_memory=acc.device.type == "cuda"))
    bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=not (progress and acc.is_main_process),
               mininterval=2)
    sums: dict[str, torch.Tensor] = {}      # on the device: summing them waits for nothing
    n_batches = 0
    for batch in bar:
        with acc.accumulate(model):
            o = model(batch["input_ids"], batch["attention_mask"], positions=batch["positions"],
                      shapes=batch.get("shapes"))
            loss, parts = run.loss_fn(o.logits, batch["pos_mask"], run.loss_cfg,
                                      teacher_logits=batch.get("teacher_logits"),
                                      teacher_indices=batch.get("teacher_indices"), gold=batch.get("gold"),
                                      student_hidden=o.hidden, teacher_hidden=batch.get("teacher_hidden"),
                                      projection=run.projection, **({"crf": o.crf} if o.crf is not None else {}))
            acc.backward(loss)
            if acc.sync_gradients and cfg.grad_clip:
                acc.clip_grad_norm_(run.params, cfg.grad_clip)
            run.opt.step()
            run.sched.step()
            run.opt.zero_grad()
        n_batches += 1
        for k, v in parts.items():
            sums[k] = sums[k] + v if k in sums else v
        if acc.sync_gradients:
            state["step"] += 1
            if state["step"] % cfg.log_every == 0 and acc.is_main_process:
                rec = {"step": state["step"], "epoch": epoch, "lr": run.sched.get_last_lr()[0], **_read(parts)}
                log.write(json.dumps(rec) + "\n")
                _tb_log(tb, {f"train/{k}": v for k, v in rec.items() if k not in ("step", "epoch")}, state["step"])
                bar.set_postfix(loss=f"{rec['total']:.3f}", refresh=False)
    model.eval()
    return _read({k: v / max(1, n_batches) for k, v in sums.items()})     # the epoch's one sync


def _start_state(acc, ckpt: Path, schedule: dict, progress: bool) -> dict:
    """``--resume``: the loop state of the checkpoint in ``ckpt``, after checking it was trained under
    ``schedule``, with model, optimizer, scheduler and RNG state loaded into ``acc``'s prepared objects."""
    state = read_state(ckpt)       # a missing, damaged or truncated file is named (and the previous one offered)
    _check_schedule(ckpt, state.get("schedule"), schedule)
    state["schedule"] = schedule
    try:
        acc.load_state(str(ckpt))
    except CheckpointError:
        raise
    except Exception as e:             # noqa: BLE001  (torch, safetensors, pickle: one line naming the folder)
        raise load_error(ckpt, e) from None
    _say(acc, progress, f"[xarchkd] resuming after epoch {state['epoch']} (step {state['step']})")
    return state


def _check_schedule(ckpt: Path, saved: dict | None, now: dict) -> None:
    """A resumed run keeps the schedule its checkpoint was trained under (epochs, steps, batch, learning rate):
    another one is a ``CheckpointError`` naming the changes (a checkpoint from before schedules were saved
    resumes unchecked)."""
    if saved is None or saved == now:
        return
    changed = ", ".join(f"{k} {saved.get(k)} -> {now.get(k)}" for k in {**saved, **now} if saved.get(k) != now.get(k))
    raise CheckpointError(f"--resume: {ckpt} was trained under another schedule ({changed}); resume with its "
                          "settings, or start anew without --resume")


def _save_checkpoint(acc, ckpt: Path, state: dict) -> None:
    """Save the full training state atomically: a crash mid-save leaves the previous checkpoint intact. Each
    file's size and sha256 go into ``trainer_state.json``; the checkpoint it replaces becomes ``previous``."""
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    done = state["epoch"]
    kept = (f"the best student so far (epoch {state['best_epoch']}) is in {ckpt.parent.parent / 'student'}"
            + (f", and the checkpoint after epoch {done - 1} is intact: free space, then run again with --resume"
               if done > 1 else "; no checkpoint was saved before: free space and run again"))
    error = None
    try:
        with saving(tmp, kept):
            acc.save_state(str(tmp))
    except DiskFullError as e:
        error = e
    try:
        agree_on_failure(acc, error, kept)   # every rank's files (its random_states_<rank>.pkl) are in tmp, or all stop
        if acc.is_main_process:
            with saving(tmp, kept):
                (tmp / STATE_FILE).write_text(json.dumps({**state, "files": manifest(tmp)}))
    except DiskFullError:
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)     # the half-written checkpoint gives its space back
        raise
    if acc.is_main_process:
        if ckpt.is_dir():                       # kept as the run's previous good state
            publish_dir(ckpt, ckpt.with_name(PREVIOUS))
        publish_dir(tmp, ckpt)
    acc.wait_for_everyone()


def _own_storage(models, weights, output_dir) -> None:
    """``save_state`` hook: a weight that is a view into a larger buffer is saved as a copy of its own.

    cuDNN flattens ``nn.LSTM``'s weights into one buffer on a GPU. safetensors cannot store tensors
    that share memory, and Accelerate's clean-up before saving keeps one of them and drops the rest
    (``Removed shared tensor {...}``), so a resumed run would restart those weights. A copy per view
    keeps every weight, and the file stays ``model.safetensors``. True aliases (one whole tensor under
    two names: tied weights) cover their storage and are left to Accelerate as before.
    """
    for state in weights:
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and v.untyped_storage().nbytes() > v.numel() * v.element_size():
                state[k] = v.detach().clone()


def _load_weights(models, input_dir) -> None:
    """``load_state`` hook: load each model's ``model[_i].safetensors`` with ``load_state_dict``, which
    copies values into the model's own parameters however they share storage (safetensors' own
    ``load_model``, which Accelerate calls, refuses views that do not cover their buffer). Names left
    out of the file must be aliases of a loaded weight (tied weights); anything else is an error.
    The models are then taken off ``models`` so Accelerate does not load them again."""
    from safetensors.torch import load_file
    files = [Path(input_dir) / ("model.safetensors" if i == 0 else f"model_{i}.safetensors")
             for i in range(len(models))]
    if not all(f.is_file() for f in files):
        return                          # another layout (e.g. pytorch_model.bin): Accelerate's own loading
    for model, f in zip(models, files):
        missing, unexpected = model.load_state_dict(load_file(str(f)), strict=False)
        own = model.state_dict()
        loaded = {(own[k].data_ptr(), own[k].shape) for k in own if k not in missing}
        missing = [k for k in missing if (own[k].data_ptr(), own[k].shape) not in loaded]
        if missing or unexpected:
            raise CheckpointError(f"--resume: {f} does not fit the model (missing {missing[:3]}, "
                                  f"unexpected {list(unexpected)[:3]}): a checkpoint of another student?")
    models.clear()


def _read(values: dict) -> dict:
    """0-d device tensors -> Python floats with one device->host copy (one sync for all of them)."""
    if not values:
        return {}
    return dict(zip(values, torch.stack([v.float() for v in values.values()]).tolist()))


def _from_main(acc, obj):
    """The main process's ``obj`` on every rank (a broadcast when there are several)."""
    if acc.num_processes > 1:
        box = [obj]
        broadcast_object_list(box)
        obj = box[0]
    return obj


def _open_log(path: Path, resume: bool, epoch: int):
    """Open ``metrics.jsonl``: emptied for a fresh run; for a resumed one, the lines of epochs up to the
    checkpoint's ``epoch`` are kept (an interrupted epoch's lines and a torn last line are dropped,
    since that epoch runs again) and new lines are appended."""
    if not resume or not path.is_file():
        return open(path, "w")
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (rec["eval"] if "eval" in rec else rec).get("epoch", 0) <= epoch:
            keep.append(line + "\n")
    write_text(path, "".join(keep))
    return open(path, "a")


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
