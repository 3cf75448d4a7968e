"""gpu-check: one command for a person with a CUDA GPU (`make gpu-check`).

    python benchmarks/gpu_check.py                   # on a GPU machine: everything below, fp32 and bf16
    python benchmarks/gpu_check.py --cpu             # the script itself on a CPU, tiny settings, fp32 only

It runs, through the public API (``xarchkd.run`` with overrides, what users run):

1. the tests marked ``@pytest.mark.gpu`` (``pytest -m gpu``);
2. a teacher-logits cache build for the train slice (``xarchkd.ner_cache``), timed, and whether the
   teacher ran on the GPU (CUDA memory was allocated during the build);
3. for every block (lstm, sru, srupp, cnn) and precision (fp32, bf16): one short distillation of the
   ``bert-<block>-ner`` recipe on a CoNLL-2003 slice (default 2,000 train sentences, 500 valid and
   500 test, 2 epochs) -> test F1 and train sentences/s (whole epochs: training steps plus the
   per-epoch valid evaluation and checkpoint; ``benchmarks/train_speed.py`` times the steps alone);
   then a kill and resume: the same run killed (SIGKILL, in a subprocess) right after the checkpoint
   of epoch ``epochs - 1`` and resumed with ``resume=True`` to ``epochs``; its final checkpoint's
   weights are compared with the unbroken run's ("resume equal": every weight present, equal within
   atol 1e-5 / rtol 1e-4). Every run uses ``torch.use_deterministic_algorithms(warn_only=True)``
   (``--no-deterministic`` turns it off; the speed column is then the faster, nondeterministic one): some
   CUDA kernels add in a varying order (which one moved the CNN was not isolated), and without them the
   CNN's resumed and unbroken runs once differed by 3.8e-3 (H100), with them they were equal (one run,
   on an H200; 2026-11-27). An op that has no deterministic implementation still runs, with a warning;
   the row's ``nondeterministic_ops`` names such ops, so a "no" beside one may be that op, not the resume.

Each row catches its own exceptions and reports them in its ``errors`` column, so one failing block
does not hide the others. The table is printed and written to ``OUT/gpu_check.md`` and
``OUT/gpu_check.json``. The teacher is by default a randomly initialised BERT of MiniLM-L6's shape
(``--teacher small``: the cache build costs what a real one does, no fine-tune is needed; the F1 then
comes mostly from the gold-label term); ``--teacher minilm-l6`` fine-tunes the real teacher first.
Without a GPU (and without ``--cpu``) it says so in one line and exits 0. Exit status 1 when any row
has an error or the GPU tests failed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "benchmarks")) if p not in sys.path]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from train_speed import BLOCKS, TEACHER_SIZES, data_labels, environment, random_teacher, register_bundled_recipes  # noqa: E402,E501

# Runs `xarchkd.run(recipe, **overrides)` and SIGKILLs itself right after the checkpoint of epoch argv[3].
KILL_AFTER_EPOCH = """
import json, os, signal, sys
sys.path[:0] = [sys.argv[4], os.path.join(sys.argv[4], "benchmarks")]
import torch
if os.environ.get("GPU_CHECK_DETERMINISTIC"):
    torch.use_deterministic_algorithms(True, warn_only=True)
import xarchkd, xarchkd.distill.train as tr
from train_speed import register_bundled_recipes
register_bundled_recipes()
overrides, stop = json.loads(sys.argv[2]), int(sys.argv[3])
real = tr._save_checkpoint
def save_then_die(*a, **k):
    real(*a, **k)
    state = os.path.join(overrides["out"], "checkpoints", "last", "trainer_state.json")
    if json.load(open(state))["epoch"] == stop:
        os.kill(os.getpid(), signal.SIGKILL)
tr._save_checkpoint = save_then_die
xarchkd.run(sys.argv[1], progress=False, **overrides)
"""


NONDETERMINISTIC = "does not have a deterministic implementation"    # torch's warning under warn_only=True


def _nondeterministic_ops(texts) -> list[str]:
    """The ops named by torch's "X does not have a deterministic implementation" warnings among ``texts``."""
    return sorted({(line.split(NONDETERMINISTIC)[0].split() or ["?"])[-1][:120] for t in texts
                   for line in str(t).splitlines() if NONDETERMINISTIC in line})


