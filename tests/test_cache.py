"""The teacher-logits cache: equal to a direct forward, keyed by fingerprint, resumable, verified, reused."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from xarchkd.data.ner_data import read_conll
from xarchkd.data.ner_data import encode_sentences
from xarchkd.errors import CacheError
from xarchkd.teachers.cache import ner_cache, open_cache
from xarchkd.teachers.teacher import Teacher

from conftest import LABELS, make_tiny_teacher


@pytest.fixture(scope="module")
def rows(conll_small, tokenizer):
    ds = read_conll(conll_small / "train.txt")
    return encode_sentences(list(ds["words"]), list(ds["tags"]), tokenizer, LABELS, 64)


def test_cache_equals_direct_forward(tmp_path, tiny_teacher, rows):
    t = Teacher.load(str(tiny_teacher), "ner")
    c = ner_cache(t, rows, tmp_path, batch_size=16, progress=False)
    assert len(c) == len(rows) and c.arrays["logits"].shape == (rows.n_words, 9)
    assert c.arrays["logits"].dtype == np.float16
    for r in (0, 7, len(rows) - 1):  # one sentence at a time, unpadded
        ids = torch.as_tensor(rows.input_ids[r][None].astype(np.int64))
        with torch.no_grad():
            ref = t.model(input_ids=ids.to(t.device)).logits[0].float().cpu()
        ref = ref[torch.as_tensor(rows.word_pos[r], dtype=torch.long)]
        np.testing.assert_allclose(c.row("logits", r).astype(np.float32), ref.numpy(), atol=2e-3, rtol=2e-3)


def test_reuse_does_zero_teacher_forwards(tmp_path, tiny_teacher, rows):
    t1 = Teacher.load(str(tiny_teacher), "ner")
    c1 = ner_cache(t1, rows, tmp_path, progress=False)
    assert t1.forward_count > 0
    t2 = Teacher.load(str(tiny_teacher), "ner")
    c2 = ner_cache(t2, rows, tmp_path, progress=False)
    assert t2.forward_count == 0 and c2.path == c1.path
    # by path, the teacher is not even loaded
    c3 = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)
    assert c3.path == c1.path


def test_fingerprint_changes_with_data_and_weights(tmp_path, tiny_teacher, tokenizer, rows):
    a = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)
    fewer = encode_sentences([["EU", "rejects", "German", "call"]], [["B-ORG", "O", "B-MISC", "O"]],
                             tokenizer, LABELS, 64)
    b = ner_cache(str(tiny_teacher), fewer, tmp_path, progress=False)
    other = make_tiny_teacher(tmp_path / "other-teacher", tokenizer, seed=1)
    c = ner_cache(str(other), rows, tmp_path, progress=False)
    assert len({a.path, b.path, c.path}) == 3
    assert not np.array_equal(np.asarray(a.arrays["logits"]), np.asarray(c.arrays["logits"]))


def test_explicit_path_built_for_other_inputs_is_refused(tmp_path, tiny_teacher, tokenizer, rows):
    a = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)
    fewer = encode_sentences([["EU", "rejects"]], [["B-ORG", "O"]], tokenizer, LABELS, 64)
    with pytest.raises(CacheError, match="built for other inputs"):
        ner_cache(str(tiny_teacher), fewer, tmp_path, path=a.path, progress=False)


def test_truncated_or_corrupt_cache_is_detected_and_rebuilt(tmp_path, tiny_teacher, rows):
    a = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)
    good = np.array(a.arrays["logits"])
    f = a.path / "logits.npy"
    del a
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size - 100)
    with pytest.raises(CacheError, match="truncated"):
        open_cache(f.parent)
    b = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)  # rebuilt
    np.testing.assert_array_equal(np.array(b.arrays["logits"]), good)
    # a flipped byte with the size intact fails the checksum
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="sha256"):
        open_cache(f.parent)
    (f.parent / "manifest.json").write_text("{not json")
    with pytest.raises(CacheError, match="manifest.json is corrupt"):
        open_cache(f.parent)


def test_label_mismatch_is_refused(tmp_path, tokenizer, rows):
    other = make_tiny_teacher(tmp_path / "t5", tokenizer, labels=["O", "B-X", "I-X"])
    with pytest.raises(CacheError, match="label sets must match"):
        ner_cache(str(other), rows, tmp_path, progress=False)


KILLER = textwrap.dedent("""
    import os, sys, signal
    sys.path.insert(0, {tests!r})
    from conftest import LABELS
    from transformers import AutoTokenizer
    from xarchkd.data.ner_data import read_conll
    from xarchkd.data.ner_data import encode_sentences
    from xarchkd.teachers.teacher import Teacher
    import xarchkd.teachers.cache as cache
    tok = AutoTokenizer.from_pretrained({teacher!r})
    ds = read_conll({data!r})
    rows = encode_sentences(list(ds["words"]), list(ds["tags"]), tok, LABELS, 64)
    t = Teacher.load({teacher!r}, "ner")
    kill_at = int(sys.argv[1])
    real = cache._ner_batch
    calls = [0]
    def counting(*a, **k):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)   # die mid-build, as a crash or `kill -9` would
        return real(*a, **k)
    cache._ner_batch = counting
    cache.FLUSH_SECONDS = 0   # record progress after every batch, so the kill point is exact
    c = cache.ner_cache(t, rows, {root!r}, batch_size=8, progress=True)
    print("DONE", c.manifest["build"]["resumed_at_batch"], t.forward_count)
