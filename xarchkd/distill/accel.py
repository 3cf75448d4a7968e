"""Build the one ``Accelerator`` a run uses (a clear error for unsupported precision), the device and
autocast a teacher's inference uses, and the lock that lets one run at a time build a teacher.

Accelerate owns device placement, mixed precision and multi-GPU (``accelerate launch``);
this module only checks the request first. On a CPU, fp16 is silently ignored by
Accelerate and bf16 autocast crashes ``nn.LSTM`` inside oneDNN (and is several times
slower than fp32 elsewhere), so asking for either on a CPU is refused with a message.
Teacher inference (cache builds, scoring) runs outside ``prepare``: ``inference_device`` and
``autocast`` give it the same device and precision rules.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DataLoaderConfiguration, broadcast_object_list
from filelock import FileLock, Timeout

from ..config import PRECISIONS
from ..errors import ConfigError


def check_precision(mixed_precision: str, on_gpu: bool) -> None:
    """Refuse an unknown precision, and fp16/bf16 where no GPU runs the job (a ``ConfigError``)."""
    if mixed_precision not in PRECISIONS:
        raise ConfigError(f"mixed_precision={mixed_precision!r}; use one of {PRECISIONS}")
    if mixed_precision != "no" and not on_gpu:
        raise ConfigError(
            f"mixed_precision={mixed_precision!r} needs a GPU; this run is on the CPU, where fp16 is ignored "
            "and bf16 autocast crashes nn.LSTM (oneDNN) and slows the rest. Use mixed_precision='no'.")
    if mixed_precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError("mixed_precision='bf16' but this GPU does not support bfloat16; use 'fp16' or 'no'.")


def make_accelerator(mixed_precision: str = "no", cpu: bool = False, **kwargs) -> Accelerator:
    """Return an Accelerator; refuses fp16/bf16 where no GPU runs the job. On a GPU the prepared data
    loaders copy batches to the device with ``non_blocking=True`` (pin the loader's memory for it)."""
    on_gpu = torch.cuda.is_available() and not cpu
    check_precision(mixed_precision, on_gpu)
    if on_gpu:
        kwargs.setdefault("dataloader_config", DataLoaderConfiguration(non_blocking=True))
    # One AcceleratorState per process: a second Accelerator with other settings would raise,
    # so a library call that builds a fresh one (tests, notebooks) resets the shared state first.
    AcceleratorState._reset_state(reset_partial_state=True)
    # cpu=True without a GPU is not only a device choice: it is what lets Accelerate see a multi-process
    # CPU launch (`accelerate launch --num_processes N` / torchrun) as MULTI_CPU (gloo) instead of N
    # independent single-process runs each training on every batch.
    return Accelerator(mixed_precision=mixed_precision, cpu=not on_gpu, **kwargs)


def inference_device(device: str | torch.device | None = "auto") -> torch.device:
    """The device for inference outside ``accelerate.prepare``: ``"auto"`` (or None) is this process's
    GPU when there is one -- ``cuda:$LOCAL_RANK`` under ``accelerate launch``, so ranks do not all
    crowd GPU 0 -- else the CPU; anything else is taken as a torch device."""
    if device is None or device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return torch.device(device)


def autocast(device: torch.device, mixed_precision: str = "no"):
    """The autocast context for inference on ``device`` (checked like ``make_accelerator``): fp16/bf16
    autocast on a GPU, nothing for ``"no"``."""
    device = torch.device(device)
    check_precision(mixed_precision, device.type == "cuda")
    if mixed_precision == "no":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if mixed_precision == "fp16" else torch.bfloat16)


def scheduler_steps(acc: Accelerator, optimizer_steps: int) -> int:
    """How many steps a scheduler passed through ``acc.prepare`` takes over ``optimizer_steps`` optimizer
    steps of one rank: Accelerate's ``AcceleratedScheduler`` (``split_batches=False``) steps it once per
    process at each optimizer step, since each rank took its own batch. A schedule sized with this
    reaches its end at the last step whatever the number of processes."""
    return optimizer_steps * acc.num_processes


@contextmanager
def build_lock(acc: Accelerator, folder: Path, done: Callable[[], bool]):
    """Let one run at a time build ``folder`` (a fine-tuned teacher). Yields True when this run must
    build it, False when another run finished it while this one waited.

    Only the main process takes the file lock (``.<folder>.lock`` beside it); its answer is broadcast
    to the other ranks of a multi-process launch, which then train alongside it (a lock per rank
    would deadlock them).
    """
    lock = None
    if acc.is_main_process:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder.with_name(f".{folder.name}.lock")))
        try:
            lock.acquire(timeout=1)
        except Timeout:
            print(f"[xarchkd] another run is building {folder}; waiting for it", file=sys.stderr, flush=True)
            lock.acquire()
    try:
        build = [not done()] if acc.is_main_process else [None]
        if acc.num_processes > 1:
            broadcast_object_list(build)
        yield bool(build[0])
    finally:
        if lock is not None:
            lock.release()