def _err(stage: str, e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{stage}: {type(e).__name__}: {msg}"[:400]


def run_gpu_tests() -> dict:
    """``pytest -m gpu`` in a subprocess: its exit status and summary line."""
    t = time.time()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"], cwd=ROOT,
                       capture_output=True, text=True)
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]
    return {"returncode": p.returncode, "summary": lines[-1] if lines else "", "seconds": round(time.time() - t, 1),
            "ok": p.returncode in (0, 5),          # 5: no test selected
            "tail": "\n".join(lines[-40:])}


def build_cache(base: dict, cache_dir: Path) -> dict:
    """Build the train slice's teacher-logits cache afresh, timed; did the teacher use the GPU?"""
    import xarchkd
    from xarchkd.recipe import resolve_config
    from xarchkd.tasks.ner import prepare_ner
    cfg = resolve_config("bert-lstm-ner", {**base, "out": str(cache_dir.parent / "cache-check")})
    tpath, _, _, rows = prepare_ner(cfg, progress=False)
    shutil.rmtree(cache_dir, ignore_errors=True)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    t = time.time()
    c = xarchkd.ner_cache(tpath, rows["train"].rows, cache_dir, progress=False)
    secs = time.time() - t
    peak = (torch.cuda.max_memory_allocated() - before) if cuda else 0
    build = c.manifest.get("build", {})
    return {"rows": len(c), "seconds": round(secs, 2), "rows_per_s": round(len(c) / secs, 1),
            "mb": round(c.size_bytes / 1e6, 2), "teacher_on_gpu": "yes" if peak > 0 or str(build.get("device", "")).startswith("cuda") else "no",
            "gpu_peak_mb": round(peak / 1e6, 1), "manifest_build": build}


def compare_checkpoints(a: Path, b: Path, atol: float = 1e-5, rtol: float = 1e-4) -> str:
    """"yes" when both checkpoints hold every weight of the student (none dropped) and agree; else "no (why)"."""
    from safetensors.torch import load_file

    from students import StudentModel
    wa, wb = load_file(str(a / "checkpoints" / "last" / "model.safetensors")), \
        load_file(str(b / "checkpoints" / "last" / "model.safetensors"))
    expected = set(StudentModel.from_pretrained(a / "student").state_dict())
    for name, w in (("unbroken", wa), ("resumed", wb)):
        missing = sorted(expected - set(w))
        if missing:
            return f"no ({name} checkpoint lacks {len(missing)} weights, e.g. {missing[0]})"
    worst, where = 0.0, ""
    for k in sorted(expected):
        x, y = wa[k].float(), wb[k].float()
        if x.shape != y.shape:
            return f"no ({k}: shape {tuple(x.shape)} vs {tuple(y.shape)})"
        if not torch.allclose(x, y, atol=atol, rtol=rtol):
            d = (x - y).abs().max().item()
            if d > worst:
                worst, where = d, k
    return "yes" if not where else f"no (max |diff| {worst:.2e} in {where})"


def check_row(block: str, precision: str, base: dict, out: Path, epochs: int, cpu: bool) -> dict:
    """Distil, then kill and resume, one block at one precision; errors go to the row, never up. The row's
    ``nondeterministic_ops`` lists the ops torch warned about (under ``--deterministic``: no deterministic
    implementation, so they ran nondeterministically anyway) in this process and in the killed one."""
    row = {"block": block, "precision": precision, "f1": None, "train_sent_per_s": None, "resume_equal": "n/a",
           "errors": [], "nondeterministic_ops": []}
    stderr: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _check_row(block, precision, base, out, epochs, cpu, row, stderr)
    row["nondeterministic_ops"] = _nondeterministic_ops([*stderr, *(w.message for w in seen)])
    return row


