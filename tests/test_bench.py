"""The latency harness on tiny models: runs in seconds, its JSON has the fields; int8 stays close to fp32."""
import json

import torch

from students import StudentConfig, StudentModel
from xarchkd import bench

from conftest import LABELS


def tiny_student(folder, tokenizer, block="lstm"):
    torch.manual_seed(0)
    m = StudentModel(StudentConfig(block=block, vocab_size=len(tokenizer), embed_dim=32, hidden=32, layers=1,
                                   num_labels=9, labels=LABELS, pad_id=tokenizer.pad_token_id,
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
    assert ("teacher", "fp32") in variants and ("student", "fp32") in variants and ("student", "int8") in variants
    assert len(rep["latency"]) == len(rep["models"]) * 2 * 2
    for r in rep["latency"]:
        for k in ("p50_ms", "p95_ms", "sent_per_s", "params", "size_mb"):
            assert k in r
        assert r["p95_ms"] >= r["p50_ms"] > 0
        if r["kind"] == "student":
            assert set(r["speedup_p50"]) == {m["name"] for m in rep["models"] if m["kind"] == "teacher"}
    assert {e["variant"] for e in rep["end_to_end"]} >= {"fp32", "int8"}
    int8 = next(m for m in rep["models"] if m["variant"] == "int8")
    assert 0.0 <= int8["f1"] <= 1.0 and int8["f1_sentences"] == 20


def test_int8_lstm_tags_agree_with_fp32(tmp_path, tokenizer, tiny_teacher, conll_small):
    """A (briefly) trained BiLSTM student: int8 dynamic quantisation keeps >= 99% of its tags."""
    import xarchkd
    from xarchkd.conll import read_conll
    from xarchkd.ner_data import encode_sentences
    from xarchkd.batching import pad_ids, pad_words
    xarchkd.run("bert-lstm-ner-nokd", progress=False, **{
        "out": str(tmp_path / "run"), "teacher.name": str(tiny_teacher), "teacher.finetune": False,
        "data.name": str(conll_small), "student.embed_dim": 32, "student.hidden": 64, "student.layers": 1,
        "train.epochs": 4, "train.batch_size": 16})
    m = StudentModel.from_pretrained(tmp_path / "run" / "student")
    q, n = bench.quantize(m)
    assert n >= 2   # the LSTM and the tagger's Linear
    ds = read_conll(conll_small / "test.txt")
    rows = encode_sentences(list(ds["words"]), None, tokenizer, LABELS, 128)
    ids, mask = pad_ids(rows.input_ids, tokenizer.pad_token_id)
    pos = pad_words(rows.word_pos, 0)
    real = torch.arange(pos.shape[1])[None] < torch.tensor([len(p) for p in rows.word_pos])[:, None]
    with torch.inference_mode():
        a = m(ids, mask, positions=pos).logits.argmax(-1)[real]
        b = q(ids, mask, positions=pos).logits.argmax(-1)[real]
    assert len(a) > 1000
    assert (a == b).float().mean().item() >= 0.99