""")


def test_killed_build_resumes_and_matches_uninterrupted(tmp_path, tiny_teacher, conll_small, rows):
    ref = ner_cache(str(tiny_teacher), rows, tmp_path / "ref", batch_size=8, progress=False)
    script = tmp_path / "build.py"
    root = tmp_path / "killed"
    script.write_text(KILLER.format(tests=os.path.dirname(__file__), teacher=str(tiny_teacher),
                                    data=str(conll_small / "train.txt"), root=str(root)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([sys.executable, str(script), "30"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == -9, p.stderr[-2000:]
    assert [d.name.endswith(".partial") for d in root.iterdir() if d.is_dir()] == [True]  # nothing half-finished looks done
    p = subprocess.run([sys.executable, str(script), "0"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    resumed_at, forwards = map(int, p.stdout.split("DONE")[1].split())
    n_batches = -(-len(rows) // 8)
    assert resumed_at == 29 and forwards == n_batches - resumed_at
    c = open_cache(next(d for d in root.iterdir() if d.is_dir() and not d.name.endswith(".partial")))
    np.testing.assert_array_equal(np.array(c.arrays["logits"]), np.array(ref.arrays["logits"]))


CONCURRENT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from conftest import LABELS
    from transformers import AutoTokenizer
    from xarchkd.data.ner_data import read_conll
    from xarchkd.data.ner_data import encode_sentences
    from xarchkd.teachers.cache import ner_cache
    from xarchkd.teachers.teacher import Teacher
    tok = AutoTokenizer.from_pretrained({teacher!r})
    ds = read_conll({data!r})
    rows = encode_sentences(list(ds["words"]), list(ds["tags"]), tok, LABELS, 64)
    t = Teacher.load({teacher!r}, "ner")
    c = ner_cache(t, rows, {root!r}, batch_size=8, progress=False)
    print("FORWARDS", t.forward_count, c.path)
""")


def test_two_processes_building_the_same_cache_do_not_corrupt_it(tmp_path, tiny_teacher, conll_small, rows):
    script = tmp_path / "build.py"
    root = tmp_path / "shared"
    script.write_text(CONCURRENT.format(tests=os.path.dirname(__file__), teacher=str(tiny_teacher),
                                        data=str(conll_small / "train.txt"), root=str(root)))
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    forwards = sorted(int(o[0].split("FORWARDS")[1].split()[0]) for o in outs)
    n_batches = -(-len(rows) // 8)
    assert forwards == [0, n_batches]  # one built it under the lock, the other found it finished
    paths = {o[0].split()[-1] for o in outs}
    assert len(paths) == 1
    open_cache(paths.pop())  # verifies sizes and checksums


def test_key_ignores_device_and_precision_which_the_manifest_records(tmp_path, tiny_teacher, rows):
    """Where and how the teacher ran is build information, not input: a cache built on the CPU in fp32
    answers a request for another device or precision without loading the teacher, and its manifest says
    where it was built. On the CPU, fp16/bf16 are refused with the training run's message."""
    t = Teacher.load(str(tiny_teacher), "ner", device="cpu")
    c = ner_cache(t, rows, tmp_path, batch_size=16, progress=False)
    assert {k: c.manifest["build"][k] for k in ("device", "device_name", "precision")} == \
        {"device": "cpu", "device_name": "cpu", "precision": "no"}
    again = ner_cache(str(tiny_teacher), rows, tmp_path, batch_size=16, progress=False, device="cuda:0",
                      mixed_precision="bf16")          # a hit: nothing is loaded, so no GPU is needed
    assert again.path == c.path and again.manifest == c.manifest
    from xarchkd.errors import ConfigError
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a GPU"):
            ner_cache(str(tiny_teacher), rows, tmp_path / "other", progress=False, mixed_precision="bf16")
        with pytest.raises(ConfigError, match="needs a GPU"):
            Teacher.load(str(tiny_teacher), "ner", mixed_precision="fp16")
        assert Teacher.load(str(tiny_teacher), "ner").device.type == "cpu"     # "auto" without a GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision,tol", [("no", 2e-3), ("bf16", 6e-2)])
def test_cache_built_on_the_gpu_matches_the_cpu_one(tmp_path, tiny_teacher, rows, precision, tol):
    """By default the teacher goes to the GPU; the cache it builds there (fp32 or under bf16 autocast) has
    the CPU build's fingerprint, files, dtypes and shapes, and logits within the precision's tolerance."""
    cpu = ner_cache(Teacher.load(str(tiny_teacher), "ner", device="cpu"), rows, tmp_path / "cpu", progress=False)
    t = Teacher.load(str(tiny_teacher), "ner", mixed_precision=precision)
    assert t.device.type == "cuda"
    gpu = ner_cache(t, rows, tmp_path / "gpu", progress=False, hidden=False)
    assert gpu.manifest["fingerprint"] == cpu.manifest["fingerprint"] and gpu.path.name == cpu.path.name
    assert gpu.manifest["build"]["device"] == "cuda" and gpu.manifest["build"]["precision"] == precision
    assert {k: (v["bytes"]) for k, v in gpu.manifest["files"].items()} == \
        {k: (v["bytes"]) for k, v in cpu.manifest["files"].items()}
    assert gpu.manifest["arrays"] == cpu.manifest["arrays"]
    np.testing.assert_allclose(np.asarray(gpu.arrays["logits"], np.float32),
                               np.asarray(cpu.arrays["logits"], np.float32), atol=tol, rtol=tol)
