"""What a run checks before any work: the checks that need the file system or the student registry.

The config's own fields are checked as it is built (``config.check_config``: ranges, choices, fields its
task's runner does not read). ``check_run(cfg, task)`` adds, in a second or less: the runner's task, the
data (NER: a folder with train/valid/test; MLM: each corpus part exists), the teacher folder when it is
not fine-tuned here, the positions of the teacher or the encoder to fine-tune (``data.max_length``), the student block and its ``block_args`` (built once, small), the loss name, the
upload target and the ``init_from`` folder. Every problem is a one-line ``XarchkdError``/``StudentError``
raised before a teacher is fine-tuned, a cache built or a run folder written.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from .config import RunConfig, check_config
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
        from .data.conll import SPLITS, check_data_folder
        check_data_folder(cfg.data.name, SPLITS)
    else:
        check_corpus(cfg.data.name)
    aug = cfg.data.augment
    from .data.transfer import check_source
    sources = cfg.data.transfer if task == "ner" and cfg.data.transfer_factor > 0 else []
    if "augment" in [s.kind for s in sources] and aug.names:
        from .data.resources import RESOURCES
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
    from .data.resources import home
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
    from .data.resources import RESOURCES
    for part in spec.split("+"):
        if part not in RESOURCES and not os.path.exists(os.path.expanduser(part)):
            raise ResourceError(f"data.name part {part!r}: no such file or folder, and not a resource "
                                f"({', '.join(RESOURCES)})")


def check_teacher_folder(name: str, max_length: int) -> None:
    """A teacher used as it is (``teacher.finetune=false``): a resource, Hub id or existing folder (a missing
    local path is a ``ResourceError``), intact if it was fine-tuned here, whose position limit holds
    ``data.max_length`` sub-words."""
    from .data.resources import RESOURCES, resolve
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
    from .data.resources import RESOURCES, path as resource_path
    from .folder_config import folder_config, has_ner_head
    seen = []
    for name in names:
        folder = resource_path(name) if name in RESOURCES else Path(os.path.expanduser(name))
        cfg = folder_config(folder)
        if not cfg:
            continue
        if not has_ner_head(folder):
            raise ConfigError(f"teacher.also: {name} is not a token-classification model, and teacher.finetune=false "
                              f"uses every teacher as it is; fine-tune it on the data first (`xarchkd teacher "
                              f"--encoder {name} --data DATA`) and name the folder it writes")
        id2label = cfg.get("id2label") or {}
        labels = [id2label.get(str(i), id2label.get(i)) for i in range(len(id2label))]
        if seen and labels != seen[0][1]:
            raise ConfigError(f"teacher.also: {name} has labels {labels}, {seen[0][0]} has {seen[0][1]}: the "
                              "teachers' logits are averaged, so their labels must be the same, in the same order")
        seen.append((name, labels))


def check_positions(name: str, max_length: int, label: str = "data.max_length") -> None:
    """``ConfigError`` when encoder or teacher ``name`` (a fetched resource or a folder; a Hub id or a resource
    not fetched yet is not checked) has fewer positions than ``max_length`` sub-words: checked before a teacher
    is fine-tuned or used, not 57 s into a fine-tune. ``label`` names the setting in the message."""
    from .data.resources import RESOURCES, path as resource_path
    folder = resource_path(name) if name in RESOURCES else Path(os.path.expanduser(name))
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
