"""Sharded cache builds: `xarchkd cache` under `accelerate launch` with 2 CPU processes (gloo) writes the
one-process cache (same fingerprint, same bytes), records its shards, and resumes after a kill -9 of a rank."""
import json
import textwrap

import numpy as np
import pytest

from conftest import accelerate_launch
from xarchkd.data.ner_data import read_conll
from xarchkd.data.ner_data import encode_sentences
from xarchkd.teachers.cache import ner_cache, open_cache
from xarchkd.teachers.teacher import Teacher

BATCH = 16


def _launch(args, cwd, script=None):
    """``script`` (default: ``xarchkd``'s command line) with ``args`` under ``accelerate launch`` with 2 processes."""
    return accelerate_launch([*([str(script)] if script else ["-m", "xarchkd.cli"]), *args], cwd)


def _cache_args(tiny_teacher, conll_small, root):
    return ["cache", "--teacher", str(tiny_teacher), "--data", str(conll_small), "--batch-size", str(BATCH),
            "--root", str(root)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_teacher, conll_small):
    """The one-process cache of the rows `xarchkd cache` builds (train split, max length 128)."""
    t = Teacher.load(str(tiny_teacher), "ner", device="cpu")
    ds = read_conll(conll_small / "train.txt")
    rows = encode_sentences(list(ds["words"]), list(ds["tags"]), t.tokenizer, t.labels, 128, source="train")
    return ner_cache(t, rows, tmp_path_factory.mktemp("ref"), batch_size=BATCH, progress=False)


def _same_cache(c, ref):
    assert c.path.name == ref.path.name and c.manifest["fingerprint"] == ref.manifest["fingerprint"]
    assert c.manifest["files"] == ref.manifest["files"]            # sizes and sha256 of every array
    for name in ref.arrays:
        assert (c.path / f"{name}.npy").read_bytes() == (ref.path / f"{name}.npy").read_bytes()


KILL_A_RANK = textwrap.dedent("""
    import os, signal, sys
    import xarchkd.teachers.cache as cache
    from xarchkd.cli import main
    kill_rank, kill_at = int(sys.argv[1]), int(sys.argv[2])
    if kill_at and int(os.environ.get("RANK", "0")) == kill_rank:
        real, calls = cache._ner_batch, [0]
        def dies(*a, **k):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)     # this rank dies mid-build, as with `kill -9`
            return real(*a, **k)
        cache._ner_batch = dies
    cache.FLUSH_SECONDS = 0      # mark every batch as it is done, so the kill point is exact
    sys.exit(main(sys.argv[3:]))
""")


@pytest.mark.parametrize("kill_rank", [0, 1])
def test_a_killed_rank_resumes_where_each_shard_stopped(tmp_path, tiny_teacher, conll_small, reference, kill_rank):
    """kill -9 of one rank ends the launch (torch's elastic agent stops the others); the next launch
    computes only the batches no rank had flushed, in shards over both ranks, and the cache is the one-process
    cache, found by the next launch without a teacher forward."""
    script = tmp_path / "kill_a_rank.py"
    script.write_text(KILL_A_RANK)
    root = tmp_path / "c"
    args = _cache_args(tiny_teacher, conll_small, root)
    p = _launch([str(kill_rank), "4", *args], tmp_path, script=script)
    assert p.returncode != 0
    assert [d.name.endswith(".partial") for d in root.iterdir() if d.is_dir()] == [True]   # nothing looks finished
    partial = next(root.glob("*.partial"))
    done = np.load(partial / "batches_done.npy")
    n_batches = -(-len(reference) // BATCH)
    assert len(done) == n_batches and 3 <= done.sum() < n_batches     # the killed rank had flushed 3 batches
    p = _launch(["0", "0", *args], tmp_path, script=script)
    assert p.returncode == 0, p.stderr[-3000:]
    c = open_cache(json.loads(p.stdout)["path"])
    b = c.manifest["build"]
    assert b["resumed_at_batch"] == int(done.sum()) and "resuming cache build" in p.stderr
    assert sum(s["batches"] for s in b["shards"]) == n_batches - int(done.sum())      # only the rest was computed
    assert b["processes"] == 2 and [s["rank"] for s in b["shards"]] == [0, 1]
    assert min(s["batches"] for s in b["shards"]) > 0                  # both ranks computed some of the rest
    assert all(s["seconds"] >= 0 for s in b["shards"]) and b["rows_per_s"] > 0
    assert "2 processes" in p.stderr and "row/s" in p.stderr           # the progress bar counts rows, with a rate
    assert reference.manifest["build"]["processes"] == 1
    _same_cache(c, reference)
    assert not partial.exists()
    if kill_rank == 1:     # a launch finds the finished cache: the main rank decides "reuse" for both ranks
        p = _launch(args, tmp_path)
        assert p.returncode == 0, p.stderr[-3000:]
        assert json.loads(p.stdout)["teacher_forwards_this_call"] == 0
