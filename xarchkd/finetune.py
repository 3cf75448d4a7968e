"""Make the NER teacher: fine-tune a BERT-family encoder for token classification.

``ner_teacher()`` trains on the data's train split, scores valid and test with
seqeval after every epoch, keeps the epoch with the best valid F1, and saves it
with ``save_pretrained`` plus ``xarchkd_teacher.json`` (per-epoch scores). The
output folder is keyed by a fingerprint of encoder, data and settings, so a second
call with the same inputs returns the saved teacher without training.

It runs through Accelerate: on the GPU when there is one, under ``mixed_precision`` (fp16/bf16,
GPU only), and across the processes of ``accelerate launch``. Device and precision are recorded
in the record's ``build``, not in the fingerprint (like the device, they change the numbers a
little, not what the teacher was trained on). Each epoch's record has its optimizer steps, the
learning rate of its first and last step, and the mean training loss; the schedule is sized in
the prepared scheduler's own steps (``accel.scheduler_steps``), so it reaches zero at the last
step whatever the number of processes.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .accel import (LOSS_READ_EVERY, EpochStats, build_info, build_lock, make_accelerator, say_eta, scheduler_steps,
                    teacher_step)
from .atomic import write_dir
from .batching import length_batches, pad_ids
from .conll import label_list, load_splits
from .fingerprint import hash_arrays, hash_json, hash_model_dir
from .metrics import evaluate_tags
from .ner_data import encode_sentences
from .resources import home, resolve
from .teacher import INFO_FILE, Teacher, is_built, publish_teacher


def ner_teacher(encoder: str = "minilm-l6", data: str = "conll2003", out: str | None = None, epochs: int = 5,
                lr: float = 1e-4, batch_size: int = 32, max_length: int = 128, warmup: float = 0.1,
                seed: int = 0, mixed_precision: str = "no", cpu: bool = False, progress: bool = True,
                scheme: str = "IOB2") -> Path:
    """Fine-tune ``encoder`` into a token-classification teacher; return its folder (reused when present).
    ``mixed_precision`` ("no", "fp16", "bf16": GPU only) and ``cpu`` (ignore a GPU) choose how it runs;
    ``scheme`` is the data's tag scheme (IOB2/BIO or IOB1; read into IOB2 either way)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    splits = load_splits(data, scheme, need=("train", "valid"))     # valid picks the best epoch; test is scored if there
    enc_path = resolve(encoder)
    labels = label_list(splits["train"]["tags"])
    settings = dict(encoder_fp=hash_model_dir(enc_path), data_fp=_data_fp(splits), labels=labels, epochs=epochs,
                    lr=lr, batch_size=batch_size, max_length=max_length, warmup=warmup, seed=seed)
    fp = hash_json(settings)[:16]
    out = Path(out) if out else home() / "teachers" / f"ner-{Path(str(encoder)).name}-{fp}"
    if is_built(out, fp):
        return out
    _say_rebuild(out, progress)

    torch.manual_seed(seed)
    acc = make_accelerator(mixed_precision, cpu=cpu)
    with build_lock(acc, out, lambda: is_built(out, fp)) as must_build:
        if not must_build:      # another run built it while this one waited
            return out
        tok = AutoTokenizer.from_pretrained(enc_path)
        model = AutoModelForTokenClassification.from_pretrained(
            enc_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)})
        rows = {s: encode_sentences(list(d["words"]), list(d["tags"]), tok, labels, max_length, source=s)
                for s, d in splits.items()}
        train = rows["train"]
        # Under `accelerate launch` each of n ranks takes every n-th batch (the same count on every rank,
        # so DDP's gradient all-reduce stays in step; up to n-1 batches of an epoch are left out).
        n_proc, rank = acc.num_processes, acc.process_index
        steps_per_epoch = math.ceil(len(train) / batch_size) // n_proc
        total = max(1, scheduler_steps(acc, steps_per_epoch * epochs))   # the prepared scheduler steps n per step
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_linear(int(warmup * total), total))
        model, opt, sched = acc.prepare(model, opt, sched)

        work = out.with_name(out.name + ".partial")
        if acc.is_main_process:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
        record = {"fingerprint": fp, "encoder": str(encoder), "data": str(data), "scheme": scheme.upper(),
                  "labels": labels, "settings": settings,
                  "epochs": [], "scoring": "seqeval default (conlleval-compatible)", "build": build_info(acc)}
        best = -math.inf
        lengths = [len(x) for x in train.input_ids]
        for epoch in range(1, epochs + 1):
            model.train()
            t0 = time.time()
            batches = length_batches(lengths, batch_size, shuffle=True, seed=seed * 1000 + epoch)
            batches = batches[rank:steps_per_epoch * n_proc:n_proc]
            bar = tqdm(batches, desc=f"teacher epoch {epoch}/{epochs}", disable=not (progress and acc.is_main_process),
                       mininterval=5)
            stats = EpochStats(acc.device)
            for k, idx in enumerate(bar):
                ids, mask = pad_ids([train.input_ids[i] for i in idx], tok.pad_token_id)
                lab = torch.full(ids.shape, -100, dtype=torch.long)
                for b, i in enumerate(idx):
                    lab[b, torch.as_tensor(train.word_pos[i], dtype=torch.long)] = torch.as_tensor(
                        train.labels[i].astype(np.int64))
                loss = model(input_ids=ids.to(acc.device), attention_mask=mask.to(acc.device),
                             labels=lab.to(acc.device)).loss
                stats.add(teacher_step(acc, model, loss, opt, sched), loss)
                if k % LOSS_READ_EVERY == 0 and acc.is_main_process:     # reading the loss waits for the GPU
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                say_eta(acc, f"fine-tuning the NER teacher {Path(str(encoder)).name}", epoch, k, epochs,
                        steps_per_epoch, t0)
            train_s = time.time() - t0
            model.eval()
            if not acc.is_main_process:      # the main process scores and saves; the others wait for it
                acc.wait_for_everyone()
                continue
            teacher = Teacher(acc.unwrap_model(model), tok, "ner", str(encoder), str(work),
                              mixed_precision=acc.mixed_precision)
            ep = {"epoch": epoch, "train_seconds": round(train_s, 1), **stats.summary()}
            for split in ("valid", "test"):
                if split in rows:
                    ep[f"{split}_f1"] = evaluate_tags(teacher.predict_tags(rows[split], progress=progress),
                                                      rows[split], splits[split]["tags"])["f1"]
            record["epochs"].append(ep)
            print(f"[xarchkd] teacher epoch {epoch}: " + ", ".join(f"{k}={v}" for k, v in ep.items()), flush=True)
            score = ep.get("valid_f1", -epoch)
            if score > best:
                best = score
                write_dir(work / "best", lambda d: (acc.unwrap_model(model).save_pretrained(d), tok.save_pretrained(d)))
                record.update(best_epoch=epoch, valid_f1=ep.get("valid_f1"), test_f1=ep.get("test_f1"))
            acc.wait_for_everyone()
        if acc.is_main_process:
            _put_in_place(work, out, record)
        acc.wait_for_everyone()
        return out


def _put_in_place(work: Path, out: Path, record: dict) -> None:
    """Publish the best epoch's folder as the teacher at ``out`` (``teacher.publish_teacher``); drop the work folder."""
    publish_teacher(work / "best", out, record)
    shutil.rmtree(work, ignore_errors=True)


def _say_rebuild(out: Path, progress: bool) -> None:
    """One line when a finished teacher folder is there but fails its checksums (it is trained again)."""
    from .teacher import teacher_problem
    problem = teacher_problem(out) if (out / INFO_FILE).is_file() else None
    if problem and progress:
        print(f"[xarchkd] teacher at {out}: {problem}; fine-tuning it again", flush=True)


def _data_fp(splits) -> str:
    return hash_json({s: hash_arrays([np.frombuffer(json.dumps([list(d["words"]), list(d["tags"])]).encode(), dtype=np.uint8)])
                      for s, d in splits.items()})


def _warmup_linear(warm: int, total: int):
    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / max(1, warm)
        return max(0.0, (total - step) / max(1, total - warm))
    return f
