"""Teachers made here: fine-tune a BERT-family encoder, one loop for both tasks.

``fine_tune`` is the loop: reuse a finished teacher by fingerprint, or (under a file lock, so two runs
train it once) train for the epochs, score after each, keep the best epoch's weights and publish them
with their record (``xarchkd_teacher.json``: per-epoch scores, settings, file checksums). Two task
adapters (``TeacherTask``) fill it in:

- ``ner_teacher``: token classification on a CoNLL data set; valid and test scored with seqeval after
  every epoch, the best valid F1 kept.
- ``mlm_teacher``: masked-LM adaptation on plain text (a new LM head tied to the input embeddings, the
  whole model trained, fresh masks each epoch); held-out masked-token top-1/top-5 reported per epoch,
  the last epoch kept.

The output folder is keyed by a fingerprint of encoder, data and settings, so a second call with the same
inputs returns the saved teacher without training. It runs through Accelerate: on the GPU when there is
one, under ``mixed_precision`` (fp16/bf16, GPU only), and across the processes of ``accelerate launch``
(each rank takes every n-th batch, the same count on every rank, so DDP's all-reduce stays in step; up to
n-1 batches of an epoch are left out). Device and precision go to the record's ``build``, not the
fingerprint (they change the numbers a little, not what the teacher was trained on). Each epoch's record
has its optimizer steps, the learning rate of its first and last step, and the mean training loss; the
schedule is sized in the prepared scheduler's own steps (``accel.scheduler_steps``), so it reaches zero at
the last step whatever the number of processes.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import write_dir
from ..disk import DiskFullError, saving
from ..config import epochs_for_steps
from ..data.batching import length_batches, pad_ids
from ..data.fingerprint import hash_arrays, hash_json, hash_model_dir
from ..data.resources import home, resolve
from ..distill.accel import (LOSS_READ_EVERY, EpochStats, agree_on_failure, build_info, build_lock, make_accelerator,
                             say_eta, scheduler_steps, teacher_step)
from ..errors import ConfigError
from .teacher import INFO_FILE, MaskedLogits, Teacher, is_built, publish_teacher


@dataclass
class TeacherTask:
    """What ``fine_tune`` needs to know of one task (made once the lock is held and the model may be loaded)."""
    model: torch.nn.Module                     # what is trained (Accelerate prepares it)
    tokenizer: object                          # saved beside the weights
    n_train: int                               # training rows: steps per epoch = ceil(n_train / batch_size) / ranks
    schedule: Callable[[int], Callable]        # total scheduler steps -> the LambdaLR factor of a step
    batches: Callable[[int], list]             # epoch -> that epoch's batches of row indices (all ranks')
    loss: Callable                             # (prepared model, batch, device) -> the batch's loss
    evaluate: Callable[[torch.nn.Module], dict]  # (the unwrapped model, in eval mode) -> the epoch's scores
    score: Callable[[dict], float]             # an epoch's record -> what the kept epoch maximises
    keep: tuple                                # epoch-record keys copied to the top of the record for the kept epoch
    weights: Callable = lambda m: m            # the unwrapped model -> what ``save_pretrained`` saves
    label: str = "teacher"                     # progress bar and epoch lines: "<label> epoch 2/5"
    what: str = "fine-tuning the teacher"      # the time estimate's line: "<what>: 5 epochs x 439 steps = ..."


def fine_tune(out: Path, fp: str, record: dict, make: Callable, epochs: int, lr: float, batch_size: int,
              seed: int = 0, mixed_precision: str = "no", cpu: bool = False, progress: bool = True) -> Path:
    """Return the teacher folder ``out`` whose record has fingerprint ``fp``: reused when it is there and intact,
    else trained with ``make(accelerator) -> TeacherTask`` for ``epochs`` (AdamW at ``lr``, weight decay 0.01)
    and published with ``record`` (plus per-epoch scores, the kept epoch's and the build)."""
    if epochs < 1:
        raise ConfigError(f"teacher epochs={epochs}: must be at least 1")
    if is_built(out, fp):
        return out
    _say_rebuild(out)
    torch.manual_seed(seed)
    acc = make_accelerator(mixed_precision, cpu=cpu)
    with build_lock(acc, out, lambda: is_built(out, fp)) as must_build:
        if not must_build:      # another run built it while this one waited
            return out
        task = make(acc)
        steps = math.ceil(task.n_train / batch_size) // acc.num_processes
        total = max(1, scheduler_steps(acc, steps * epochs))     # the prepared scheduler steps n per step
        opt = torch.optim.AdamW(task.model.parameters(), lr=lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, task.schedule(total))
        model, opt, sched = acc.prepare(task.model, opt, sched)
        work = out.with_name(out.name + ".partial")
        try:     # a failed or interrupted fine-tune leaves no .partial folder behind (it cannot be resumed)
            if acc.is_main_process:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
            record = {"fingerprint": fp, **record, "epochs": [], "build": build_info(acc)}
            best = -math.inf
            for epoch in range(1, epochs + 1):
                ep = _train_epoch(acc, task, model, opt, sched, epoch, epochs, steps, progress)
                model.eval()
                error = None
                if acc.is_main_process:      # the main process scores and saves; the others wait for it
                    try:
                        best = _score_and_keep(acc, task, model, ep, epoch, best, record, work)
                    except DiskFullError as e:
                        error = e
                agree_on_failure(acc, error)     # a failed save stops every rank, not the main one alone
            if acc.is_main_process:
                publish_teacher(work / "best", out, record)
                shutil.rmtree(work, ignore_errors=True)
        except BaseException:
            if acc.is_main_process:
                shutil.rmtree(work, ignore_errors=True)
            raise
        acc.wait_for_everyone()
        return out


def _score_and_keep(acc, task: TeacherTask, model, ep: dict, epoch: int, best: float, record: dict,
                    work: Path) -> float:
    """Main process: score the epoch, say it, and save the model as ``work/best`` when it is the best so far;
    returns the best score."""
    ep.update(task.evaluate(acc.unwrap_model(model)))
    record["epochs"].append(ep)
    print(f"[xarchkd] {task.label} epoch {epoch}: " + ", ".join(f"{k}={v}" for k, v in ep.items()), flush=True)
    if task.score(ep) <= best:
        return best
    with saving(work / "best", f"the fine-tune of {task.label} stops here and is not kept (a teacher is "
                "published whole or not at all): free space and run again"):
        write_dir(work / "best", lambda d: (task.weights(acc.unwrap_model(model)).save_pretrained(d),
                                            task.tokenizer.save_pretrained(d)))
    record.update(best_epoch=epoch, **{k: ep.get(k) for k in task.keep})
    return task.score(ep)


def _train_epoch(acc, task: TeacherTask, model, opt, sched, epoch: int, epochs: int, steps: int,
                 progress: bool) -> dict:
    """One epoch of this rank's batches (every n-th of the epoch's, ``steps`` of them); its record so far."""
    model.train()
    t0 = time.time()
    mine = task.batches(epoch)[acc.process_index:steps * acc.num_processes:acc.num_processes]
    bar = tqdm(mine, desc=f"{task.label} epoch {epoch}/{epochs}", disable=not (progress and acc.is_main_process),
               mininterval=5)
    stats = EpochStats(acc.device)
    for k, idx in enumerate(bar):
        loss = task.loss(model, idx, acc.device)
        stats.add(teacher_step(acc, model, loss, opt, sched), loss)
        if k % LOSS_READ_EVERY == 0 and acc.is_main_process:     # reading the loss waits for the GPU
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        say_eta(acc, task.what, epoch, k, epochs, steps, t0)
    return {"epoch": epoch, "train_seconds": round(time.time() - t0, 1), **stats.summary()}


def _say_rebuild(out: Path) -> None:
    """One line when a finished teacher folder is there but fails its checksums (it is trained again)."""
    from .teacher import teacher_problem
    problem = teacher_problem(out) if (out / INFO_FILE).is_file() else None
    if problem:             # a repair is said, --quiet or not
        print(f"[xarchkd] teacher at {out}: {problem}; fine-tuning it again", flush=True)


def _warmup_linear(warm: int, total: int):
    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / max(1, warm)
        return max(0.0, (total - step) / max(1, total - warm))
    return f


# ---------------------------------------------------------------- NER

def ner_teacher(encoder: str = "minilm-l6", data: str = "conll2003", out: str | None = None, epochs: int = 5,
                lr: float = 1e-4, batch_size: int = 32, max_length: int = 128, warmup: float = 0.1,
                seed: int = 0, mixed_precision: str = "no", cpu: bool = False, progress: bool = True,
                scheme: str = "auto", min_steps: int = 0, train_limit: int = 0) -> Path:
    """Fine-tune ``encoder`` into a token-classification teacher; return its folder (reused when present).
    ``mixed_precision`` ("no", "fp16", "bf16": GPU only) and ``cpu`` (ignore a GPU) choose how it runs;
    ``scheme`` is the data's tag scheme (auto: detected; IOB2/BIO, IOB1 or BIOES, read into IOB2); ``min_steps`` raises
    ``epochs`` on a small train split to reach that many optimizer steps (the raised count is the fingerprint's);
    ``train_limit`` (``data.train_limit``) fine-tunes on the first that many train sentences only, as the student."""
    t = ner_teacher_target(encoder, data, out, epochs, lr, batch_size, max_length, warmup, seed, scheme, min_steps,
                           train_limit)
    if t["epochs"] != epochs and progress and not is_built(t["out"], t["fp"]):
        print(f"[xarchkd] teacher: {t['sentences']} training sentences: {epochs} -> {t['epochs']} epochs to reach "
              f"teacher.min_steps={min_steps} optimizer steps (set teacher.min_steps=0 to keep teacher.epochs)",
              flush=True)
    make = lambda acc: _ner_task(acc, encoder, t["enc_path"], t["splits"], t["labels"], max_length, batch_size,
                                 warmup, seed, progress)
    return fine_tune(t["out"], t["fp"], t["record"], make, t["epochs"], lr, batch_size, seed, mixed_precision, cpu,
                     progress)


def ner_teacher_target(encoder: str = "minilm-l6", data: str = "conll2003", out: str | None = None, epochs: int = 5,
                       lr: float = 1e-4, batch_size: int = 32, max_length: int = 128, warmup: float = 0.1,
                       seed: int = 0, scheme: str = "auto", min_steps: int = 0, train_limit: int = 0) -> dict:
    """What ``ner_teacher`` would train, without training: its folder ``out``, fingerprint ``fp``, ``epochs`` (after
    ``min_steps``), ``steps`` per epoch, the parsed ``splits`` and ``labels``, and the ``record`` it would publish."""
    from ..data.ner_data import check_types_in_train, first, label_list, load_splits
    splits = load_splits(data, scheme, need=("train", "valid"))     # valid picks the best epoch; test is scored if there
    labels = label_list(splits["train"]["tags"])       # the whole split's tags: a slice may lack a rare type
    check_types_in_train(splits, labels, data)
    if train_limit:         # the fingerprint reads the sentences themselves, so a slice is a teacher of its own
        splits["train"] = first(splits["train"], train_limit)
    sentences = len(splits["train"]["words"])
    steps = math.ceil(sentences / batch_size)
    epochs = epochs_for_steps(epochs, min_steps, steps)
    enc_path = resolve(encoder)
    settings = dict(encoder_fp=hash_model_dir(enc_path), data_fp=_data_fp(splits), labels=labels, epochs=epochs,
                    lr=lr, batch_size=batch_size, max_length=max_length, warmup=warmup, seed=seed)
    fp = hash_json(settings)[:16]
    out = Path(out) if out else home() / "teachers" / f"ner-{Path(str(encoder)).name}-{fp}"
    record = {"encoder": str(encoder), "data": str(data), "scheme": scheme.upper(), "labels": labels,
              "settings": settings, "scoring": "seqeval default (conlleval-compatible)"}
    return dict(out=out, fp=fp, epochs=epochs, steps=steps, sentences=sentences, splits=splits, labels=labels,
                enc_path=enc_path, record=record)


@contextmanager
def quiet_load():
    """transformers' log at errors only, inside: no load report table for a head that is new on purpose."""
    from transformers.utils import logging as hf_logging
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def _ner_task(acc, encoder, enc_path, splits, labels, max_length, batch_size, warmup, seed, progress) -> TeacherTask:
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from ..data.ner_data import encode_sentences
    from ..distill.metrics import evaluate_tags
    tok = AutoTokenizer.from_pretrained(enc_path)
    with quiet_load():      # a new head on an encoder: transformers' load report says so at length
        model = AutoModelForTokenClassification.from_pretrained(
            enc_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)})
    rows = {s: encode_sentences(list(d["words"]), list(d["tags"]), tok, labels, max_length, source=s)
            for s, d in splits.items()}
    train = rows["train"]
    lengths = [len(x) for x in train.input_ids]

    def loss(model, idx, dev):
        ids, mask = pad_ids([train.input_ids[i] for i in idx], tok.pad_token_id)
        lab = torch.full(ids.shape, -100, dtype=torch.long)
        for b, i in enumerate(idx):
            lab[b, torch.as_tensor(train.word_pos[i], dtype=torch.long)] = torch.as_tensor(
                train.labels[i].astype(np.int64))
        return model(input_ids=ids.to(dev), attention_mask=mask.to(dev), labels=lab.to(dev)).loss

    def evaluate(model) -> dict:
        teacher = Teacher(model, tok, "ner", str(encoder), str(enc_path), mixed_precision=acc.mixed_precision)
        return {f"{s}_f1": evaluate_tags(teacher.predict_tags(rows[s], progress=progress), rows[s],
                                         splits[s]["tags"])["f1"] for s in ("valid", "test") if s in rows}

    return TeacherTask(model, tok, len(train), lambda total: _warmup_linear(int(warmup * total), total),
                       lambda epoch: length_batches(lengths, batch_size, shuffle=True, seed=seed * 1000 + epoch),
                       loss, evaluate, score=lambda ep: ep["valid_f1"], keep=("valid_f1", "test_f1"),
                       what=f"fine-tuning the NER teacher {Path(str(encoder)).name}")