def _check_row(block: str, precision: str, base: dict, out: Path, epochs: int, cpu: bool, row: dict,
               stderr: list[str]) -> None:
    import xarchkd
    recipe = f"bert-{block}-ner"
    train = {"epochs": epochs, "min_steps": 0, "mixed_precision": "no" if precision == "fp32" else precision,
             "cpu": cpu}
    straight = out / f"{block}-{precision}"
    try:
        shutil.rmtree(straight, ignore_errors=True)
        res = xarchkd.run(recipe, progress=False, **{**base, "out": str(straight)}, train=train)
        row["f1"] = round(res["student"]["f1"], 4)
        row["valid_f1"] = round(res["student"]["valid_f1"], 4)
        row["train_rows"], row["train_seconds"] = res["train_rows"], res["train_seconds"]
        row["train_sent_per_s"] = round(res["train_rows"] * len(res["history"]) / max(res["train_seconds"], 1e-9), 1)
    except Exception as e:
        row["errors"].append(_err("distil", e))
        row["traceback"] = traceback.format_exc()[-3000:]
        return
    if epochs < 2:
        row["resume_equal"] = "n/a (needs --epochs >= 2)"
        return
    killed = out / f"{block}-{precision}-resumed"
    try:
        shutil.rmtree(killed, ignore_errors=True)
        overrides = {**base, "out": str(killed), **{f"train.{k}": v for k, v in train.items()}}
        p = subprocess.run([sys.executable, "-c", KILL_AFTER_EPOCH, recipe, json.dumps(overrides), str(epochs - 1),
                            str(ROOT)], capture_output=True, text=True, cwd=ROOT)
        stderr.append(p.stderr)
        if p.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the run to kill ended with status {p.returncode}, not SIGKILL: "
                               + ((p.stderr.strip().splitlines() or [""])[-1]))
        xarchkd.run(recipe, resume=True, progress=False, **{**base, "out": str(killed)}, train=train)
        row["resume_equal"] = compare_checkpoints(straight, killed)
    except Exception as e:
        row["resume_equal"] = "error"
        row["errors"].append(_err("kill+resume", e))
        row["traceback"] = traceback.format_exc()[-3000:]


