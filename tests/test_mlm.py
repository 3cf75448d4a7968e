"""MLM path on the real tiny masked-LM (splade-tiny): static masks, the sparse top-k cache, metrics."""
import numpy as np
import pytest
import torch

from xarchkd.data.mlm_data import mask_rows, text_rows
from xarchkd.teachers.cache import mlm_cache
from xarchkd.teachers.teacher import Teacher

SENTS = ["The European Commission said on Thursday it disagreed with German advice to consumers.",
         "Germany's representative to the European Union's veterinary committee said so.",
         "Peter Blackburn reported from Brussels.", "It was the first time that the plan was rejected."] * 6


@pytest.fixture(scope="module")
def splade():
    from xarchkd.data.resources import fetch
    return Teacher.load(str(fetch("splade-tiny")), "mlm")


def test_masks_are_reproducible_and_bert_like(splade):
    tok = splade.tokenizer
    rows = text_rows(SENTS, tok, max_length=48)
    a, b = mask_rows(rows, tok, seed=3), mask_rows(rows, tok, seed=3)
    c = mask_rows(rows, tok, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.input_ids, b.input_ids))
    assert any(not np.array_equal(x, y) for x, y in zip(a.positions, c.positions))
    special = set(tok.all_special_ids) - {tok.mask_token_id}
    for ids, orig, pos, tgt in zip(a.input_ids, rows, a.positions, a.targets):
        assert len(pos) >= 1 and np.array_equal(orig[pos], tgt)
        assert not any(int(orig[p]) in special for p in pos)          # specials are never masked
        keep = np.setdiff1d(np.arange(len(ids)), pos)
        assert np.array_equal(ids[keep], orig[keep])                  # only chosen positions change
    n = sum(len(p) for p in a.positions)
    masked = sum((ids[p] == tok.mask_token_id).sum() for ids, p in zip(a.input_ids, a.positions))
    assert 0.6 < masked / n <= 1.0                                    # ~80% become [MASK]


def test_whole_word_masking_takes_whole_words(splade):
    tok = splade.tokenizer
    rows = text_rows(["unbelievably photosynthesis antidisestablishmentarianism words"] * 8, tok, 32)
    m = mask_rows(rows, tok, seed=0, prob=0.3, whole_word=True)
    for row, pos in zip(rows, m.positions):
        t = tok.convert_ids_to_tokens(row.tolist())
        for p in pos:  # a masked continuation's word start is masked too
            if t[p].startswith("##"):
                assert p - 1 in pos


def test_topk_cache_equals_teachers_own_topk(tmp_path, splade):
    tok = splade.tokenizer
    m = mask_rows(text_rows(SENTS, tok, 48), tok, seed=0)
    c = mlm_cache(splade, m, tmp_path, k=8, batch_size=4, progress=False)
    assert c.arrays["values"].shape == (sum(len(p) for p in m.positions), 8)
    for r in (0, 5, len(m) - 1):
        with torch.no_grad():
            ids = torch.as_tensor(m.input_ids[r][None].astype(np.int64)).to(splade.device)
            logits = splade.model(input_ids=ids).logits[0].float().cpu()
        top = logits[torch.as_tensor(m.positions[r], dtype=torch.long)].topk(8, -1)
        np.testing.assert_array_equal(np.asarray(c.row("indices", r)), top.indices.numpy())
        np.testing.assert_allclose(np.asarray(c.row("values", r), dtype=np.float32), top.values.numpy(), rtol=2e-3,
                                   atol=2e-2)
        np.testing.assert_array_equal(np.asarray(c.row("positions", r)), m.positions[r])
    # fp16 values + uint16 ids (30,522 < 65,536) + an int32 position per masked token; dense would be 2 B x vocab
    n = c.manifest["n_masked"]
    assert c.arrays["indices"].dtype == np.uint16 and c.manifest["bytes_per_item"] == 8 * (2 + 2) + 4
    assert c.manifest["dense_fp16_bytes_per_item"] == 2 * len(tok)
    stored = sum((c.path / f"{a}.npy").stat().st_size for a in ("values", "indices", "positions"))
    assert n * c.manifest["bytes_per_item"] <= stored < n * c.manifest["bytes_per_item"] + 3 * 256   # + .npy headers
    before = splade.forward_count
    mlm_cache(splade, m, tmp_path, k=8, batch_size=4, progress=False)
    assert splade.forward_count == before