def _data_fp(splits) -> str:
    return hash_json({s: hash_arrays([np.frombuffer(json.dumps([list(d["words"]), list(d["tags"])]).encode(), dtype=np.uint8)])
                      for s, d in splits.items()})


# ---------------------------------------------------------------- masked LM

def mlm_teacher(encoder: str = "minilm-l6", text: str = "pydoc-text+conll2003", out: str | None = None,
                epochs: int = 1, lr: float = 1e-4, batch_size: int = 32, max_length: int = 128, limit: int = 0,
                seed: int = 0, progress: bool = True, mixed_precision: str = "no", cpu: bool = False) -> Path:
    """MLM-adapt ``encoder`` (new LM head tied to its input embeddings; the whole model trained) on ``text``
    (``mlm_data.corpus_sentences``); every 20th row is held out and scored (top-1/top-5 of the masked tokens)
    after each epoch. Return its folder (reused when present); runs as ``ner_teacher`` does."""
    from transformers import AutoTokenizer
    from ..data.mlm_data import corpus_sentences, split_corpus, text_rows
    enc_path = resolve(encoder)
    tok = AutoTokenizer.from_pretrained(enc_path)
    rows = text_rows(corpus_sentences(text, limit), tok, max_length)
    train, held = split_corpus(rows)
    settings = dict(encoder=hash_model_dir(enc_path), text=hash_arrays([np.concatenate(rows)]), epochs=epochs, lr=lr,
                    batch_size=batch_size, max_length=max_length, seed=seed)
    fp = hash_json(settings)[:16]
    out = Path(out) if out else home() / "teachers" / f"mlm-{Path(str(encoder)).name}-{fp}"
    record = {"encoder": str(encoder), "text": text, "rows": {"train": len(train), "held": len(held)},
              "settings": settings}
    make = lambda acc: _mlm_task(encoder, enc_path, tok, train, held, batch_size, seed)
    return fine_tune(out, fp, record, make, epochs, lr, batch_size, seed, mixed_precision, cpu, progress)