def teacher_step(acc: Accelerator, model: torch.nn.Module, loss: torch.Tensor, opt, sched) -> float:
    """One optimizer step of a teacher fine-tune (NER or MLM): backward through Accelerate (DDP's
    all-reduce, mixed-precision scaling), clip gradients to norm 1, step optimizer and scheduler.
    Returns the learning rate this step trained with."""
    lr = sched.get_last_lr()[0]
    acc.backward(loss)
    acc.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()
    return lr


class EpochStats:
    """What a teacher fine-tune records per epoch, gathered without a host sync per step: optimizer
    steps (of this rank), the learning rate of the first and last step, and the mean training loss
    (summed on the device, read once by ``summary``)."""

    def __init__(self, device: torch.device):
        self.lrs: list[float] = []
        self.loss = torch.zeros((), device=device)

    def add(self, lr: float, loss: torch.Tensor) -> None:
        self.lrs.append(lr)
        self.loss += loss.detach().float()

    def summary(self) -> dict:
        n = len(self.lrs)
        return {"steps": n, "lr_first": self.lrs[0] if n else None, "lr_last": self.lrs[-1] if n else None,
                "train_loss": round(self.loss.item() / max(1, n), 5)}


LOSS_READ_EVERY = 50    # teacher fine-tunes read the loss (a GPU sync) for the progress bar every N steps
ETA_AFTER = 20          # teacher fine-tunes time their first N steps, then print one line with an estimate


def eta_line(what: str, epochs: int, steps_per_epoch: int, done: int, seconds: float) -> str:
    """The one line a teacher fine-tune prints after its first ``done`` steps took ``seconds``: its steps and
    an estimate of the whole training (scoring after each epoch comes on top)."""
    total = epochs * steps_per_epoch
    per = seconds / max(1, done)
    est = per * total
    pretty = f"{est / 3600:.1f} h" if est >= 3600 else f"{est / 60:.1f} min" if est >= 60 else f"{est:.0f} s"
    return (f"[xarchkd] {what}: {epochs} epoch{'s' if epochs != 1 else ''} x {steps_per_epoch} steps = {total} "
            f"steps at {per:.2f} s/step (first {done} steps) -> about {pretty} of training, plus scoring after each "
            "epoch; one-off: the result is reused by fingerprint")


def say_eta(acc: Accelerator, what: str, epoch: int, step: int, epochs: int, steps_per_epoch: int,
            started: float) -> None:
    """On the main process, at step ``step`` (0-based) ``ETA_AFTER - 1`` of the first epoch (or its last, if
    shorter), print ``eta_line`` for a fine-tune whose first epoch began at ``time.time()`` = ``started``
    (waiting for the GPU first, so the time is the steps' own)."""
    if not (acc.is_main_process and epoch == 1 and step + 1 == min(ETA_AFTER, steps_per_epoch)):
        return
    if acc.device.type == "cuda":
        torch.cuda.synchronize(acc.device)
    print(eta_line(what, epochs, steps_per_epoch, step + 1, time.time() - started), flush=True)


def engine_info(dev: torch.device, precision: str) -> dict:
    """Where and how a model computes -- device type, the GPU's name, precision -- as fine-tuned teachers
    and caches record it beside their results (never part of a fingerprint)."""
    return {"device": dev.type, "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "precision": precision}


def build_info(acc: Accelerator) -> dict:
    """Where a fine-tune ran (recorded beside its results, not part of its fingerprint)."""
    return {**engine_info(acc.device, acc.mixed_precision), "processes": acc.num_processes}


def agree_on_failure(acc, error: Exception | None, kept: str = "") -> None:
    """After a step every rank ran (a save): when any rank's ``error`` is set, every rank raises -- the rank's own
    error, or a ``DiskFullError`` saying another process failed -- so no rank waits in a barrier for a rank that
    has stopped. One process: raise ``error`` if set."""
    if acc.num_processes > 1:
        from accelerate.utils import gather_object
        failed = any(gather_object([error is not None]))
    else:
        failed = error is not None
    if failed:
        if error is not None:
            raise error
        from ..disk import DiskFullError
        raise DiskFullError("another process of the launch could not save its part" + (f"; {kept}" if kept else ""))
