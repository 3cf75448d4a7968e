"""What a NER run will do, said before it does anything: what it fetches, fine-tunes or reuses, what the teacher
labels, what the student trains on, and a rough time on this project's reference machine (a 2-core CPU, fp32).

The times are estimates from seconds measured on that machine (constants below, each with where it was measured),
scaled by the teacher's size and the rows to process; a GPU is much faster, a busy CPU slower.
"""
from __future__ import annotations

from pathlib import Path

from .config import RunConfig
from .data.resources import RESOURCES, home

# Seconds on the 2-core CPU, fp32, minilm-l6 (22.7M parameters) as the teacher; a larger teacher costs in proportion.
TEACHER_STEP_S = 1.7      # one fine-tune step, 32 sentences (740 s / 439 steps on CoNLL-2003, RESOURCES.md)
TEACHER_ROW_S = 0.004     # one sentence through the teacher (cache builds, evaluation: 14,041 in 25-77 s)
STUDENT_ROW_S = {"lstm": 0.0087, "sru": 0.0067, "srupp": 0.0067, "cnn": 0.003}   # one row of one epoch
# (lstm, sru: 10 epochs of 56,167 rows in 4,913 s and 3,771 s, RESULTS "sixth round", cores shared, so upper bounds)
MINILM_PARAMS = 22.7e6
KNOWN_PARAMS = {"minilm-l6": 22.7e6, "mpnet-base": 109.5e6, "multilingual-e5-small": 117.5e6}


def _teacher_params(name: str, folder: str | Path | None) -> float:
    """The teacher's parameter count: from its weights' header when the folder is there, else the resource's."""
    if folder is not None and Path(folder).is_dir():
        from .teachers.teacher import teacher_summary
        n = teacher_summary(str(folder)).get("params")
        if n:
            return float(n)
    return KNOWN_PARAMS.get(str(name), MINILM_PARAMS)


def _minutes(seconds: float) -> str:
    return f"~{seconds / 60:.0f} min" if seconds >= 90 else f"~{seconds:.0f} s"


def _fetched(name: str) -> bool:
    r = RESOURCES.get(str(name))
    return r is None or (home() / r.name / r.marker).exists()


def ner_plan(cfg: RunConfig) -> tuple[list[str], float]:
    """The plan's lines and its estimated seconds (see the module)."""
    from .data.conll import load_splits
    from .data.transfer import transfer_sources
    lines, total = [], 0.0
    names = [cfg.teacher.name, *cfg.teacher.also]
    fetch = [n for n in names + ([cfg.data.name] if cfg.data.name in RESOURCES else []) if not _fetched(n)]
    sources = [(s, k) for s, k in transfer_sources(cfg.data.transfer)] if cfg.data.transfer_factor > 0 else []
    fetch += [s for s, _ in sources if s in RESOURCES and not _fetched(s)]
    names_list = cfg.data.augment.names
    if any(s == "augment" for s, _ in sources) and names_list in RESOURCES and not _fetched(names_list):
        fetch.append(names_list)
    if fetch:
        lines.append(f"fetch    {', '.join(fetch)} (once, then reused from {home()})")
    if fetch and cfg.data.name in fetch:
        return lines + ["(the rest of the plan is said once the data is fetched)"], 0.0
    splits = load_splits(cfg.data.name, cfg.data.scheme, need=("train", "valid", "test"))
    n_train = len(splits["train"]) if not cfg.data.train_limit else min(cfg.data.train_limit, len(splits["train"]))
    n_eval = sum(len(splits[s]) for s in ("valid", "test"))
    lines.append(f"data     {cfg.data.name}: {n_train:,} train / {len(splits['valid']):,} valid / "
                 f"{len(splits['test']):,} test sentences")
    kd = bool(cfg.loss.mse or cfg.loss.kl or cfg.loss.hidden)
    transfer_rows = int(round(n_train * cfg.data.transfer_factor * sum(k for _, k in sources))) if kd else 0
    rows = n_train + transfer_rows
    for name in names:
        scale = _teacher_params(name, None if name in fetch else _folder(name)) / MINILM_PARAMS
        if cfg.teacher.finetune:
            total += _teacher_line(cfg, name, scale, n_eval, lines)
        else:
            lines.append(f"teacher  {name} as it is (no fine-tune)")
        if kd:
            secs = TEACHER_ROW_S * scale * rows
            what = f"train + {', '.join(s + (f'*{k:g}' if k != 1 else '') for s, k in sources)}" if sources \
                else "train"
            lines.append(f"label    {name} labels {rows:,} sentences ({what}) into its logits cache, once; "
                         f"reused by later runs  {_minutes(secs)} if not cached")
            total += secs
    epochs = cfg.train.for_rows(rows).epochs
    secs = STUDENT_ROW_S.get(cfg.student.block, 0.0087) * rows * epochs
    lines.append(f"student  {cfg.student.block}, {epochs} epochs x {rows:,} rows"
                 f"{' (gold labels only)' if not kd else ''}, best valid epoch kept  {_minutes(secs)}")
    total += secs
    return lines, total


def _folder(name: str) -> str | None:
    from .data.resources import resolve
    try:
        return resolve(name)
    except Exception:       # a Hub id or a missing folder: preflight has said so already, the plan just guesses
        return None


def _teacher_line(cfg: RunConfig, name: str, scale: float, n_eval: int, lines: list) -> float:
    """Add the fine-tune's line (or its reuse) to ``lines``; return its estimated seconds."""
    from .teachers.finetune import ner_teacher_target
    from .teachers.teacher import is_built, teacher_summary
    t = ner_teacher_target(name, cfg.data.name, None, cfg.teacher.epochs, cfg.teacher.lr, cfg.teacher.batch_size,
                           cfg.data.max_length, scheme=cfg.data.scheme, min_steps=cfg.teacher.min_steps)
    if is_built(t["out"], t["fp"]):
        f1 = teacher_summary(str(t["out"])).get("valid_f1")
        lines.append(f"teacher  reuse {t['out']}" + (f" (valid F1 {f1:.4f})" if f1 else ""))
        return 0.0
    secs = t["epochs"] * (t["steps"] * TEACHER_STEP_S + n_eval * TEACHER_ROW_S) * scale
    lines.append(f"teacher  fine-tune {name} on the train split: {t['epochs']} epochs x {t['steps']} steps, once; "
                 f"reused by later runs  {_minutes(secs)}")
    return secs


def say_plan(cfg: RunConfig) -> None:
    """Print the plan (``ner_plan``) of a NER run."""
    lines, secs = ner_plan(cfg)
    print(f"[xarchkd] plan for {cfg.recipe or 'this run'} -> {cfg.out} (times: rough, for a 2-core CPU):", flush=True)
    for line in lines:
        print(f"  {line}", flush=True)
    if secs:
        print(f"  total    {_minutes(secs)}", flush=True)