def _mlm_task(encoder, enc_path, tok, train, held, batch_size, seed) -> TeacherTask:
    from transformers import AutoModelForMaskedLM
    from ..data.mlm_data import HELDOUT_SEED, mask_rows, masked_batch
    from ..distill.metrics import mlm_accuracy
    from ..distill.predict import masked_logits
    with quiet_load():
        mlm = AutoModelForMaskedLM.from_pretrained(enc_path, tie_word_embeddings=True)
    mlm.tie_weights()
    held_m = mask_rows(held, tok, seed=HELDOUT_SEED)
    epoch_rows = {}

    def batches(epoch):
        m = epoch_rows["m"] = mask_rows(train, tok, seed=seed * 1000 + epoch)   # fresh masks each teacher epoch
        return length_batches([len(x) for x in m.input_ids], batch_size, True, seed + epoch)

    def loss(model, idx, dev):
        ids, mask, b, p, tgt = masked_batch(epoch_rows["m"], idx, tok.pad_token_id)
        logits = model(ids.to(dev), mask.to(dev), b.to(dev), p.to(dev))    # DDP wraps the masked-only forward
        return torch.nn.functional.cross_entropy(logits.float(), tgt.to(dev))

    return TeacherTask(MaskedLogits(mlm), tok, len(train),
                       lambda total: lambda s: min(1.0, (s + 1) / max(1, total // 20)) * max(0.0, (total - s) / total),
                       batches, loss, lambda model: mlm_accuracy(masked_logits(model, held_m, tok.pad_token_id), held_m),
                       score=lambda ep: ep["epoch"], keep=("top1", "top5", "masked_tokens"),
                       weights=lambda model: model.mlm, label="mlm teacher",
                       what=f"MLM-adapting the teacher {Path(str(encoder)).name}")
