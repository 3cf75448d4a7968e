"""Issue 29's weak messages around an interruption: a failed or interrupted teacher fine-tune removes its
``.partial`` folder (it was left until the same teacher was built again), and Ctrl-C suggests ``--resume``
only when the run has a checkpoint to resume; SIGTERM (kill, timeout, a scheduler) unwinds as Ctrl-C does."""
import os
import signal
import subprocess
import sys
import time

import pytest

import xarchkd.cli as cli
from xarchkd.teachers import finetune


def test_an_interrupted_fine_tune_leaves_no_partial_folder(tmp_path, tiny_teacher, conll_small, monkeypatch):
    def stop(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(finetune, "_train_epoch", stop)
    out = tmp_path / "teacher"
    with pytest.raises(KeyboardInterrupt):
        finetune.ner_teacher(str(tiny_teacher), str(conll_small), out=str(out), epochs=1, min_steps=0,
                             progress=False)
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []


@pytest.mark.parametrize("checkpointed", [False, True])
def test_ctrl_c_suggests_resume_only_with_a_checkpoint(tmp_path, monkeypatch, capsys, checkpointed):
    out = tmp_path / "run"
    if checkpointed:
        (out / "checkpoints" / "last").mkdir(parents=True)

    def stop(cfg, resume=False, progress=True):
        raise KeyboardInterrupt
    from xarchkd.recipe import get_recipe
    monkeypatch.setattr(get_recipe("bert-cnn-ner"), "run", stop)       # the registered recipe object itself
    assert cli.main(["run", "bert-cnn-ner", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    if checkpointed:
        assert err == (f"xarchkd: interrupted; continue the run with: xarchkd run bert-cnn-ner --config "
                       f"{out / 'config.toml'} --out {out} --resume")
    else:
        assert err == ("xarchkd: interrupted before the run's first checkpoint (nothing to --resume; a teacher, "
                       "cache or rows store finished before the interruption is reused by the next run)")


def test_sigterm_stops_a_fine_tune_like_ctrl_c(tmp_path, tiny_teacher, conll_small):
    """Probe of 2026-12-04: `timeout` / `kill` (SIGTERM) ended a teacher fine-tune at once and left its
    ``.partial`` folder; now SIGTERM unwinds as Ctrl-C does: the folder is removed, one line, exit 143."""
    out = tmp_path / "teacher"
    cmd = [sys.executable, "-c", "import sys; from xarchkd.cli import main; sys.exit(main(sys.argv[1:]))", "teacher",
           "--encoder", str(tiny_teacher), "--data", str(conll_small), "--out", str(out), "--epochs", "1000",
           "--min-steps", "0"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "XARCHKD_HOME": str(tmp_path / "home")})
    partial = tmp_path / "teacher.partial"
    try:
        deadline = time.time() + 120
        while not partial.exists() and p.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert partial.exists(), "the fine-tune did not start within 120 s"
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1] == "xarchkd: stopped by SIGTERM"
    assert not partial.exists() and not out.exists()


def test_a_forked_worker_keeps_sigterm_s_default():
    """A process forked from one running ``main`` (``datasets``' map workers) inherits the handler; SIGTERM still
    ends it at once, as the pool that sends it expects (no ``Terminated`` raised in a worker)."""
    before = signal.signal(signal.SIGTERM, cli._on_sigterm(os.getpid()))
    try:
        child = os.fork()
        if child == 0:      # the worker: wait to be ended; never go back into pytest, whatever happens
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        time.sleep(0.2)
        os.kill(child, signal.SIGTERM)
        _, status = os.waitpid(child, 0)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
