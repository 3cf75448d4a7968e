"""What a run checks before any work: the checks that need the file system or the student registry.

The config's own fields are checked as it is built (``config.check_config``: ranges, choices, fields its
task's runner does not read). ``check_run(cfg, task)`` adds, in a second or less: the runner's task, the
data (NER: a folder with train/valid/test; MLM: each corpus part exists), the teacher folder when it is
not fine-tuned here, the positions of the teacher or the encoder to fine-tune (``data.max_length``), the student block and its ``block_args`` (built once, small), the loss name, the
upload target and the ``init_from`` folder. Every problem is a one-line ``XarchkdError``/``StudentError``
raised before a teacher is fine-tuned, a cache built or a run folder written.

Then the run's plan (``say_plan``, ``ner_plan``), said before it does anything: what it fetches, fine-tunes or
reuses, what the teacher labels, what the student trains on, and a rough time on this project's reference machine
(a 2-core CPU, fp32).

The times are estimates from seconds per word measured on that machine (constants below, each with where it was
measured), scaled by the teacher's size and the words to process; a GPU is much faster, a busy CPU slower.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig, check_config
from .data.resources import RESOURCES, home
from .errors import ConfigError, ResourceError

RUNNERS = {"ner": "NER", "mlm": "masked-LM"}


# Settings a resumed run may change (they do not change what is trained or how).
RESUME_MAY_CHANGE = ("upload", "train.log_every", "cache_dir")      # caches are keyed by content


def check_run(cfg: RunConfig, task: str, resume: bool = False) -> None:
    """Raise the first problem of running ``cfg`` with the ``task`` runner that can be seen before any work
    (with ``resume``: also a config that differs from the one the checkpoint was trained with)."""
    check_config(cfg)
    if cfg.task != task:
        raise ConfigError(f"this is the {RUNNERS[task]} runner, but the config has task={cfg.task!r} (a config of a "
                          f"{RUNNERS.get(cfg.task, cfg.task)} recipe?): run it with a {cfg.task} recipe")
    check_places(cfg)
    if task == "ner":
        from .data.ner_data import SPLITS, check_data_folder
        check_data_folder(cfg.data.name, SPLITS)
    else:
        check_corpus(cfg.data.name)
    aug = cfg.data.augment
    from .data.transfer import check_source
    sources = cfg.data.transfer if task == "ner" and cfg.data.transfer_factor > 0 else []
    if "augment" in [s.kind for s in sources] and aug.names:
        if aug.names not in RESOURCES:      # a resource is fetched when the run starts
            from .data.names import read_names
            read_names(os.path.expanduser(aug.names))
    for src in sources:
        check_source(src)
    if not cfg.teacher.finetune:
        for name in [cfg.teacher.name, *cfg.teacher.also]:
            check_teacher_folder(name, cfg.data.max_length)
        if task == "ner" and cfg.teacher.also:
            check_same_labels([cfg.teacher.name, *cfg.teacher.also])
    else:                # the encoder to fine-tune: its positions hold the rows it is trained on
        check_positions(cfg.teacher.name, cfg.data.max_length)
    check_student(cfg, task)
    from .distill.loss import get_loss
    get_loss(cfg.loss)
    if cfg.upload:
        from .distill.upload import parse_s3
        parse_s3(cfg.upload)
    if cfg.init_from:
        from students.checkpoint import read_config
        read_config(os.path.expanduser(cfg.init_from))     # a student folder, or a CheckpointError naming it
    if resume:
        check_resume(cfg, cfg.run_folder())


def check_places(cfg: RunConfig) -> None:
    """The folders a run writes -- its run folder, ``$XARCHKD_HOME`` (fetched resources, fine-tuned teachers,
    caches) and ``cache_dir`` -- are folders this process can write, or can be made (``disk.check_writable``)."""
    from .disk import check_writable
    check_writable(cfg.run_folder(), "--out")
    if cfg.teacher.finetune or not cfg.cache_dir:       # fine-tuned teachers and default caches go there
        check_writable(home(), "XARCHKD_HOME")
    if cfg.cache_dir:
        check_writable(cfg.cache_dir, "cache_dir")


def todays_form(old: dict) -> dict:
    """A flat config (dotted keys) written by an older xarchkd, in today's form: a key it lacks (a field added
    since) at today's default, which is what the older run did; an option removed since (``config.REMOVED``)
    dropped where it was off, kept where the run used it (so that it differs); ``data.transfer`` as a string (before
    2026-12-03) read into its list of sources. ``check_resume`` and ``benchmarks/panel.py`` compare runs with it."""
    import dataclasses
    from .config import REMOVED, _flat_values, to_json
    from .data.transfer import as_sources
    kept = {k: v for k, v in old.items() if not (k in REMOVED and v == REMOVED[k])}
    old = {**_flat_values(json.loads(to_json(RunConfig()))), **kept}
    if isinstance(old.get("data.transfer"), str):
        try:
            old["data.transfer"] = [dataclasses.asdict(s) for s in as_sources(old["data.transfer"])]
        except ConfigError:
            pass            # a source that no longer reads: it differs, and the message shows both
    return old


def check_resume(cfg: RunConfig, out: Path) -> None:
    """``--resume`` continues the run in ``out`` under its own settings: a config that differs from the one it
    saved (``out/config.json``) in anything but ``RESUME_MAY_CHANGE`` is a ``CheckpointError`` listing the
    changes (a changed ``train.epochs`` would continue under another learning-rate schedule)."""
    from students import CheckpointError
    from .config import REMOVED, _flat_values, to_json
    try:
        old = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return          # a run folder from before config.json: train.py still checks the schedule
    new = _flat_values(json.loads(to_json(cfg)))       # as config.json holds it (tuples as lists)
    old = _flat_values(old) if isinstance(old, dict) else {}
    used = [f"{k}={v!r}" for k, v in old.items() if k in REMOVED and v != REMOVED[k]]
    if used:            # the resumed run could not do what it did
        raise CheckpointError(f"--resume: {out} was trained with {', '.join(used)}, removed since (it did not pay: "
                              "docs/results/README.md, Removed options): start anew without --resume")
    old = todays_form(old)
    from .run_inputs import PATH_KEYS, read_inputs, same_input
    recorded = read_inputs(out)

    def differs(k, v):
        if k in RESUME_MAY_CHANGE or k == "out":       # out: the folder being resumed, wherever it is now
            return False
        if k in PATH_KEYS:                             # resolved paths and content, not spellings
            return not same_input(k, old.get(k), v, recorded)
        return old.get(k) != v
    changed = [f"{k} {old.get(k)!r} -> {v!r}" for k, v in new.items() if differs(k, v)]
    if changed:
        here = out.resolve()
        raise CheckpointError(f"--resume: {out} was trained with other settings ({'; '.join(changed[:6])}"
                              f"{' ...' if len(changed) > 6 else ''}): resuming would continue under another "
                              f"schedule or model. Resume with its own settings (xarchkd run {cfg.recipe} --config "
                              f"{here / 'config.toml'} --out {here} --resume), or start anew without --resume")


def check_student(cfg: RunConfig, task: str) -> None:
    """Build the student's block once (small) so an unknown block, an unknown ``block_args`` key or a bad
    value of one is refused now; MLM's own ``block_args["topk"]`` (the cached top-k) is checked here."""
    from students import StudentError, build_block
    from students.model import DECODES
    s = copy.deepcopy(cfg.student)
    if task == "mlm":
        topk = s.block_args.pop("topk", 64)
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise ConfigError(f"student.block_args topk={topk!r}: must be a whole number >= 1 (the cached top-k)")
    if s.decode not in DECODES:
        raise ConfigError(f"student.decode={s.decode!r}: must be one of {', '.join(DECODES)}")
    try:
        build_block(s.embed_dim, s)
    except StudentError as e:
        raise ConfigError(f"student: {e}") from None