def test_mlm_recipe_end_to_end_on_splade(tmp_path, conll_small):
    import json
    import xarchkd
    res = xarchkd.run("bert-cnn-mlm", progress=False, **{
        "out": str(tmp_path / "mlm"), "cache_dir": str(tmp_path / "cache"), "teacher.name": "splade-tiny",
        "teacher.finetune": False, "data.name": str(conll_small), "data.max_length": 48,
        "student.embed_dim": 16, "student.hidden": 16, "student.layers": 1, "train.epochs": 1,
        "train.batch_size": 16, "student.block_args": {"topk": 8}})
    disk = json.loads((tmp_path / "mlm" / "results.json").read_text())
    assert disk["task"] == "mlm" and disk["cache"]["k"] == 8
    for key in ("top1", "top5", "rel_top1", "rel_top5"):
        assert 0.0 <= disk["student"][key] <= 1.0
    assert disk["student"]["top5"] >= disk["student"]["top1"]
    assert 0.0 <= disk["teacher"]["top5"] <= 1.0 and disk["teacher"]["params"] > disk["student"]["params"]


def _tiny_encoder(folder, tokenizer):
    """A random 2-layer BERT encoder (no head) with the real MiniLM vocabulary."""
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_mlm_teacher_adapts_a_small_encoder_and_is_reused(tmp_path, tokenizer, conll_small):
    """The MLM teacher fine-tune on a random 2-layer BERT: the LM head is tied to the input embeddings,
    held-out top-1/top-5 are reported per epoch and rise above chance, the second call reuses the folder."""
    import json
    from transformers import AutoModelForMaskedLM
    from xarchkd.teachers.finetune import mlm_teacher
    enc = _tiny_encoder(tmp_path / "enc", tokenizer)
    out = mlm_teacher(str(enc), text=str(conll_small), out=str(tmp_path / "t"), epochs=2, lr=3e-3,
                      batch_size=16, max_length=48, progress=False)
    record = json.loads((out / "xarchkd_teacher.json").read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    first, last = record["epochs"]
    assert 0.0 <= last["top1"] <= last["top5"] <= 1.0
    assert last["top5"] > 0.1 and last["top5"] >= first["top5"]   # chance is 5 in 30,522
    assert first["steps"] == last["steps"] > 0 and 0 < last["lr_last"] < 0.1 * 3e-3 < first["lr_last"]
    assert record["build"]["processes"] == 1 and record["build"]["precision"] == "no"
    model = AutoModelForMaskedLM.from_pretrained(out)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert mlm_teacher(str(enc), text=str(conll_small), out=str(tmp_path / "t"), epochs=2, lr=3e-3,
                       batch_size=16, max_length=48, progress=False) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


MLM_TEACHER = """
import sys
from xarchkd.teachers.finetune import mlm_teacher
mlm_teacher(sys.argv[1], text=sys.argv[2], out=sys.argv[3], epochs=2, lr=3e-3, batch_size=16, max_length=48,
            progress=False)
"""


def test_two_process_mlm_teacher_schedule_spans_the_run(tmp_path, tokenizer, conll_small):
    """The MLM teacher fine-tune under `accelerate launch` with 2 CPU processes (gloo): one record,
    scored once, and a learning rate that is still about half the peak after the first of two epochs
    and about zero at the last step (sized per rank, Accelerate's n-fold scheduler steps ended it halfway)."""
    import json
    enc = _tiny_encoder(tmp_path / "enc", tokenizer)
    script = tmp_path / "mlm_teacher.py"
    script.write_text(MLM_TEACHER)
    from conftest import accelerate_launch
    p = accelerate_launch([str(script), str(enc), str(conll_small), str(tmp_path / "t")], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("mlm teacher epoch 1:") == 1
    record = json.loads((tmp_path / "t" / "xarchkd_teacher.json").read_text())
    first, last = record["epochs"]
    assert record["build"]["processes"] == 2 and first["steps"] == last["steps"] > 0
    assert 0.35 * 3e-3 < first["lr_last"] < 0.7 * 3e-3
    # linear decay over 2 epochs x 2 processes x steps scheduler steps: the last step trains with one
    # rank-step's share of the peak (2 / total), and only the schedule's end would be zero
    assert last["lr_last"] == pytest.approx(3e-3 * 2 / (2 * 2 * last["steps"]))
