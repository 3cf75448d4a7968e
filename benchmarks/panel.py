"""Does distillation pay on data it was not tuned on? The panel: per data folder, a recipe's teacher, its
distilled student and the same student trained on gold labels alone (the recipe's ``-nokd`` twin).

    python benchmarks/panel.py ../shared/data/ncbi-disease ../shared/data/btc conll2003 \\
        --recipe bert-lstm-ner --out benchmarks/panel.json

Each folder's two runs go to ``RUNS/<folder>/<recipe>`` and ``RUNS/<folder>/<twin>`` through ``xarchkd run`` (one
process each, so one Accelerate state per run); a run whose ``results.json`` is there with the same resolved config
is reused, so the panel can be filled by several invocations (one per folder, in parallel) and then tabled by one
more. ``--set KEY=VALUE`` goes to both runs (e.g. ``teacher.name=DIR --set teacher.finetune=false``), ``--kd-set``
to the distilled run alone (a lever of the distillation: the twin is shared with the plain panel); ``--tag`` names
the rows and run folders of such a variant. ``--seeds 0,1,2`` runs each pair once per seed (``train.seed``: the
student's initialisation and batch order, and the draw of the entity-swapped copies, whose teacher logits are
cached per seed; the teacher is fine-tuned once, its own seed fixed) into ``...-seedN`` folders (seed 0 keeps the
plain names, so a one-seed panel's runs are reused) and adds a row of means with standard deviations: one seed's gain
can mislead (on the panel the twins' test F1 spread 1.4-4.0 points over three seeds, docs/results/panel.md). Before
any run it says how many runs are to do and roughly how long they take (each run's own plan) and stops on bad data
or config in one line. Prints a Markdown table and writes JSON to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock


def twin_of(recipe: str) -> str:
    """The no-KD twin of a distilling recipe: ``bert-lstm-ner(-news)`` -> ``bert-lstm-ner-nokd``."""
    return recipe.removesuffix("-news") + "-nokd"


def run_one(recipe: str, data: str, out: Path, sets: list[str], log: Path) -> dict:
    """``xarchkd run RECIPE --out OUT --set data.name=DATA ...`` in its own process; its results (reused when
    ``out`` already holds a finished run of the same config)."""
    args = [sys.executable, "-m", "xarchkd.cli", "run", recipe, "--out", str(out), "--set", f"data.name={data}"]
    for s in sets:
        args += ["--set", s]
    wanted = subprocess.run(args + ["--print-config"], capture_output=True, text=True, check=True).stdout
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):     # two panels sharing a twin: one runs it, the other waits and reuses it
        return _run_or_reuse(args, recipe, data, out, wanted, log)


def _run_or_reuse(args: list[str], recipe: str, data: str, out: Path, wanted: str, log: Path) -> dict:
    done = out / "results.json"
    if done.is_file() and (out / "config.toml").is_file() and same_config((out / "config.toml").read_text(), wanted):
        print(f"[panel] reusing {done}", flush=True)
        return json.loads(done.read_text())
    print(f"[panel] {' '.join(args[2:])}  (log: {log})", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        rc = subprocess.run(args + ["--quiet"], stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        sys.exit(f"[panel] {recipe} on {data} failed (exit {rc}); see {log}")
    res = json.loads(done.read_text())
    print(f"[panel] {recipe} on {data}: test F1 {res['student']['f1']:.4f} ({(time.time() - start) / 60:.1f} min)",
          flush=True)
    return res


def same_config(saved: str, wanted: str) -> bool:
    """Whether a run's ``config.toml`` is the config ``--print-config`` gives now (local paths compared resolved,
    ``out`` not compared: a run writes its paths absolute); a config saved by an older xarchkd is read in today's
    form (``preflight.todays_form``), so that its finished run is reused."""
    import tomllib
    from xarchkd.config import _flat_values
    from xarchkd.preflight import todays_form
    from xarchkd.run_inputs import PATH_KEYS

    def norm(text: str) -> dict:
        d = todays_form(_flat_values(tomllib.loads(text)))
        for key in PATH_KEYS:
            v = d.get(key)
            if isinstance(v, str) and v and os.path.exists(os.path.expanduser(v)):
                d[key] = os.path.realpath(os.path.expanduser(v))
            elif isinstance(v, list):
                d[key] = [os.path.realpath(x) if os.path.exists(x) else x for x in v]
        d.pop("out", None)
        return d
    return norm(saved) == norm(wanted)


def panel_row(data: str, recipe: str, kd: dict, nokd: dict) -> dict:
    """One folder's facts: the teacher, the student, its twin, and how they compare."""
    t, s, n = kd["teacher"], kd["student"], nokd["student"]
    return {"data": data, "recipe": recipe, "teacher": t.get("name"), "teacher_f1": t.get("f1"),
            "teacher_valid_f1": t.get("valid_f1"), "student_f1": s["f1"], "student_valid_f1": s["valid_f1"],
            "nokd_f1": n["f1"], "nokd_valid_f1": n["valid_f1"],
            "pct_of_teacher": 100 * s["f1"] / t["f1"] if t.get("f1") else None,
            "kd_gain": 100 * (s["f1"] - n["f1"]), "kd_gain_valid": 100 * (s["valid_f1"] - n["valid_f1"]),
            "params": s["params"], "nokd_params": n["params"], "train_rows": kd["train_rows"],
            "train_minutes": round(kd["train_seconds"] / 60, 1), "nokd_train_minutes": round(nokd["train_seconds"] / 60, 1)}


