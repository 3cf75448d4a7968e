"""Transfer corpora of any size (issue 15, part 2): corpus files -> on-disk rows store -> teacher cache -> batches.

Real small inputs: the first lines of the bundled English text corpus (pydoc-text) written as text, JSON lines,
parquet and a folder; the real MiniLM tokenizer; the tiny random teacher for caches and runs.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import LABELS, tiny

from xarchkd.data.batching import BlockLengths, block_batches, length_batches
from xarchkd.data.corpus import check_corpus, corpus_rows
from xarchkd.data.disk_examples import DiskNerExamples, NerExamples, ner_examples
from xarchkd.data.memmaps import NpyAppender, drop_pages
from xarchkd.data.ner_data import encode_sentences
from xarchkd.data.rowstore import RowStore, open_store, write_rows
from xarchkd.data.text import split_sentences, words
from xarchkd.errors import CacheError, DataError
from xarchkd.teachers.cache import ner_cache


@pytest.fixture(scope="module")
def lines():
    """300 lines of real English prose (about 500 sentences), with blank lines between some."""
    from xarchkd.data.resources import fetch
    text = (fetch("pydoc-text") / "corpus.txt").read_text(encoding="utf-8").splitlines()
    return text[:300]


@pytest.fixture(scope="module")
def tok_dir(minilm_dir):
    return str(minilm_dir)


def sentences_of(lines):
    """What every corpus reader must make of ``lines``: ``text.split_sentences`` and ``words``, 3..60 words."""
    return [w for w in (words(s) for s in split_sentences("\n".join(lines))) if 3 <= len(w) <= 60]


def same_rows(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.content_arrays(), b.content_arrays())) and \
        all(np.array_equal(x, y) for x, y in zip(a.shapes, b.shapes))


def store(path, tok_dir, root, **kw):
    return corpus_rows(path, tok_dir, LABELS, root, max_length=kw.pop("max_length", 24), progress=False, **kw)


def test_text_jsonl_parquet_and_folder_give_the_same_rows(tmp_path, lines, tok_dir, tokenizer):
    import pyarrow as pa
    import pyarrow.parquet as pq
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    with open(tmp_path / "c.jsonl", "w") as f:
        for l in lines:
            f.write(json.dumps({"id": 1, "text": l}) + "\n")
    pq.write_table(pa.table({"text": lines, "n": list(range(len(lines)))}), tmp_path / "c.parquet")
    folder = tmp_path / "folder"
    (folder / "b").mkdir(parents=True)
    (folder / "a.txt").write_text("\n".join(lines[:120]) + "\n")
    (folder / "b" / "c.txt").write_text("\n".join(lines[120:]) + "\n")
    (folder / "README.md").write_text("not part of the corpus\n")
    # max_length 24 splits the longer sentences into several rows: sentence ids must follow
    expected = encode_sentences(sentences_of(lines), None, tokenizer, LABELS, 24)
    assert len(expected) > len(set(expected.sent_id.tolist())) > 400
    stores = {name: store(tmp_path / name, tok_dir, tmp_path / "root")
              for name in ("c.txt", "c.jsonl", "c.parquet", "folder")}
    assert len({s.path for s in stores.values()}) == 4        # four corpora, four stores
    for name, s in stores.items():
        assert isinstance(s, RowStore)
        assert same_rows(s, expected), name
        assert s.n_sentences == len(set(expected.sent_id.tolist())) and s.n_words == expected.n_words
        v = len(s.arrays["token_counts"])                          # the tokenizer's vocabulary
        assert np.array_equal(s.id_counts(v), expected.id_counts(v))      # each sub-word as often
        assert all((s.labels[i] == -1).all() for i in range(len(s)))
    assert stores["c.txt"].manifest["source"]["reader"] == "text"
    assert stores["folder"].manifest["source"]["files"] == 2     # README.md is not a corpus file


def test_num_proc_2_gives_the_rows_of_1_and_a_second_call_reuses_the_store(tmp_path, lines, tok_dir):
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    one = store(tmp_path / "c.txt", tok_dir, tmp_path / "r1", num_proc=1)
    two = store(tmp_path / "c.txt", tok_dir, tmp_path / "r2", num_proc=2)
    assert two.manifest["build"]["num_proc"] == 2 and one.manifest["build"]["num_proc"] == 1
    assert one.manifest["fingerprint"] == two.manifest["fingerprint"]
    for name in ("input_ids", "shapes", "tok_offsets", "word_pos", "labels", "word_offsets", "sent_id",
                 "token_counts"):
        assert (one.path / f"{name}.npy").read_bytes() == (two.path / f"{name}.npy").read_bytes(), name
    mtime = (two.path / "manifest.json").stat().st_mtime_ns
    again = store(tmp_path / "c.txt", tok_dir, tmp_path / "r2", num_proc=2)
    assert again.path == two.path and (two.path / "manifest.json").stat().st_mtime_ns == mtime


def test_a_limit_takes_a_seeded_subset_in_corpus_order(tmp_path, lines, tok_dir, tokenizer):
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    sents = sentences_of(lines)
    a = store(tmp_path / "c.txt", tok_dir, tmp_path / "r", n=100, seed=3, max_length=128)
    b = store(tmp_path / "c.txt", tok_dir, tmp_path / "r", n=100, seed=4, max_length=128)
    assert a.n_sentences == b.n_sentences == 100 and a.path != b.path
    kept = sorted(np.random.default_rng(3).choice(len(sents), 100, replace=False))
    assert same_rows(a, encode_sentences([sents[i] for i in kept], None, tokenizer, LABELS, 128))


def test_the_store_gives_the_cache_and_batches_of_in_memory_rows(tmp_path, lines, tok_dir, tokenizer, tiny_teacher):
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    s = store(tmp_path / "c.txt", tok_dir, tmp_path / "root")
    rows = encode_sentences(sentences_of(lines), None, tokenizer, LABELS, 24)
    c_store = ner_cache(str(tiny_teacher), s, tmp_path / "cs", batch_size=16, progress=False)
    c_rows = ner_cache(str(tiny_teacher), rows, tmp_path / "cr", batch_size=16, progress=False)
    assert c_store.path.name == c_rows.path.name          # the same fingerprint
    for f in ("logits.npy", "offsets.npy"):
        assert (c_store.path / f).read_bytes() == (c_rows.path / f).read_bytes()
    # batches: a store alone, and a store after in-memory labelled rows (as a run has them)
    labelled = encode_sentences([["Paris", "is", "in", "France", "."], ["Angela", "Merkel", "spoke"]],
                                [["B-LOC", "O", "O", "B-LOC", "O"], ["B-PER", "I-PER", "O"]], tokenizer, LABELS, 24)
    c_lab = ner_cache(str(tiny_teacher), labelled, tmp_path / "cr", batch_size=16, progress=False)
    rng = np.random.default_rng(0)
    for disk_parts, mem_parts in (([(s, c_store)], [(rows, c_rows)]),
                                  ([(labelled, c_lab), (s, c_store)], [(labelled, c_lab), (rows, c_rows)])):
        disk, mem = ner_examples(disk_parts, 0), NerExamples(mem_parts, 0)
        assert isinstance(disk, DiskNerExamples) and len(disk) == len(mem)
        assert np.array_equal(np.asarray(disk.lengths), np.asarray(mem.lengths))
        for idx in ([0], [1, 0], list(range(len(mem))), rng.choice(len(mem), 33, replace=False).tolist()):
            a, b = disk.collate(idx), mem.collate(idx)
            assert a.keys() == b.keys()
            for k in a:
                assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    # an in-memory run keeps its own batches (NerExamples)
    assert isinstance(ner_examples([(rows, c_rows)], 0), NerExamples)


def test_block_batches_are_seeded_cover_every_row_once_and_read_a_window_at_a_time():
    lengths = np.random.default_rng(1).integers(3, 60, size=10_001)
    plan = lambda seed: block_batches(lengths, 32, seed, block_rows=500, window=4)
    a, b, c = plan(7), plan(7), plan(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a, c))
    for p in (a, c):
        assert np.array_equal(np.sort(np.concatenate(p)), np.arange(len(lengths)))     # each row once
        assert max(len(x) for x in p) == 32
    # consecutive batches stay inside one window of 4 blocks: an epoch reads the disk a window at a time
    blocks = [set((x // 500).tolist()) for x in a]
    windows, current = [], set()
    for bl in blocks:
        if len(current | bl) > 4:
            windows.append(current)
            current = set()
        current |= bl
    windows.append(current)
    assert len(windows) == -(-21 // 4)      # 21 blocks, 4 per window: 6 windows, each visited once
    assert sorted(b for w in windows for b in w) == list(range(21))
    # the training loop's call hands BlockLengths to block_batches; unshuffled, they sort as plain lengths
    via = length_batches(BlockLengths(lengths, 500, 4), 32, shuffle=True, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(via, a))
    assert np.array_equal(np.concatenate(length_batches(BlockLengths(lengths), 32, shuffle=False)),
                          np.concatenate(length_batches(lengths, 32, shuffle=False)))


def test_bad_corpus_files_are_one_line_errors_naming_them(tmp_path, tok_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def error(path, **kw):
        with pytest.raises(DataError) as e:
            store(path, tok_dir, tmp_path / "root", **kw)
        msg = str(e.value)
        assert "\n" not in msg
        return msg

    assert error(tmp_path / "nope.txt") == f"{tmp_path / 'nope.txt'}: no such file or folder"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.md").write_text("x")
    assert "no corpus files" in error(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.txt").write_text("One sentence here.\n")
    (mixed / "b.jsonl").write_text('{"text": "Another sentence here."}\n')
    assert "mixes json and text files" in error(mixed)
    good = '{"text": "The cat sat on the mat."}\n'
    (tmp_path / "bad.jsonl").write_text(good * 2 + '{"text": "broken\n' + good)
    assert error(tmp_path / "bad.jsonl").startswith(f"{tmp_path / 'bad.jsonl'}:3: not valid JSON")
    (tmp_path / "late.jsonl").write_text(good * 150 + "not json at all\n")      # past check_corpus's first lines
    check_corpus(tmp_path / "late.jsonl")
    assert error(tmp_path / "late.jsonl").startswith(f"{tmp_path / 'late.jsonl'}:151: not valid JSON")
    (tmp_path / "field.jsonl").write_text(good + '{"body": "No text field."}\n')
    msg = error(tmp_path / "field.jsonl")
    assert msg.startswith(f"{tmp_path / 'field.jsonl'}:2: no 'text' field (fields: body)")
    pq.write_table(pa.table({"body": ["A sentence of words."]}), tmp_path / "p.parquet")
    assert error(tmp_path / "p.parquet") == f"{tmp_path / 'p.parquet'}: has no column 'text' (columns: body)"
    assert store(tmp_path / "p.parquet", tok_dir, tmp_path / "root", field="body").n_sentences == 1
    (tmp_path / "short.txt").write_text("Too short\nHi .\n")
    assert "no sentences of 3..60 words" in error(tmp_path / "short.txt")
    assert len(list((tmp_path / "root").glob("rows-*/manifest.json"))) == 1   # only the readable parquet made one


def test_the_cli_and_a_run_refuse_a_bad_corpus_before_any_teacher_work(tmp_path, tiny_teacher, conll_small):
    import xarchkd
    (tmp_path / "bad.jsonl").write_text('{"text": "fine line here."}\n{oops\n')
    proc = subprocess.run([sys.executable, "-m", "xarchkd.cli", "corpus", str(tmp_path / "bad.jsonl"), "--teacher",
                           str(tiny_teacher), "--root", str(tmp_path / "root")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(f"{tmp_path / 'bad.jsonl'}:2: not valid JSON "
                                                         "(Expecting property name enclosed in double quotes at "
                                                         "column 2)")
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"data.transfer": f"corpus:{tmp_path / 'bad.jsonl'}",
                                                     "data.transfer_factor": 1.0})
    with pytest.raises(DataError, match="bad.jsonl:2: not valid JSON"):
        xarchkd.run("bert-cnn-ner", **o)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_trains_on_a_corpus_store_and_the_cli_caches_one(tmp_path, lines, tiny_teacher, conll_small):
    import xarchkd
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"data.transfer": f"corpus:{tmp_path / 'c.txt'}",
                                                     "data.transfer_factor": 1.0})
    res = xarchkd.run("bert-cnn-ner", **o)
    stores = [p for p in (tmp_path / "cache").glob("rows-*") if p.is_dir()]
    assert len(stores) == 1
    s = open_store(stores[0])
    assert s.n_sentences == 300 and res["transfer"]["rows"] == len(s)        # factor 1 x 300 labelled sentences
    assert res["train_rows"] == 300 + len(s) and len(res["caches"]) == 2
    assert res["caches"][1]["rows"] == len(s)
    # `xarchkd cache --rows` finds the run's cache of that store (same fingerprint): no teacher forward
    proc = subprocess.run([sys.executable, "-m", "xarchkd.cli", "cache", "--teacher", str(tiny_teacher), "--rows",
                           str(stores[0]), "--root", str(tmp_path / "cache")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["path"] == res["caches"][1]["path"] and out["teacher_forwards_this_call"] == 0


def test_a_damaged_store_is_refused_and_rebuilt(tmp_path, lines, tok_dir):
    (tmp_path / "c.txt").write_text("\n".join(lines[:50]) + "\n")
    s = store(tmp_path / "c.txt", tok_dir, tmp_path / "root")
    ids = s.path / "input_ids.npy"
    data = bytearray(ids.read_bytes())
    data[-1] ^= 0xFF
    ids.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="input_ids.npy fails its sha256 checksum"):
        open_store(s.path)
    with open(ids, "ab") as f:
        f.write(b"\0")
    with pytest.raises(CacheError, match="truncated or changed"):
        open_store(s.path)
    again = store(tmp_path / "c.txt", tok_dir, tmp_path / "root")      # rebuilt under the same name
    assert again.path == s.path
    assert open_store(again.path).manifest["n_tokens"] == s.manifest["n_tokens"]


def test_rows_written_to_a_store_read_back_the_same(tmp_path, tokenizer):
    rows = encode_sentences([["a"] * 30, ["Paris", "."], ["x", "y", "z"]], [["O"] * 30, ["B-LOC", "O"], ["O"] * 3],
                            tokenizer, LABELS, 12)
    s = write_rows(rows, tmp_path / "s", len(tokenizer))
    assert same_rows(s, rows) and np.array_equal(s.sent_id, rows.sent_id) and len(s) == len(rows) > 3
    assert [list(x) for x in s.labels] == [x.tolist() for x in rows.labels]


def test_npy_appender_and_drop_pages(tmp_path):
    with NpyAppender(tmp_path / "a.npy", np.int16) as w:
        w.append([1, 2])
        w.append(np.arange(3, 6))
    assert np.load(tmp_path / "a.npy").tolist() == [1, 2, 3, 4, 5]
    m = np.lib.format.open_memmap(tmp_path / "b.npy", mode="w+", dtype=np.float32, shape=(1000,))
    m[:] = 2.5
    drop_pages(m, np.zeros(3))                # written pages are flushed first; plain arrays are left alone
    assert float(m.sum()) == 2500.0 and float(np.load(tmp_path / "b.npy").sum()) == 2500.0


def test_a_factor_that_gives_no_sentences_is_refused(tmp_path, tokenizer):
    from xarchkd.config import RunConfig
    from xarchkd.data.transfer import transfer_parts
    from xarchkd.errors import ConfigError
    (tmp_path / "c.txt").write_text("The cat sat on the mat.\n")
    cfg = RunConfig()
    cfg.data.transfer, cfg.data.transfer_factor, cfg.cache_dir = f"corpus:{tmp_path / 'c.txt'}", 0.01, str(tmp_path)
    with pytest.raises(ConfigError, match="gives no transfer sentences"):
        transfer_parts(cfg, tokenizer, LABELS, [["a", "b"]] * 10, [["O", "O"]] * 10)


def test_two_processes_cache_a_store_as_one_does(tmp_path, lines, tok_dir, tiny_teacher):
    """`xarchkd cache --rows` under `accelerate launch` (2 CPU processes, gloo): each rank reads the store's
    memmaps for its share of the batches, and the cache is the one-process cache, byte for byte."""
    from test_shards import _launch
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    s = store(tmp_path / "c.txt", tok_dir, tmp_path / "root")
    one = ner_cache(str(tiny_teacher), s, tmp_path / "one", batch_size=16, progress=False)
    p = _launch(["cache", "--teacher", str(tiny_teacher), "--rows", str(s.path), "--batch-size", "16",
                 "--root", str(tmp_path / "two")], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out["build"]["processes"] == 2 and sum(sh["rows"] for sh in out["build"]["shards"]) == len(s)
    assert Path(out["path"]).name == one.path.name                      # the same fingerprint
    for f in ("logits.npy", "offsets.npy"):
        assert (Path(out["path"]) / f).read_bytes() == (one.path / f).read_bytes()