def check_corpus(spec: str) -> None:
    """Each ``+``-joined part of a masked-LM corpus is a resource name or an existing file or folder."""
    for part in spec.split("+"):
        if part not in RESOURCES and not os.path.exists(os.path.expanduser(part)):
            raise ResourceError(f"data.name part {part!r}: no such file or folder, and not a resource "
                                f"({', '.join(RESOURCES)})")


def check_teacher_folder(name: str, max_length: int) -> None:
    """A teacher used as it is (``teacher.finetune=false``): a resource, Hub id or existing folder (a missing
    local path is a ``ResourceError``), intact if it was fine-tuned here, whose position limit holds
    ``data.max_length`` sub-words."""
    from .data.resources import resolve
    if name in RESOURCES:
        check_positions(name, max_length)       # when fetched; else it is fetched (once) when the run starts
        return
    path = Path(resolve(name))
    from .teachers.teacher import verify_teacher
    verify_teacher(path)         # a teacher fine-tuned here: its files still pass the checksums it recorded
    check_positions(name, max_length)


def check_same_labels(names: list[str]) -> None:
    """Several teachers used as they are (``teacher.also`` with ``teacher.finetune=false``): each is a
    token-classification model, and all have the same labels in the same order (their logits are averaged).
    A resource or Hub id not on disk yet is not checked here (the caching step checks it)."""
    from .folder_config import config_labels, folder_config, has_ner_head
    first = None
    for name in names:
        folder = _on_disk(name)
        cfg = folder_config(folder)
        if not cfg:
            continue
        if not has_ner_head(folder):
            raise ConfigError(f"teacher.also: {name} is not a token-classification model, and teacher.finetune=false "
                              f"uses every teacher as it is; fine-tune it on the data first (`xarchkd teacher "
                              f"--encoder {name} --data DATA`) and name the folder it writes")
        labels = config_labels(cfg)
        if first and labels != first[1]:
            raise ConfigError(f"teacher.also: {name} has labels {labels}, {first[0]} has {first[1]}: the "
                              "teachers' logits are averaged, so their labels must be the same, in the same order")
        first = first or (name, labels)


