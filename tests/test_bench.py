"""The latency harness on tiny models: runs in seconds, its JSON has the fields; int8 stays close to fp32."""
import json
from pathlib import Path

import pytest
import torch

from students import StudentConfig, StudentModel
from xarchkd import cli
from xarchkd.data.batching import pad_ids, pad_words
from xarchkd.data.ner_data import read_conll
from xarchkd.data.ner_data import encode_sentences
from xarchkd.tasks.ner import build_vocab_map
from xarchkd.tools import bench

from conftest import LABELS


def tiny_student(folder, tokenizer, block="lstm", embed_dim=32, hidden=32):
    torch.manual_seed(0)
    m = StudentModel(StudentConfig(block=block, vocab_size=len(tokenizer), embed_dim=embed_dim, hidden=hidden,
                                   layers=1, num_labels=9, labels=LABELS, pad_id=tokenizer.pad_token_id,
                                   unk_id=tokenizer.unk_token_id))
    m.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_harness_json_has_the_fields(tmp_path, tiny_teacher, tokenizer):
    s = tiny_student(tmp_path / "run" / "student", tokenizer, "cnn")
    rep = bench.run_bench([str(tiny_teacher)], [str(s)], threads=(1,), batch_sizes=(1, 4), lengths=("real", "32"),
                          repeats=4, eval_limit=20, e2e=5, memory=False, progress=False)
    json.dumps(rep)   # JSON-ready
    variants = {(m["kind"], m["variant"]) for m in rep["models"]}
    assert variants == {("teacher", "fp32"), ("student", "fp32"), ("student", "int8"), ("student", "torchscript"),
                        ("student", "onnx fp32"), ("student", "onnx int8")}
    assert len(rep["latency"]) == len(rep["models"]) * 2 * 2
    for r in rep["latency"] + rep["end_to_end"]:
        for k in ("p50_ms", "p95_ms", "sent_per_s", "params", "size_mb"):
            assert k in r
        assert r["p95_ms"] >= r["p50_ms"] > 0
        if r["kind"] == "student":
            assert set(r["speedup_p50"]) == {m["name"] for m in rep["models"] if m["kind"] == "teacher"}
    assert {(e["variant"], e["batch_size"]) for e in rep["end_to_end"]} >= {("fp32", 1), ("int8", 4)}
    by_variant = {m["variant"]: m for m in rep["models"] if m["kind"] == "student"}
    assert 0.0 <= by_variant["int8"]["f1"] <= 1.0 and by_variant["int8"]["f1_sentences"] == 20
    assert by_variant["int8"]["quantized_modules"] == {"Linear": 2}   # cnn: input projection + tagger; Conv1d stays
    assert by_variant["torchscript"]["f1"] == by_variant["fp32"]["f1"]   # the traced graph computes the same tags
    assert by_variant["torchscript"]["notes"].startswith("torch.jit.trace")
    assert by_variant["fp32"]["size_mb"] > 0 and by_variant["int8"]["size_mb"] > 0
    assert by_variant["onnx fp32"]["f1"] == by_variant["fp32"]["f1"]     # ONNX Runtime tags as PyTorch does
    assert abs(by_variant["onnx int8"]["f1"] - by_variant["fp32"]["f1"]) <= 0.2 and by_variant["onnx int8"]["size_mb"]
    e2e = {(e["variant"], e["batch_size"]) for e in rep["end_to_end"]}
    assert {("onnx fp32", 1), ("onnx int8", 4)} <= e2e             # the runtime's text in -> entities out
    sizes = rep["install_mb"]
    assert sizes["onnx_runtime"]["onnxruntime"] > 0 and sizes["pytorch"]["torch"] > sizes["onnx_runtime"]["total"]
    assert "torch" not in sizes["onnx_runtime"] and "numpy" in sizes["onnx_runtime"]   # the closure of ./runtime