def seed_summary(rows: list[dict]) -> dict:
    """One folder's rows over several seeds as one row: every number the mean, and ``<key>_sd`` (sample standard
    deviation) beside the F1s and gains, ``seeds`` the seeds."""
    out = dict(rows[0], data=rows[0]["data"].split(" (seed")[0] + f", mean of {len(rows)}", seeds=[r["seed"] for r in rows])
    for k, v in rows[0].items():
        numbers = [isinstance(r[k], (int, float)) for r in rows]
        if k != "seed" and any(numbers):        # a number missing from some seed (a teacher without F1): no mean
            out[k] = statistics.mean(r[k] for r in rows) if all(numbers) else None
    for k in ("student_f1", "nokd_f1", "kd_gain", "student_valid_f1", "nokd_valid_f1", "kd_gain_valid"):
        out[k + "_sd"] = statistics.stdev(r[k] for r in rows)
    out.pop("seed", None)
    return out


def markdown(rows: list[dict]) -> str:
    head = ("| data | teacher F1 | student F1 | % of teacher | no-KD F1 | KD gain (test / valid) | params | "
            "train min (KD / no-KD) |\n|---|---|---|---|---|---|---|---|\n")
    f = lambda v: "n/a" if v is None else f"{v:.4f}"        # noqa: E731
    sd = lambda r, k, fmt: f" (sd {format(r[k + '_sd'], fmt)})" if k + "_sd" in r else ""      # noqa: E731
    return head + "".join(
        f"| {r['data']} | {f(r['teacher_f1'])} | {f(r['student_f1'])}{sd(r, 'student_f1', '.4f')} | "
        f"{'n/a' if r['pct_of_teacher'] is None else format(r['pct_of_teacher'], '.1f') + '%'} | "
        f"{f(r['nokd_f1'])}{sd(r, 'nokd_f1', '.4f')} | "
        f"{r['kd_gain']:+.2f}{sd(r, 'kd_gain', '.2f')} / {r['kd_gain_valid']:+.2f} | {round(r['params']):,} | "
        f"{round(r['train_minutes'], 1)} / {round(r['nokd_train_minutes'], 1)} |\n" for r in rows)


def pairs(data: str, seeds: list[int], args, twin: str, tag: str):
    """Per seed: ``(seed, distilled run, twin run)``, each run ``(recipe, sets, out folder)``."""
    base = Path(args.runs) / Path(data).name
    for seed in seeds:
        sfx = f"-seed{seed}" if seed else ""        # seed 0 keeps the folders of a one-seed panel, so they are reused
        sets = args.sets + ([f"train.seed={seed}"] if seed else [])
        kd_name, twin_name = args.recipe + tag + sfx, twin + (tag if args.sets else "") + sfx
        yield seed, (args.recipe, sets + args.kd_sets, base / kd_name), (twin, sets, base / twin_name)