def table(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    head = "| block | precision | F1 (test) | train sent/s | resume equal | errors |\n|---|---|---|---|---|---|\n"
    fmt = lambda v, f: "-" if v is None else format(v, f)
    return head + "".join(
        f"| {r['block']} | {r['precision']} | {fmt(r['f1'], '.4f')} | {fmt(r['train_sent_per_s'], ',.0f')} | "
        f"{r['resume_equal']} | {'; '.join(r['errors']).replace('|', '/') or '-'} |\n" for r in rows)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="check the script on a CPU: tiny settings, fp32 only, "
                    "no pytest -m gpu")
    ap.add_argument("--out", default="runs/gpu-check", help="folder for the runs and the report "
                    "(default: runs/gpu-check)")
    ap.add_argument("--blocks", default=",".join(BLOCKS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--precisions", help="comma-separated: fp32,bf16,fp16 (default: fp32,bf16; --cpu: fp32)")
    ap.add_argument("--train", type=int, help="train sentences (default: 2000; --cpu: 200)")
    ap.add_argument("--valid", type=int, help="valid and test sentences (default: 500; --cpu: 50)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs; kill after epochs-1, resume (default: 2)")
    ap.add_argument("--teacher", choices=[*TEACHER_SIZES, "minilm-l6"],
                    help="random teacher size, or minilm-l6 (fine-tuned) (default: small; --cpu: tiny)")
    ap.add_argument("--tokenizer", default="minilm-l6", help="tokenizer (resource or folder) of a random teacher")
    ap.add_argument("--data", default="conll2003", help="CoNLL data resource or folder (default: conll2003)")
    ap.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                    help="torch.use_deterministic_algorithms(warn_only=True) in every run (default: on), so that a resume "
                    "which differs is a resume bug, not a CUDA kernel that adds in a varying order; ops with no "
                    "deterministic implementation are listed per row")
    ap.add_argument("--skip-tests", action="store_true", help="do not run pytest -m gpu")
    return ap.parse_args(argv)


def cache_step(base: dict, cache_dir: Path) -> tuple[dict, bool]:
    """Build the teacher cache once (timed); the report's entry and whether it worked."""
    try:
        c = build_cache(base, cache_dir)
        print(f"teacher cache build: {c['rows']} rows in {c['seconds']} s ({c['rows_per_s']:,.0f} rows/s), "
              f"teacher on the GPU: {c['teacher_on_gpu']}", flush=True)
        return c, True
    except Exception as e:
        c = {"error": _err("cache build", e), "traceback": traceback.format_exc()[-3000:]}
        print(f"teacher cache build: {c['error']}", flush=True)
        return c, False


def write_report(report: dict, rows: list, out: Path, a: argparse.Namespace, n_train: int, n_valid: int,
                 teacher_kind: str) -> None:
    """gpu_check.md (the table, in words) and gpu_check.json (everything) under ``out``."""
    md = (f"# gpu-check\n\n`{report['command']}` on {report['environment'].get('gpu', 'CPU')} "
          f"(torch {report['environment']['torch']}); {n_train} train / {n_valid} valid+test sentences of "
          f"{a.data}, {a.epochs} epochs, teacher {teacher_kind}, deterministic algorithms "
          f"{'on' if a.deterministic else 'off'}.\n\n")
    if "gpu_tests" in report:
        md += f"pytest -m gpu: {report['gpu_tests']['summary']}\n\n"
    c = report.get("cache_build", {})
    cache_line = c.get("error") or f"{c['rows']} rows, {c['seconds']} s, teacher on the GPU: {c['teacher_on_gpu']}"
    md += f"teacher cache build: {cache_line}\n\n"
    md += table(rows) + "".join(f"\n{r['block']} {r['precision']}: ran nondeterministically: "
                                f"{', '.join(r['nondeterministic_ops'])}\n" for r in rows if r["nondeterministic_ops"])
    md += ("\ntrain sent/s: whole epochs (steps + valid evaluation + checkpoint); "
           "benchmarks/train_speed.py times the steps alone.\n")
    (out / "gpu_check.md").write_text(md)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print("\n" + table(rows))
    print(f"written: {out / 'gpu_check.md'}, {out / 'gpu_check.json'}")


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.deterministic:
        os.environ["GPU_CHECK_DETERMINISTIC"] = "1"                   # the killed run's subprocess too
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # cuBLAS's condition for determinism
        torch.use_deterministic_algorithms(True, warn_only=True)
    if not a.cpu and not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing to check; "
              "--cpu checks the script itself")
        return 0
    precisions = (a.precisions or ("fp32" if a.cpu else "fp32,bf16")).split(",")
    n_train, n_valid = a.train or (200 if a.cpu else 2000), a.valid or (50 if a.cpu else 500)
    teacher_kind = a.teacher or ("tiny" if a.cpu else "small")
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    register_bundled_recipes()
    report = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "environment": environment(),
              "settings": {"train": n_train, "valid": n_valid, "epochs": a.epochs, "teacher": teacher_kind,
                           "data": a.data, "cpu": a.cpu,
                           "deterministic": a.deterministic}}
    ok = True
    if not (a.cpu or a.skip_tests):
        report["gpu_tests"] = run_gpu_tests()
        ok &= report["gpu_tests"]["ok"]
        print(f"pytest -m gpu: {report['gpu_tests']['summary']}", flush=True)
    if teacher_kind == "minilm-l6":
        teacher = {"name": "minilm-l6", "finetune": True}
    else:
        tdir = random_teacher(out / f"teacher-{teacher_kind}", a.tokenizer, data_labels(a.data), teacher_kind)
        teacher = {"name": str(tdir), "finetune": False}
    cache_dir = out / "cache"
    base = {"cache_dir": str(cache_dir), "data.name": a.data, "data.train_limit": n_train,
            "data.eval_limit": n_valid, "data.transfer_factor": 0,    # the labelled rows alone: sentences/s of them
            **{f"teacher.{k}": v for k, v in teacher.items()}}
    report["cache_build"], built = cache_step(base, cache_dir)
    ok &= built
    rows = []
    for precision in precisions:
        for block in a.blocks.split(","):
            r = check_row(block, precision, base, out, a.epochs, a.cpu)
            rows.append(r)
            print(f"{block} {precision}: F1 {r['f1']}, {r['train_sent_per_s']} train sent/s, resume equal "
                  f"{r['resume_equal']}" + (f", errors: {'; '.join(r['errors'])}" if r["errors"] else "")
                  + (f", ran nondeterministically: {', '.join(r['nondeterministic_ops'])}"
                     if r["nondeterministic_ops"] else ""), flush=True)
    report["rows"] = rows
    ok &= not any(r["errors"] for r in rows)
    write_report(report, rows, out, a, n_train, n_valid, teacher_kind)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