def _on_disk(name: str) -> Path:
    """Where teacher or encoder ``name`` is, without fetching it: a resource's folder (there once fetched) or the
    path as given (a Hub id names no folder here)."""
    from .data.resources import path as resource_path
    return resource_path(name) if name in RESOURCES else Path(os.path.expanduser(name))


def check_positions(name: str, max_length: int, label: str = "data.max_length") -> None:
    """``ConfigError`` when encoder or teacher ``name`` (a fetched resource or a folder; a Hub id or a resource
    not fetched yet is not checked) has fewer positions than ``max_length`` sub-words: checked before a teacher
    is fine-tuned or used, not 57 s into a fine-tune. ``label`` names the setting in the message."""
    folder = _on_disk(name)
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return          # not here (yet), or loading it will say what is wrong with it
    from .folder_config import position_room
    sizes = position_room(cfg)
    if sizes is None:
        return
    limit, room = sizes
    if max_length > room:
        why = "" if room == limit else f" (a {cfg['model_type']} model: it holds {room} sub-words)"
        raise ConfigError(f"{label}={max_length} is more than teacher {name}'s max_position_embeddings={limit}"
                          f"{why}: set {label} <= {room}")


# Seconds per word of a sentence on a 2-core CPU in fp32 (this round's two hosts, an Intel Xeon @ 2.80GHz and an AMD
# EPYC, whose demo runs took 7.2 and 7.9 min: the teacher's figures are the Xeon's, the student's from both), with
# minilm-l6 as the teacher; a larger teacher costs in proportion (``_teacher_scales``). A sentence costs in proportion
# to its words: the train split's mean (14.5 words on CoNLL-2003, 25.0 on NCBI-disease, 16.5 on BTC) stands for
# every sentence of the split, its copies and a user's text; a text resource has its own (``TEXT_WORDS``).
TEACHER_TRAIN_WORD_S = 0.0008  # a word of a fine-tune's training sentence: steps of 32 sentences took 0.37 s (CoNLL,
#                                the demo), 0.55 s (NCBI), 0.47 s (BTC): 0.00080, 0.00069, 0.00089 a word
TEACHER_WORD_S = 0.0002        # a word through the teacher (cache builds, scoring after each epoch): CoNLL 435 rows/s
#                                (0.00016 a word); NCBI 78 rows/s with e5, 0.00026 a word at minilm-l6's scale
STUDENT_WORD_S = {"lstm": 0.00025, "sru": 0.00013, "srupp": 0.00014, "cnn": 0.00016}   # a word of a row, one epoch,
# its scoring included: lstm 0.00024 (the demo), 0.00030 (BTC, three copies), 0.00021 (NCBI's twin); the others at
# their training speed against lstm's (docs/results/gpu-and-scale.md: 734, 693, 625 vs 390 sentences/s)
# Words per sentence of a text resource's transfer rows, where they are not like the train split's: two seeded draws
# of 14,041 Reuters-21578 sentences held 375,178 and 373,016 words (26.7 a sentence; CoNLL-2003 train: 14.5), which
# the train split's mean made a CoNLL -news plan say ~34 min for a student that took 52
# (benchmarks/conll_seeds_cpu_2026-12-04.json). A user's own file is taken to be like the train split.
TEXT_WORDS = {"reuters-21578": 26.7}
STATIC_ROW_S = 0.00045         # one sub-word alone through the teacher, for the student's frozen table: minilm-l6's
#                                30,522 in 10.7 s (0.00035 each), multilingual-e5-small's 250,002 in 237 s (0.00095)
# Disk: a fine-tuned teacher is saved in fp32, twice at its peak (the best so far and the save replacing it); cached
# logits are fp16 per word and tag; a student run folder at its peak holds three checkpoints (the last, the
# previous, the one being written) and the student: 140 MB measured for the BTC BiLSTM (4.15M parameters,
# checkpoints/last 41 MB), the recipes' largest student.
TEACHER_SAVES = 2
RUN_FOLDER_BYTES = 140e6       # with a frozen table over minilm-l6's 30,522 sub-words; a larger vocabulary adds rows
TABLE_COPIES = 4               # ... in fp32 to the student and each of the three checkpoints (the BTC e5 run: 208 MB)
# A teacher's size: (all parameters, vocabulary, hidden width), from its folder when the folder is there.
KNOWN_SIZES = {"minilm-l6": (22.7e6, 30522, 384), "mpnet-base": (109.5e6, 30527, 768),
               "multilingual-e5-small": (117.5e6, 250037, 384)}
