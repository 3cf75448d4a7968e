"""What a NER run will do, said before it does anything: what it fetches, fine-tunes or reuses, what the teacher
labels, what the student trains on, and a rough time on this project's reference machine (a 2-core CPU, fp32).

The times are estimates from seconds measured on that machine (constants below, each with where it was measured),
scaled by the teacher's size and the rows to process; a GPU is much faster, a busy CPU slower.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .data.resources import RESOURCES, home

# Seconds on the 2-core CPU, fp32, minilm-l6 (22.7M parameters) as the teacher; a larger teacher costs in proportion.
TEACHER_STEP_S = 1.7      # one fine-tune step, 32 sentences (740 s / 439 steps on CoNLL-2003, RESOURCES.md)
TEACHER_ROW_S = 0.004     # one sentence through the teacher (cache builds, evaluation: 14,041 in 25-77 s)
STUDENT_ROW_S = {"lstm": 0.0087, "sru": 0.0067, "srupp": 0.0067, "cnn": 0.003}   # one row of one epoch
# (lstm, sru: 10 epochs of 56,167 rows in 4,913 s and 3,771 s, docs/results/transfer.md, newswire, cores shared, so upper bounds)
# Disk: a fine-tuned teacher is saved in fp32, twice at its peak (the best so far and the save replacing it); cached
# logits are fp16 per word and tag; a student run folder at its peak holds three checkpoints (the last, the
# previous, the one being written) and the student: 140 MB measured for the BTC BiLSTM (4.15M parameters,
# checkpoints/last 41 MB), the recipes' largest student.
TEACHER_SAVES = 2
RUN_FOLDER_BYTES = 140e6
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


@dataclass
class Plan:
    """A run's plan: its lines, estimated seconds, and ``needs`` -- ``(what, folder, bytes)`` it will write."""
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    needs: list[tuple[str, Path, float]] = field(default_factory=list)


def ner_plan(cfg: RunConfig) -> Plan:
    """What the run will do (see the module)."""
    from .data.conll import load_splits
    plan = Plan(needs=[("the run folder", cfg.run_folder(), max(0.0, RUN_FOLDER_BYTES - _held(cfg.run_folder())))])
    lines, total = plan.lines, 0.0
    names = [cfg.teacher.name, *cfg.teacher.also]
    fetch = [n for n in names + ([cfg.data.name] if cfg.data.name in RESOURCES else []) if not _fetched(n)]
    sources = [(s.spec, s.weight) for s in cfg.data.transfer] if cfg.data.transfer_factor > 0 else []
    fetch += [s for s, _ in sources if s in RESOURCES and not _fetched(s)]
    names_list = cfg.data.augment.names
    if any(s == "augment" for s, _ in sources) and names_list in RESOURCES and not _fetched(names_list):
        fetch.append(names_list)
    if fetch:
        lines.append(f"fetch    {', '.join(fetch)} (once, then reused from {home()})")
    if fetch and cfg.data.name in fetch:
        lines.append("(the rest of the plan is said once the data is fetched)")
        return plan
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
            total += _teacher_line(cfg, name, scale, n_eval, plan)
        else:
            lines.append(f"teacher  {name} as it is (no fine-tune)")
        if kd:
            secs = TEACHER_ROW_S * scale * rows
            what = f"train + {', '.join(s + (f'*{k:g}' if k != 1 else '') for s, k in sources)}" if sources \
                else "train"
            lines.append(f"label    {name} labels {rows:,} sentences ({what}) into its logits cache, once; "
                         f"reused by later runs  {_minutes(secs)} if not cached")
            total += secs
            plan.needs.append((f"{name}'s logits cache", cfg.cache_folder(), _cache_bytes(cfg, splits["train"], rows)))
    epochs = cfg.train.for_rows(rows).epochs
    secs = STUDENT_ROW_S.get(cfg.student.block, 0.0087) * rows * epochs
    lines.append(f"student  {cfg.student.block}, {epochs} epochs x {rows:,} rows"
                 f"{' (gold labels only)' if not kd else ''}, best valid epoch kept  {_minutes(secs)}")
    plan.seconds = total + secs
    return plan


def _held(folder: Path) -> float:
    """Bytes already in ``folder`` (a resumed or rerun run folder needs only the rest of its peak)."""
    return float(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())) if folder.is_dir() else 0.0


def _cache_bytes(cfg: RunConfig, train, rows: int) -> float:
    """fp16 logits per word and tag (and hidden states with ``loss.hidden``, at a base model's 768) for ``rows``
    sentences as long as the train split's on average: an upper bound, since whether the cache is built already
    is not known before the rows are encoded."""
    words = sum(len(w) for w in train["words"]) / max(1, len(train)) * rows
    tags = len({t for ts in train["tags"] for t in ts})
    return words * 2 * (tags + (768 if cfg.loss.hidden else 0))


def _folder(name: str) -> str | None:
    from .data.resources import resolve
    try:
        return resolve(name)
    except Exception:       # a Hub id or a missing folder: preflight has said so already, the plan just guesses
        return None


def _teacher_line(cfg: RunConfig, name: str, scale: float, n_eval: int, plan: Plan) -> float:
    """Add the fine-tune's line (or its reuse) and disk need to ``plan``; return its estimated seconds."""
    lines = plan.lines
    from .teachers.finetune import ner_teacher_target
    from .teachers.teacher import is_built, teacher_summary
    t = ner_teacher_target(name, cfg.data.name, None, cfg.teacher.epochs, cfg.teacher.lr, cfg.teacher.batch_size,
                           cfg.data.max_length, scheme=cfg.data.scheme, min_steps=cfg.teacher.min_steps,
                           train_limit=cfg.data.train_limit)
    if is_built(t["out"], t["fp"]):
        f1 = teacher_summary(str(t["out"])).get("valid_f1")
        lines.append(f"teacher  reuse {t['out']}" + (f" (valid F1 {f1:.4f})" if f1 else ""))
        return 0.0
    secs = t["epochs"] * (t["steps"] * TEACHER_STEP_S + n_eval * TEACHER_ROW_S) * scale
    plan.needs.append((f"the fine-tuned {name}", Path(t["out"]).parent, TEACHER_SAVES * 4 * MINILM_PARAMS * scale))
    lines.append(f"teacher  fine-tune {name} on the train split: {t['epochs']} epochs x {t['steps']} steps, once; "
                 f"reused by later runs  {_minutes(secs)}")
    return secs


def say_plan(cfg: RunConfig, progress: bool = True) -> None:
    """Print the plan (``ner_plan``) of a NER run (with ``progress``); then, said or not, refuse a run whose disk
    cannot hold what it will write (``disk.check_space``)."""
    from .disk import check_space, free_bytes, mb
    plan = ner_plan(cfg)
    need = sum(n for _, _, n in plan.needs)
    plan.lines.append(f"disk     ~{mb(need)} at most ({', '.join(f'{w} ~{mb(n)}' for w, _, n in plan.needs)}); "
                      f"{mb(free_bytes(cfg.run_folder()))} free under --out")
    if progress:
        print(f"[xarchkd] plan for {cfg.recipe or 'this run'} -> {cfg.out} (times: rough, for a 2-core CPU):",
              flush=True)
        for line in plan.lines:
            print(f"  {line}", flush=True)
        if plan.seconds:
            print(f"  total    {_minutes(plan.seconds)}", flush=True)
    check_space(plan.needs)