def say_plan(args, seeds: list[int], twin: str, tag: str) -> None:
    """Before any run: how many runs are to do and their time, from each run's own plan (``preflight.ner_plan``),
    a folder's teacher fine-tune counted once (its later runs reuse it). A config or data error stops here."""
    import contextlib
    import io

    from xarchkd.preflight import ner_plan
    from xarchkd.recipe import resolve_config
    todo, seconds = 0, 0.0
    for data in args.data:
        finetune = 0.0
        for _, *runs in pairs(data, seeds, args, twin, tag):
            for recipe, sets, out in runs:
                if (out / "results.json").is_file():
                    continue                     # reused if its config is today's (else run again: not counted)
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    # the data's notes (each run's log has them)
                    plan = ner_plan(resolve_config(recipe, [f"data.name={data}", *sets, f"out={out}"]))
                todo, seconds = todo + 1, seconds + plan.seconds - plan.finetune_seconds
                finetune = max(finetune, plan.finetune_seconds)
        seconds += finetune
    print(f"[panel] {todo} run(s) to do, one at a time: ~{seconds / 60:.0f} min on a 2-core CPU (each run's own plan; "
          f"rough, and slower where the cores are shared)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="+", help="data folders (train/valid/test .txt) or resource names")
    p.add_argument("--recipe", default="bert-lstm-ner", help="a distilling NER recipe (its -nokd twin is the baseline)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--runs", default="runs/panel", help="where the runs go")
    p.add_argument("--set", dest="sets", action="append", default=[], help="KEY=VALUE for both runs (repeatable)")
    p.add_argument("--kd-set", dest="kd_sets", action="append", default=[],
                   help="KEY=VALUE for the distilled run only (repeatable)")
    p.add_argument("--tag", default="", help="a name for this variant (rows and run folders)")
    p.add_argument("--seeds", default="0", help="student seeds, comma-separated (default: 0); several add a mean row")
    args = p.parse_args(argv)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip().isdigit()]
    if len(seeds) != len(args.seeds.split(",")) or len(set(seeds)) != len(seeds):
        p.error(f"--seeds: comma-separated whole numbers, none twice, none below 0; got {args.seeds!r}")
    if any(s.startswith("train.seed=") for s in args.sets + args.kd_sets):
        p.error("the seed is set by --seeds, not by --set/--kd-set train.seed=...")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = []
    tag = f"-{args.tag}" if args.tag else ""
    twin = twin_of(args.recipe)
    from xarchkd.errors import XarchkdError
    try:
        say_plan(args, seeds, twin, tag)
    except XarchkdError as e:                   # bad data or config: one line, before any run
        sys.exit(f"[panel] {e}")
    for data in args.data:
        per_seed = []
        for seed, (r, kd_sets, kd_out), (t, sets, twin_out) in pairs(data, seeds, args, twin, tag):
            kd = run_one(r, data, kd_out, kd_sets, kd_out.with_name(kd_out.name + ".log"))
            nokd = run_one(t, data, twin_out, sets, twin_out.with_name(twin_out.name + ".log"))
            label = Path(data).name + tag + (f" (seed {seed})" if seeds != [0] else "")
            per_seed.append({**panel_row(label, args.recipe, kd, nokd), "seed": seed})
        rows += per_seed + ([seed_summary(per_seed)] if len(seeds) > 1 else [])
    table = markdown(rows)
    print(table)
    Path(args.out).write_text(json.dumps({"recipe": args.recipe, "sets": args.sets, "kd_sets": args.kd_sets,
                                          "seeds": seeds, "rows": rows,
                                          "command": " ".join(["python", "benchmarks/panel.py"] + sys.argv[1:])},
                                         indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