STEP_FORWARD_SHARE = 0.42   # of minilm-l6's fine-tune step, the part that grows with the forward pass (fitted below)


def _teacher_size(name: str, folder: str | Path | None) -> tuple[float, int, int]:
    """(parameters, vocabulary size, hidden width) of a teacher: from its folder when it is there, else the
    resource's (minilm-l6's for a name not known here)."""
    if folder is not None and Path(folder).is_dir():
        from .teachers.teacher import teacher_summary
        n = teacher_summary(str(folder)).get("params")
        conf = Path(folder) / "config.json"
        c = json.loads(conf.read_text()) if conf.is_file() else {}
        width = c.get("embedding_size") or c.get("hidden_size") or c.get("dim") or 0   # ALBERT, BERT, DistilBERT
        if n:
            return float(n), int(c.get("vocab_size", 0)), int(width)
    return KNOWN_SIZES.get(str(name), KNOWN_SIZES["minilm-l6"])


def _teacher_scales(params: float, vocab: int, hidden: int) -> tuple[float, float]:
    """How many times minilm-l6's cost a teacher's forward pass and fine-tune step are. A forward pass grows with
    the parameters outside the word-embedding table (a row lookup costs next to nothing); a step also with all of
    them (AdamW updates every row of the table each step). The step's split is fitted to steps measured on the 2-core
    Xeon on NCBI-disease, batch 32: minilm-l6 0.55 s (an epoch's mean), multilingual-e5-small 2.1 s (its steady rate in
    the first epoch; 2.29 s as that epoch's mean, slow first steps included): 3.8-4.2x, against 1.96x for its forward
    pass and 5.2x for its parameters."""
    p0, v0, h0 = KNOWN_SIZES["minilm-l6"]
    forward = (params - min(params, vocab * hidden)) / (p0 - v0 * h0)
    return forward, STEP_FORWARD_SHARE * forward + (1 - STEP_FORWARD_SHARE) * params / p0


def _minutes(seconds: float) -> str:
    return f"~{seconds / 60:.0f} min" if seconds >= 90 else f"~{seconds:.0f} s"


def _fetched(name: str) -> bool:
    r = RESOURCES.get(str(name))
    return r is None or (home() / r.name / r.marker).exists()