def test_cli_writes_the_report(tmp_path, tiny_teacher, tokenizer):
    """``xarchkd bench`` end to end, with a second teacher that has no NER head (random head, F1 n/a)."""
    from transformers import BertConfig, BertForMaskedLM
    encoder = tmp_path / "encoder"
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=64)).save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)
    s = tiny_student(tmp_path / "student", tokenizer, "lstm")
    out = tmp_path / "bench.json"
    rc = cli.main(["bench", "--teacher", str(tiny_teacher), "--teacher", str(encoder), "--student", str(s),
                   "--json", str(out), "--threads", "1", "--batch-sizes", "1", "--lengths", "real,16",
                   "--repeats", "3", "--warmup", "1", "--eval-limit", "10", "--no-export", "--no-onnx"])
    assert rc == 0
    rep = json.loads(out.read_text())
    heads = {m["name"]: (m["head"], m["f1"]) for m in rep["models"] if m["kind"] == "teacher"}
    assert sorted(h for h, _ in heads.values()) == ["random", "trained"]
    assert all((f1 is None) == (h == "random") for h, f1 in heads.values())
    assert {m["variant"] for m in rep["models"]} == {"fp32", "int8"}
    int8 = next(m for m in rep["models"] if m["variant"] == "int8")
    assert int8["quantized_modules"] == {"LSTM": 1, "Linear": 1}
    assert all(len(r["speedup_p50"]) == 2 for r in rep["latency"] if r["kind"] == "student")
    assert any(r["peak_rss_mb"] is not None for r in rep["latency"])   # Linux: /proc gives the peak
    # benchmarks/report.py renders the same JSON: every model in the tables, a README row per teacher and student variant
    import importlib.util
    spec = importlib.util.spec_from_file_location("report", Path(__file__).parents[1] / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    text = report.render(rep, {})
    assert all(m["name"] in text for m in rep["models"])
    head = report.headline_table(rep, {}, threads=1).splitlines()[2:]
    assert len(head) == 4 and sum("n/a" in row for row in head) == 1    # 2 teachers + the student in fp32 and int8


@pytest.fixture(scope="module")
def trained_lstm(tokenizer, conll_small):
    """A BiLSTM student trained for a few seconds on 300 real CoNLL sentences (confident, non-random tags);
    its embedding table keeps only the sub-words seen there (as the recipes do) so training is cheap."""
    train = read_conll(conll_small / "train.txt")
    rows = encode_sentences(list(train["words"]), list(train["tags"]), tokenizer, LABELS, 128)
    token_map, kept = build_vocab_map([rows], len(tokenizer), [tokenizer.unk_token_id, tokenizer.pad_token_id,
                                                                tokenizer.cls_token_id, tokenizer.sep_token_id])
    torch.manual_seed(0)
    m = StudentModel(StudentConfig(block="lstm", vocab_size=len(tokenizer), kept_vocab=len(kept), embed_dim=32,
                                   hidden=64, layers=1, dropout=0.0, num_labels=9, labels=LABELS,
                                   pad_id=tokenizer.pad_token_id))
    m.set_vocab(token_map)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.train()
    with bench.num_threads(1):    # tiny matrices: one thread is fastest, and immune to a busy machine
        train_epochs(m, rows, tokenizer.pad_token_id, opt, epochs=8)
    return m.eval()


def train_epochs(m, rows, pad_id, opt, epochs):
    for _ in range(epochs):
        for i in range(0, len(rows), 32):
            ids, mask = pad_ids(rows.input_ids[i:i + 32], pad_id)
            pos = pad_words(rows.word_pos[i:i + 32], 0)
            gold = pad_words(rows.labels[i:i + 32], -100)
            loss = torch.nn.functional.cross_entropy(m(ids, mask, pos).logits.transpose(1, 2), gold, ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()


def test_int8_lstm_tags_agree_with_fp32(trained_lstm, tokenizer, conll_small):
    """int8 dynamic quantisation of a trained BiLSTM student keeps >= 99% of its tags on real test sentences."""
    q, n = bench.quantize(trained_lstm)
    assert n >= 2   # the LSTM and the tagger's Linear
    ds = read_conll(conll_small / "test.txt")
    rows = encode_sentences(list(ds["words"]), None, tokenizer, LABELS, 128)
    ids, mask = pad_ids(rows.input_ids, tokenizer.pad_token_id)
    pos = pad_words(rows.word_pos, 0)
    real = torch.arange(pos.shape[1])[None] < torch.tensor([len(p) for p in rows.word_pos])[:, None]
    with torch.inference_mode():
        a = trained_lstm(ids, mask, positions=pos).logits.argmax(-1)[real]
        b = q(ids, mask, positions=pos).logits.argmax(-1)[real]
    assert len(a) > 1000
    assert (a != 0).float().mean() > 0.05       # the student tags entities, not only "O"
    agree = (a == b).float().mean().item()
    print(f"int8 vs fp32 tag agreement: {agree:.4f} on {len(a)} words")
    assert agree >= 0.99


def test_mlm_bench_times_masked_lm_teacher_and_student(tmp_path, tokenizer):
    """``task="mlm"``: the real splade-tiny masked LM against an MLM student; no F1, no e2e, speed-ups;
    an NER student in an MLM bench is refused with a clear error."""
    from xarchkd.data.resources import fetch
    from xarchkd.errors import ConfigError
    torch.manual_seed(0)
    m = StudentModel(StudentConfig(block="cnn", task="mlm", vocab_size=len(tokenizer), embed_dim=16, hidden=16,
                                   layers=1, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id))
    m.save_pretrained(tmp_path / "mlm")
    tokenizer.save_pretrained(tmp_path / "mlm")
    teacher = str(fetch("splade-tiny"))
    rep = bench.run_bench([teacher], [str(tmp_path / "mlm")], task="mlm", threads=(1,), batch_sizes=(2,),
                          lengths=("real", "16"), repeats=3, warmup=1, e2e=3, memory=False, export=False,
                          progress=False)
    kinds = {(r["kind"], r["variant"], r["task"]) for r in rep["models"]}
    assert kinds == {("teacher", "fp32", "mlm"), ("student", "fp32", "mlm"), ("student", "int8", "mlm")}
    assert all(r["f1"] is None for r in rep["models"]) and rep["end_to_end"] == []
    assert len(rep["latency"]) == 3 * 2
    for r in rep["latency"]:
        assert r["p95_ms"] >= r["p50_ms"] > 0
        if r["kind"] == "student":
            assert list(r["speedup_p50"]) == ["mlm teacher " + Path(teacher).name]
    ner = tiny_student(tmp_path / "ner", tokenizer, "cnn")
    with pytest.raises(ConfigError, match="is a 'ner' student.*--task ner"):
        bench.run_bench([teacher], [str(ner)], task="mlm", threads=(1,), batch_sizes=(1,), lengths=("real",),
                        repeats=1, warmup=1, memory=False, export=False, int8=False, progress=False)


def test_mlm_bench_times_fill_mask_at_one_position(tokenizer):
    """The MLM bench's call: one mask token per row at a real word, and the teacher's masked-only forward
    gives the model's own logits at that position."""
    from transformers import AutoModelForMaskedLM
    from xarchkd.data.resources import fetch
    words = [["Peter", "Blackburn", "reported", "from", "Brussels", "."], ["EU", "rejects", "German", "call"]]
    rows = encode_sentences(words, None, tokenizer, LABELS, 64)
    ids, mask = pad_ids(rows.input_ids, tokenizer.pad_token_id)
    pos, shapes = pad_words(rows.word_pos, 0), pad_words(rows.shapes, 0)
    m_ids, m_mask, where, _ = bench.fill_mask_batch(ids, mask, pos, shapes, tokenizer)
    assert where.shape == (2, 1)
    for b in range(2):
        assert (m_ids[b] == tokenizer.mask_token_id).sum() == 1 and m_ids[b, where[b, 0]] == tokenizer.mask_token_id
        assert int(where[b, 0]) in rows.word_pos[b].tolist()          # a word's first sub-word, not [CLS]/pad
    assert (m_ids != ids).sum() == 2 and ids.max() != tokenizer.mask_token_id
    splade = str(fetch("splade-tiny"))
    entry = bench.teacher_entry(splade, "mlm")
    with torch.inference_mode():
        got = entry.forward(m_ids, m_mask, where)
        full = AutoModelForMaskedLM.from_pretrained(splade).eval()(input_ids=m_ids, attention_mask=m_mask).logits
    assert got.shape == (2, full.shape[-1])
    assert torch.allclose(got, full[torch.arange(2), where[:, 0]], atol=1e-4)


def test_models_are_timed_in_rotating_turns_of_consecutive_calls():
    """``turn=3``: each model makes three calls in a row, the order of the models rotating per round; every
    timed call is made once, after the warm-up calls."""
    from types import SimpleNamespace
    from xarchkd.tools.bench.timing import time_setting
    order = []
    entries = [SimpleNamespace(key=k) for k in "ab"]
    calls = {k: [(lambda k=k, i=i: order.append((k, i))) for i in range(1 + 7)] for k in "ab"}
    stats = time_setting(entries, calls, warmup=1, repeats=7, memory=False, turn=3)
    assert order == [("a", 0), ("b", 0),
                     ("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3),
                     ("b", 4), ("b", 5), ("b", 6), ("a", 4), ("a", 5), ("a", 6),
                     ("a", 7), ("b", 7)]
    assert set(stats) == {"a", "b"} and all(s["p50_ms"] >= 0 for s in stats.values())
    with pytest.raises(ValueError, match="turn=0"):
        bench.BenchConfig(turn=0)
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--teacher", "x", "--turn", "0"])
    assert e.value.code == 2
