"""Where a run writes (issue 29.8, 29.9): an --out or XARCHKD_HOME that is a file or cannot be written is one line
before any work; a disk too small is refused from the plan; a disk that fills while saving is one line that says
what is kept, and the best student so far stays usable as it is (tokenizer and data record included)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import xarchkd
from xarchkd.disk import check_space, check_writable
from xarchkd.errors import ConfigError

from conftest import cli, tiny

REPO = Path(__file__).resolve().parents[1]


def _unwritable(tmp_path) -> Path:
    """A folder this process cannot write in: a read-only one for a normal user; for root (who writes anywhere the
    permissions say no) /sys, which refuses new files to everyone."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    if not Path("/sys").is_dir():
        pytest.skip("running as root without /sys: no read-only place to try")
    return Path("/sys")


def test_an_out_or_home_that_is_a_file_or_read_only_is_one_line_before_any_work(tmp_path, tiny_teacher, conll_small,
                                                                                monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    with pytest.raises(ConfigError, match=r"^--out .*notes.txt: is a file, not a folder"):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, conll_small, out="notes.txt"))
    with pytest.raises(ConfigError, match=r"^--out .*notes.txt/run: .*notes.txt is a file, so no folder"):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, conll_small, out="notes.txt/run"))
    ro = _unwritable(tmp_path)
    with pytest.raises(ConfigError, match=rf"^--out {ro}/run: cannot write in {ro} \(.+\): give a folder you can"):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, conll_small, out=str(ro / "run")))
    monkeypatch.setenv("XARCHKD_HOME", str(a_file))
    with pytest.raises(ConfigError, match=r"^XARCHKD_HOME .*notes.txt: is a file, not a folder"):   # caches go there
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, conll_small, cache_dir=""))
    from xarchkd.data.resources import fetch
    with pytest.raises(ConfigError, match=r"^XARCHKD_HOME .*notes.txt: is a file"):
        fetch("names")                          # any command that fetches says it too
    assert a_file.read_text() == "mine\n" and not (tmp_path / "run").exists()     # nothing lost, nothing made


def test_a_disk_too_small_for_the_plan_is_refused_and_the_plan_says_the_room(tmp_path, tiny_teacher, conll_small,
                                                                          capsys):
    with pytest.raises(ConfigError, match=r"^not enough disk space: this run needs about 1000.0 GB \(the run folder "
                                          r"~1000.0 GB\) on the disk holding .*, which has .* free"):
        check_space([("the run folder", tmp_path / "run", 1e12)])
    check_space([("the run folder", tmp_path / "run", 1e3)])
    from xarchkd.preflight import say_plan
    from xarchkd.recipe import resolve_config
    say_plan(resolve_config("bert-cnn-ner", tiny(tmp_path, tiny_teacher, conll_small)))
    out = capsys.readouterr().out
    assert "disk     ~" in out and "the run folder ~140 MB" in out and "logits cache ~" in out and "free under --out" in out


def test_check_writable_takes_a_new_folder_under_a_writable_one(tmp_path):
    check_writable(tmp_path / "a" / "b", "--out")
    assert not (tmp_path / "a").exists()        # checking makes nothing
    assert not list(tmp_path.iterdir())         # and leaves no probe behind


def test_a_full_disk_while_saving_is_one_line_and_the_best_student_is_kept_usable(tmp_path, tiny_teacher, conll_small,
                                                                                 capsys):
    """A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) is a real write failure the kernel gives, like a full disk:
    set between the student's weights and the checkpoint's optimizer state, the first checkpoint's save fails."""
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"data.train_limit": 60, "data.eval_limit": 30,
                                                     "prune_vocab": False})   # weights (2 MB) over tokenizer.json's
    xarchkd.run("bert-cnn-ner", progress=False, **o)          # sizes of this run's files, and its caches to reuse
    run = Path(o["out"])
    optimizer = (run / "checkpoints" / "last" / "optimizer.bin").stat().st_size
    others = max(f.stat().st_size for f in run.rglob("*") if f.is_file() and f.name != "optimizer.bin")
    assert others < optimizer
    limit = (others + optimizer) // 2
    out = tmp_path / "full"
    args = ["run", "bert-cnn-ner", "--out", str(out)] + [a for k, v in o.items() if k != "out"
                                                         for a in ("--set", f"{k}={v}")]
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
            "from xarchkd.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", code, *args, "--quiet"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=600)
    lines = [l for l in p.stderr.splitlines() if l.startswith("xarchkd: error")]
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert len(lines) == 1 and "checkpoints/last.tmp" in lines[0] and "a write failed" in lines[0]
    assert f"the best student so far (epoch 1) is in {out / 'student'}" in lines[0]
    assert not (out / "checkpoints" / "last.tmp").exists()         # the half-written save gave its space back
    code, stdout, _ = cli(capsys, "eval", out / "student")
    assert code == 0 and json.loads(stdout)["data"] == str(Path(conll_small).resolve())   # its own data, not CoNLL


def test_a_repaired_cache_is_said_even_when_quiet(tmp_path, tiny_teacher, conll_small, capsys):
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"data.train_limit": 20, "data.eval_limit": 10})
    xarchkd.run("bert-cnn-ner", progress=False, **o)
    logits = sorted(Path(o["cache_dir"]).glob("ner-*/logits.npy"))
    assert logits
    with open(logits[0], "r+b") as f:           # one byte changed in a finished cache
        f.seek(-1, 2)
        b = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([b[0] ^ 0xFF]))
    capsys.readouterr()
    xarchkd.run("bert-cnn-ner", progress=False, **{**o, "out": str(tmp_path / "again")})
    assert "rebuilding it" in capsys.readouterr().err