@dataclass
class Plan:
    """A run's plan: its lines, estimated seconds (``finetune_seconds`` of them the teachers' fine-tunes, which later
    runs reuse), and ``needs`` -- ``(what, folder, bytes)`` it will write."""
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finetune_seconds: float = 0.0
    needs: list[tuple[str, Path, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)     # said even when the plan is not (``say_plan``)


def ner_plan(cfg: RunConfig) -> Plan:
    """What the run will do (see the module)."""
    from .data.ner_data import check_data_folder, load_splits, overlap_warnings
    plan = Plan(needs=[_run_folder_need(cfg)])
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
    words = sum(len(w) for w in splits["train"]["words"]) / max(1, len(splits["train"]))   # a sentence's, on average
    lines.append(f"data     {cfg.data.name}: {n_train:,} train / {len(splits['valid']):,} valid / "
                 f"{len(splits['test']):,} test sentences")
    plan.warnings = overlap_warnings(splits, check_data_folder(cfg.data.name, ()))
    kd = bool(cfg.loss.mse or cfg.loss.kl or cfg.loss.hidden)
    transfer_rows = int(round(n_train * cfg.data.transfer_factor * sum(k for _, k in sources))) if kd else 0
    rows = n_train + transfer_rows
    row_words = n_train * words + (sum(n_train * cfg.data.transfer_factor * k * TEXT_WORDS.get(s, words)
                                       for s, k in sources) if kd else 0)      # the words of all rows
    for name in names:
        size = _teacher_size(name, None if name in fetch else _folder(name))
        forward, step = _teacher_scales(*size)
        if cfg.teacher.finetune:
            tune = _teacher_line(cfg, name, size[0], (forward, step), n_train * words, n_eval * words, plan)
            plan.finetune_seconds += tune
            total += tune
        else:
            lines.append(f"teacher  {name} as it is (no fine-tune)")
        if kd:
            secs = TEACHER_WORD_S * forward * row_words
            what = f"train + {', '.join(s + (f'*{k:g}' if k != 1 else '') for s, k in sources)}" if sources \
                else "train"
            lines.append(f"label    {name} labels {rows:,} sentences ({what}) into its logits cache, once; "
                         f"reused by later runs  {_minutes(secs)} if not cached")
            total += secs
            plan.needs.append((f"{name}'s logits cache", cfg.cache_folder(), _cache_bytes(cfg, splits["train"], row_words)))
        if name == cfg.teacher.name and cfg.student.static_dim and cfg.student.static_source == "hidden":
            secs = STATIC_ROW_S * forward * size[1]
            lines.append(f"table    {name} reads each of its {size[1]:,} sub-words alone for the student's frozen "
                         f"table, once  {_minutes(secs)} if not cached")
            total += secs
            plan.needs[0] = _run_folder_need(cfg, size[1])
    epochs = cfg.train.for_rows(rows).epochs
    secs = STUDENT_WORD_S.get(cfg.student.block, STUDENT_WORD_S["lstm"]) * row_words * epochs
    lines.append(f"student  {cfg.student.block}, {epochs} epochs x {rows:,} rows"
                 f"{' (gold labels only)' if not kd else ''}, best valid epoch kept  {_minutes(secs)}")
    plan.seconds = total + secs
    return plan


def _run_folder_need(cfg: RunConfig, vocab: int = KNOWN_SIZES["minilm-l6"][1]) -> tuple[str, Path, float]:
    """The run folder's disk need, less what it holds already: its peak, with a frozen table over a ``vocab``
    larger than minilm-l6's adding rows to the student and each checkpoint."""
    table = TABLE_COPIES * 4 * cfg.student.static_dim * max(0, vocab - KNOWN_SIZES["minilm-l6"][1])
    return "the run folder", cfg.run_folder(), max(0.0, RUN_FOLDER_BYTES + table - _held(cfg.run_folder()))


def _held(folder: Path) -> float:
    """Bytes already in ``folder`` (a resumed or rerun run folder needs only the rest of its peak)."""
    return float(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())) if folder.is_dir() else 0.0


def _cache_bytes(cfg: RunConfig, train, words: float) -> float:
    """fp16 logits per word and tag (and hidden states with ``loss.hidden``, at a base model's 768) for ``words``
    words of rows: an upper bound, since whether the cache is built already is not known before the rows are
    encoded."""
    tags = len({t for ts in train["tags"] for t in ts})
    return words * 2 * (tags + (768 if cfg.loss.hidden else 0))


def _folder(name: str) -> str | None:
    from .data.resources import resolve
    try:
        return resolve(name)
    except Exception:       # a Hub id or a missing folder: preflight has said so already, the plan just guesses
        return None


def _teacher_line(cfg: RunConfig, name: str, params: float, scales: tuple[float, float], train_words: float,
                  eval_words: float, plan: Plan) -> float:
    """Add the fine-tune's line (or its reuse) and disk need to ``plan``; return its estimated seconds (each epoch
    trains on ``train_words`` and scores ``eval_words``; ``scales``: ``_teacher_scales``' forward and step)."""
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
    forward, step = scales
    secs = t["epochs"] * (train_words * TEACHER_TRAIN_WORD_S * step + eval_words * TEACHER_WORD_S * forward)
    plan.needs.append((f"the fine-tuned {name}", Path(t["out"]).parent, TEACHER_SAVES * 4 * params))
    lines.append(f"teacher  fine-tune {name} on the train split: {t['epochs']} epochs x {t['steps']} steps, once; "
                 f"reused by later runs  {_minutes(secs)}")
    return secs


def say_plan(cfg: RunConfig, progress: bool = True) -> None:
    """Print the plan (``ner_plan``) of a NER run (with ``progress``) and, said or not, its warnings (splits that
    share their sentences); then refuse a run whose disk cannot hold what it will write (``disk.check_space``)."""
    from .disk import check_space, free_bytes, mb
    from .say import say
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
    for line in plan.warnings:
        say(True, f"[xarchkd] warning: {line}")
    check_space(plan.needs)
