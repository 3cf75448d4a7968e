"""The ONNX rows of ``xarchkd bench``: each student exported (``xarchkd export``, into a temporary folder) and run
by ONNX Runtime in fp32 and int8, beside its PyTorch variants; and the install size of what each path imports.

Model only, an ONNX entry takes the same padded batch as the PyTorch ones (as int64 numpy arrays, one session
call). End to end it is the runtime itself (``xarchkd_runtime.Tagger.tag``: text in, entities out, no torch), so
that row is what a deployment runs. One session per thread count of the bench (ONNX Runtime fixes its threads
when a session is made), threads spinning only during a call, as in the runtime.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import re
import tempfile
from importlib import metadata
from pathlib import Path

import torch

from .models import Entry, _file_mb

RUNTIME_DIST = "xarchkd-runtime"     # ./runtime: what a deployment installs (with what it requires, transitively)
PYTORCH_DIST = "torch"
_FOLDERS: list = []      # the temporary export folders, removed when the process ends


def available() -> bool:
    """Whether the export extra (onnx, onnxruntime) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def onnx_entries(student: Entry, threads) -> list[Entry]:
    """``onnx fp32`` and ``onnx int8`` entries of a student's fp32 entry (exported once; the export checks the graph
    against PyTorch); on an export failure, one skipped entry saying why."""
    from xarchkd_runtime import Tagger
    from ..export import export_student
    tmp = tempfile.TemporaryDirectory(prefix="xarchkd-bench-onnx-")
    _FOLDERS.append(tmp)
    out = Path(tmp.name) / "export"
    like = dict(load_rss_mb=None, extra=dict(student.extra))
    try:
        export_student(student.path, str(out), int8=True, tokenizer=student.tokenizer)
    except Exception as e:     # noqa: BLE001  (any export failure is a recorded skip, not a crash)
        return [dataclasses.replace(student, variant="onnx fp32", forward=None, size_mb=0.0, **like,
                                    notes=f"skipped: export failed ({type(e).__name__}: {str(e).splitlines()[0][:160]})")]
    entries = []
    for int8, variant, file in ((False, "onnx fp32", "model.onnx"), (True, "onnx int8", "model.int8.onnx")):
        try:
            taggers = {n: Tagger(out, int8=int8, threads=n) for n in threads}
        except Exception as e:     # noqa: BLE001  (a graph ONNX Runtime cannot load is a skipped row)
            entries.append(dataclasses.replace(student, variant=variant, forward=None, size_mb=0.0, **like,
                                               notes=f"skipped: {str(e).splitlines()[0][:200]}"))
            continue
        entries.append(dataclasses.replace(student, variant=variant, forward=_forward(taggers), e2e=_e2e(taggers),
                                           size_mb=_file_mb([out / file]), notes=f"ONNX Runtime, {file}", **like))
    return entries


def _forward(taggers: dict):
    """Model only: the padded torch batch as numpy, one session call of the tagger for the current thread count."""
    def forward(ids, mask, pos, shapes):
        t = taggers[torch.get_num_threads()]
        feed = {"input_ids": ids, "attention_mask": mask, "positions": pos, "shapes": shapes}
        out = t.session.run(["logits"], {k: feed[k].numpy().astype("int64") for k in t.feeds})[0]
        return torch.from_numpy(out)
    return forward


def _e2e(taggers: dict):
    """End to end through the runtime: texts in, entities out."""
    return lambda texts: taggers[torch.get_num_threads()].tag(texts)


def requirements(dist: str) -> list[str]:
    """``dist`` and every distribution it requires, transitively (extras and markers that do not hold here left out),
    as pip would install them: the names of an install path."""
    seen, todo = [], [dist]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.append(key)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for r in reqs:
            spec, _, marker = r.partition(";")
            if marker and not _marker_holds(marker):
                continue
            todo.append(re.split(r"[\s\[<>=!~(]", spec.strip(), maxsplit=1)[0])
    return seen


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker
    return Marker(marker.strip()).evaluate({"extra": ""})


def install_mb(dists) -> dict:
    """``{distribution: MB on disk}`` of the installed files of each (None where it is not installed) and the total."""
    sizes = {}
    for d in dists:
        try:
            files = metadata.distribution(d).files or []
        except metadata.PackageNotFoundError:
            sizes[d] = None
            continue
        total = 0
        for f in files:
            p = Path(f.locate())
            if p.is_file():
                total += p.stat().st_size
        sizes[d] = round(total / 1e6, 1)
    sizes["total"] = round(sum(v for v in sizes.values() if v), 1)
    return sizes
