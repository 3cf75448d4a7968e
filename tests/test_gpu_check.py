"""benchmarks/gpu_check.py run as a user runs it (a subprocess: it switches on deterministic algorithms), and
benchmarks/train_speed.py's main, on real recipes."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# The CPU check runs the script's per-block path for two blocks: the LSTM (cuDNN's shared weight buffer on a
# GPU) and SRU++ (the sru package's kernel and attention); a GPU run of the script covers all four. Without a GPU,
# SRU's and the CNN's kill-and-resume are not compared weight for weight (the LSTM's: tests/test_train.py too).
BLOCKS = ["lstm", "srupp"]


def run_script(name, *args, timeout=3600):   # generous: other jobs may share the cores
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")
def test_gpu_check_without_a_gpu_says_so_in_one_line_and_exits_0(tmp_path):
    p = run_script("gpu_check.py", "--out", tmp_path / "gc")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().count("\n") == 0 and "no CUDA GPU" in p.stdout
    assert not (tmp_path / "gc").exists()


@pytest.mark.slow
def test_gpu_check_cpu_mode_reports_a_row_per_block(tmp_path, conll_small):
    out = tmp_path / "gc"
    p = run_script("gpu_check.py", "--cpu", "--blocks", ",".join(BLOCKS), "--train", 32, "--valid", 10, "--data",
                   conll_small, "--out", out)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert [(r["block"], r["precision"]) for r in report["rows"]] == [(b, "fp32") for b in BLOCKS]
    assert report["settings"]["deterministic"] is True and "deterministic algorithms on" in (out / "gpu_check.md").read_text()
    for r in report["rows"]:
        assert r["errors"] == [] and r["resume_equal"] == "yes" and r["nondeterministic_ops"] == [], r
        assert 0.0 <= r["f1"] <= 1.0 and r["train_sent_per_s"] > 0 and r["train_rows"] == 32
    assert report["cache_build"]["rows"] == 32 and report["cache_build"]["teacher_on_gpu"] == "no"
    md = (out / "gpu_check.md").read_text()
    for b in BLOCKS:
        assert f"| {b} | fp32 |" in md and f"| {b} | fp32 |" in p.stdout

    # the resume comparison can say no: a changed weight, then a dropped one (cuDNN's shared LSTM buffer)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_check import compare_checkpoints
    from safetensors.torch import load_file, save_file
    other = tmp_path / "other"
    shutil.copytree(out / "lstm-fp32-resumed", other)
    f = other / "checkpoints" / "last" / "model.safetensors"
    w = load_file(str(f))
    key = next(k for k in w if "weight_hh" in k)
    w[key] = w[key] + 1e-3
    save_file(w, str(f))
    assert compare_checkpoints(out / "lstm-fp32", other).startswith(f"no (max |diff| 1.00e-03 in {key}")
    del w[key]
    save_file(w, str(f))
    assert compare_checkpoints(out / "lstm-fp32", other).startswith("no (resumed checkpoint lacks 1 weights")

    # a "no" can sit beside an op that ran nondeterministically anyway (warn_only): the row names it
    from gpu_check import NONDETERMINISTIC, _nondeterministic_ops
    stderr = f"x.py:1: UserWarning: embedding_dense_backward_cuda {NONDETERMINISTIC}, but you set ...\nother line"
    assert _nondeterministic_ops([stderr, "nothing"]) == ["embedding_dense_backward_cuda"]


@pytest.mark.slow
def test_train_speed_reports_sentences_per_second(tmp_path, conll_small, capsys, monkeypatch):
    """The script's ``main`` in this process: its imports (torch, transformers, seqeval: ~7 s in a new process) are
    this worker's already. What it changes for the process is put back: ``sys.path`` and the recipes it registers
    (so tests of the entry points still see only those); torch's seed is reseeded by each test that needs one."""
    from xarchkd import recipe
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setattr(recipe, "_REGISTERED", dict(recipe._REGISTERED))
    from train_speed import main
    args = ["--blocks", "cnn,lstm", "--sentences", "48", "--device", "cpu", "--data", str(conll_small), "--json",
            str(tmp_path / "speed.json")]
    assert main(args) == 0, capsys.readouterr().out[-3000:]
    res = json.loads((tmp_path / "speed.json").read_text())
    assert [(r["block"], r["device"], r["precision"]) for r in res["rows"]] == [("cnn", "cpu", "fp32"),
                                                                              ("lstm", "cpu", "fp32")]
    for r in res["rows"]:
        assert r["sentences"] == 48 and r["sentences_per_s"] > 0 and len(r["epoch_seconds"]) == 1
    assert res["collate_ms_per_batch"] > 0 and res["environment"]["torch"] == torch.__version__
