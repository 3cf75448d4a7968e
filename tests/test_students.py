"""Student blocks and the student model: shapes, padding, save/load, wrong-architecture errors, registry,
lazy sru import and its stale-lock recovery. Tiny sizes throughout: the file runs in about 20 s."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from students import BLOCKS, CheckpointError, StudentConfig, StudentError, StudentModel, register_block

BLOCK_ARGS = {"srupp": {"proj_size": 8}, "cnn": {"kernel_size": 3}}
ALL_BLOCKS = ["lstm", "sru", "srupp", "cnn"]


def tiny(block, task="ner", **kw):
    cfg = StudentConfig(block=block, task=task, vocab_size=100, embed_dim=16, hidden=16, layers=2, dropout=0.1,
                        num_labels=5, labels=list("OABCD"), block_args=BLOCK_ARGS.get(block, {}), **kw)
    torch.manual_seed(0)
    return StudentModel(cfg).eval()


def batch(B=3, T=9, lengths=(9, 5, 2)):
    torch.manual_seed(1)
    ids = torch.randint(1, 100, (B, T))
    mask = (torch.arange(T)[None] < torch.as_tensor(lengths)[:, None]).long()
    return ids * mask, mask


@pytest.mark.parametrize("block", ALL_BLOCKS)
def test_shapes_with_and_without_positions(block):
    m = tiny(block)
    ids, mask = batch()
    out = m(ids, mask)
    assert out.logits.shape == (3, 9, 5) and out.hidden.shape == (3, 9, m.encoder.out_dim)
    pos = torch.tensor([[0, 3, 8], [1, 2, 4], [0, 1, 0]])
    out2 = m(ids, mask, positions=pos)
    assert out2.logits.shape == (3, 3, 5)
    torch.testing.assert_close(out2.logits[0, 1], out.logits[0, 3])


def test_word_shapes_reach_a_shape_student_only(tmp_path):
    """A ``word_shapes`` student starts equal to a plain one (zero shape embedding), then reads the shape
    ids (other shapes -> other logits; None = all 0) and keeps them through save/load; a plain student
    ignores them."""
    from students import NUM_SHAPES
    ids, mask = batch()
    shapes = torch.randint(1, NUM_SHAPES, ids.shape, generator=torch.Generator().manual_seed(2)) * mask
    m, plain = tiny("lstm", word_shapes=True), tiny("lstm")
    assert m.encoder.rnn[0].input_size == 16                       # added to the sub-word embedding, not beside it
    torch.testing.assert_close(m(ids, mask, shapes=shapes).logits, plain(ids, mask).logits)
    with torch.no_grad():
        m.shape_embed.weight.normal_()                          # as after training
    a, b = m(ids, mask, shapes=shapes).logits, m(ids, mask, shapes=(shapes + 1) % NUM_SHAPES).logits
    assert not torch.allclose(a, b)
    torch.testing.assert_close(m(ids, mask).logits, m(ids, mask, shapes=torch.zeros_like(ids)).logits)
    m.save_pretrained(tmp_path / "s")
    again = StudentModel.from_pretrained(tmp_path / "s")
    assert again.cfg.word_shapes is True
    torch.testing.assert_close(again(ids, mask, shapes=shapes).logits, a)
    torch.testing.assert_close(plain(ids, mask, shapes=shapes).logits, plain(ids, mask).logits)


@pytest.mark.parametrize("block", ALL_BLOCKS)
def test_padding_does_not_change_real_positions(block):
    m = tiny(block)
    ids, mask = batch()
    more_ids = torch.cat([ids, torch.zeros(3, 6, dtype=torch.long)], 1)
    more_mask = torch.cat([mask, torch.zeros(3, 6, dtype=torch.long)], 1)
    with torch.no_grad():
        a, b = m(ids, mask).logits, m(more_ids, more_mask).logits[:, :9]
    real = mask.bool()
    torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-4)
    # and a row alone gives the same as in a batch with longer rows
    with torch.no_grad():
        alone = m(ids[2:, :2], mask[2:, :2]).logits[0]
    torch.testing.assert_close(alone, a[2, :2], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("block", ALL_BLOCKS)
@pytest.mark.parametrize("task", ["ner", "mlm"])
def test_save_load_round_trip(tmp_path, block, task):
    m = tiny(block, task)
    with torch.no_grad():
        m.embed.weight.add_(0.5 * torch.randn_like(m.embed.weight))   # not the fresh-init values
    m.save_pretrained(tmp_path / block)
    m.save_pretrained(tmp_path / block)                                # overwriting is fine too
    back = StudentModel.from_pretrained(tmp_path / block, block=block, task=task)
    assert not back.training
    ids, mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(back(ids, mask).logits, m(ids, mask).logits, rtol=0, atol=0)
    assert back.cfg == m.cfg and sorted(os.listdir(tmp_path / block)) == ["config.json", "model.safetensors"]
    saved = json.loads((tmp_path / block / "config.json").read_text())
    assert saved["format"] == "xarchkd-student" and saved["format_version"] == 1 and saved["block"] == block


@pytest.mark.parametrize("block", ALL_BLOCKS)
def test_training_step_gives_finite_gradients_even_with_an_empty_row(block):
    m = tiny(block).train()
    ids, mask = batch(lengths=(9, 5, 0))
    out = m(ids, mask)
    loss = out.logits[mask.bool()].logsumexp(-1).mean()
    loss.backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(out.logits).all()


def _one_module_bilstm(lstm, x, mask):
    """What the BiLSTM block computed as one ``nn.LSTM(num_layers=2, dropout=...)`` (xarchkd 0.1)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    packed = pack_padded_sequence(x, mask.sum(1).cpu(), batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])
    return out.masked_fill(~mask.bool().unsqueeze(-1), 0.0)


def test_lstm_block_reads_the_one_module_layout_and_computes_the_same(tmp_path):
    """The BiLSTM's layers are separate one-layer ``nn.LSTM``s with ``nn.Dropout`` between (cuDNN's own
    between-layer dropout keeps a random state that no checkpoint restores). A student saved in the old
    one-module layout (``encoder.rnn.weight_ih_l1``) loads, by ``from_pretrained`` and by
    ``load_state_dict``, and computes what the one module computes: in eval mode, and in train mode
    with the same dropout masks from the same seed."""
    from students import checkpoint
    m = tiny("lstm")
    assert len(m.encoder.rnn) == 2 and all(r.num_layers == 1 and r.dropout == 0 for r in m.encoder.rnn)
    torch.manual_seed(3)
    old = nn.LSTM(16, 8, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
    state = {k: v for k, v in m.state_dict().items() if not k.startswith("encoder.rnn.")}
    state |= {f"encoder.rnn.{k}": v for k, v in old.state_dict().items()}
    checkpoint.write_checkpoint(tmp_path / "old", m.cfg, state)
    loaded = StudentModel.from_pretrained(tmp_path / "old")
    again = tiny("lstm")
    again.load_state_dict(dict(state))
    torch.testing.assert_close(again.state_dict(), loaded.state_dict(), rtol=0, atol=0)
    x, (_, mask) = torch.randn(3, 9, 16), batch()
    for train in (False, True):
        old.train(train), loaded.train(train)
        torch.manual_seed(5)
        want = _one_module_bilstm(old, x, mask)
        torch.manual_seed(5)
        got = loaded.encoder(x, mask)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    torch.manual_seed(6)
    assert not torch.allclose(loaded.encoder(x, mask), want)         # train mode: other masks, other outputs
    import pickle
    torch.testing.assert_close(pickle.loads(pickle.dumps(loaded)).state_dict(), loaded.state_dict())
    with pytest.raises(StudentError, match="layers must be >= 1"):
        StudentModel(StudentConfig(**{**m.cfg.to_dict(), "layers": 0}))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_lstm_dropout_on_the_gpu_follows_torchs_rng_state():
    """On CUDA the BiLSTM's train-mode output is a function of torch's RNG state, which a checkpoint
    restores: the same state gives the same dropout masks. (With ``nn.LSTM``'s own dropout cuDNN draws
    from a state of its own, and a resumed run ends with other weights than an unbroken one.)"""
    m = tiny("lstm").cuda().train()
    mask = batch()[1].cuda()
    x = torch.randn(3, 9, 16, device="cuda")
    state = torch.cuda.get_rng_state()
    a = m.encoder(x, mask)
    b = m.encoder(x, mask)
    torch.cuda.set_rng_state(state)
    c = m.encoder(x, mask)
    assert not torch.equal(a, b) and torch.equal(a, c)


def test_wrong_architecture_and_damaged_checkpoints(tmp_path):
    tiny("lstm").save_pretrained(tmp_path / "lstm")
    with pytest.raises(CheckpointError, match=r"is a 'lstm' student, expected 'sru'"):
        StudentModel.from_pretrained(tmp_path / "lstm", block="sru")
    with pytest.raises(CheckpointError, match=r"is a 'ner' student, expected 'mlm'"):
        StudentModel.from_pretrained(tmp_path / "lstm", task="mlm")
    # a config edited to another block no longer fits the weights
    cfg = (tmp_path / "lstm" / "config.json").read_text().replace('"lstm"', '"cnn"')
    (tmp_path / "lstm" / "config.json").write_text(cfg)
    with pytest.raises(CheckpointError, match=r"lstm: weights do not fit a 'cnn' student: missing .*unexpected"):
        StudentModel.from_pretrained(tmp_path / "lstm")
    # same block, another size: the shapes are listed
    tiny("cnn").save_pretrained(tmp_path / "cnn")
    raw = json.loads((tmp_path / "cnn" / "config.json").read_text())
    (tmp_path / "wide").mkdir()
    (tmp_path / "wide" / "config.json").write_text(json.dumps({**raw, "hidden": 32}))
    shutil.copy(tmp_path / "cnn" / "model.safetensors", tmp_path / "wide")
    with pytest.raises(CheckpointError, match=r"wide: weights do not fit a 'cnn' student: shape mismatch"):
        StudentModel.from_pretrained(tmp_path / "wide")
    w = tmp_path / "cnn" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cnn: model.safetensors is unreadable or truncated"):
        StudentModel.from_pretrained(tmp_path / "cnn")
    with pytest.raises(CheckpointError, match="nothing: the folder does not exist"):
        StudentModel.from_pretrained(tmp_path / "nothing")
    os.remove(w)
    with pytest.raises(CheckpointError, match="cnn: missing model.safetensors"):
        StudentModel.from_pretrained(tmp_path / "cnn")
    # a Hugging Face model folder is not a student
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="hf is not an xarchkd student"):
        StudentModel.from_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**raw, "colour": "red"}))
    with pytest.raises(CheckpointError, match=r"hf: unknown student config keys \['colour'\]"):
        StudentModel.from_pretrained(tmp_path / "hf")


def test_checkpoint_of_an_unregistered_block_names_it(tmp_path):
    register_block("test-tmp")(lambda in_dim, cfg: BLOCKS["cnn"](in_dim, cfg))
    try:
        tiny("test-tmp").save_pretrained(tmp_path / "t")
    finally:
        BLOCKS.pop("test-tmp")
    with pytest.raises(CheckpointError, match=r"t cannot be rebuilt: unknown student block 'test-tmp'"):
        StudentModel.from_pretrained(tmp_path / "t")


def test_registry_takes_a_users_block(tmp_path):
    @register_block("test-gru")
    def build(in_dim, cfg):
        class GRU(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.GRU(in_dim, cfg.hidden, batch_first=True)
                self.out_dim = cfg.hidden

            def forward(self, x, mask):
                return self.rnn(x)[0] * mask[..., None]
        return GRU()
    try:
        m = tiny("test-gru")
        ids, mask = batch()
        assert m(ids, mask).logits.shape == (3, 9, 5)
        m.save_pretrained(tmp_path / "g")
        assert StudentModel.from_pretrained(tmp_path / "g").cfg.block == "test-gru"
    finally:
        BLOCKS.pop("test-gru")
    with pytest.raises(StudentError, match="did you mean 'lstm'"):
        tiny("lstn")


def test_vocab_pruning_maps_unknown_ids_to_unk_row():
    m = tiny("cnn", kept_vocab=4, unk_id=2)
    # before set_vocab: ids with a row keep it, every id past the table goes to the [UNK] row
    assert m.token_map[:4].tolist() == [0, 1, 2, 3] and set(m.token_map[4:].tolist()) == {2}
    assert m.embed.padding_idx is None      # row pad_id of a pruned table is another token: it must train
    m = tiny("cnn", kept_vocab=4)
    token_map = torch.zeros(100, dtype=torch.long)
    token_map[torch.tensor([7, 8, 9])] = torch.tensor([1, 2, 3])
    m.set_vocab(token_map)
    assert m.embed.num_embeddings == 4
    ids = torch.tensor([[7, 55, 8, 99]])
    mask = torch.ones_like(ids)
    same = torch.tensor([[7, 42, 8, 13]])  # 55/99 and 42/13 are all [UNK] (row 0) for this student
    with torch.no_grad():
        torch.testing.assert_close(m(ids, mask).logits, m(same, mask).logits)
    with torch.no_grad():
        other = m(torch.tensor([[9, 55, 8, 99]]), mask).logits          # 7 -> 9: a different kept row
    assert not torch.allclose(other, m(ids, mask).logits)
    with pytest.raises(StudentError, match="outside the embedding table"):
        m.set_vocab(torch.full((100,), 4, dtype=torch.long))
    with pytest.raises(StudentError, match="shape"):
        m.set_vocab(torch.zeros(99, dtype=torch.long))
    assert tiny("cnn").embed.padding_idx == 0   # unpruned: row pad_id is [PAD]
    with torch.no_grad():                       # a pruned MLM student scores embedding rows, not teacher ids
        assert tiny("cnn", task="mlm", kept_vocab=4)(ids, mask).logits.shape == (1, 4, 4)


def test_mlm_head_is_tied_to_the_embedding():
    m = tiny("lstm", task="mlm")
    ids, mask = batch()
    n_params = m.num_parameters()
    assert sum(p.numel() for n, p in m.named_parameters() if "embed" in n) == 100 * 16   # one copy only
    with torch.no_grad():
        before = m(ids, mask).logits.clone()
        assert before.shape == (3, 9, 100)
        m.embed.weight[5] += torch.randn(16)  # (a constant shift would vanish: the head ends in LayerNorm)
        after = m(ids, mask).logits
    assert not torch.allclose(before[..., 5], after[..., 5])
    assert m.num_parameters() == n_params
    assert [k for k in m.state_dict() if k.endswith("weight") and m.state_dict()[k].shape == (100, 16)] == ["embed.weight"]
    # gradients from the output layer reach the (shared) embedding table, also for rows not in the input
    m.train()
    m(ids, mask).logits[..., 3].sum().backward()
    assert m.embed.weight.grad is not None and m.embed.weight.grad[3].abs().sum() > 0


def test_import_students_does_not_import_sru():
    p = subprocess.run([sys.executable, "-c", "import students, sys; assert 'sru' not in sys.modules"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def copy_built_extensions(tmp_path):
    """A temporary TORCH_EXTENSIONS_DIR holding copies of the already-compiled sru kernels."""
    from students._sru import EXTENSIONS, extensions_dir, load_sru
    load_sru()                                      # make sure they are built (a no-op after set-up)
    ext = tmp_path / "ext"
    for name in EXTENSIONS:
        shutil.copytree(os.path.join(extensions_dir(), name), ext / name)
    return ext


def test_stale_sru_build_lock_is_cleared_not_waited_on(tmp_path):
    """A `lock` left by a killed compile would make `import sru` wait forever; load_sru removes it."""
    ext = copy_built_extensions(tmp_path)
    for name in ("sru_cpu", "sru_cuda"):
        (ext / name / "lock").write_text("")                      # as a killed build leaves it
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(ext)}
    p = subprocess.run([sys.executable, "-c", "from students._sru import load_sru; print(load_sru().SRU)"],
                       capture_output=True, text=True, env=env, timeout=300)   # hung forever before the fix
    assert p.returncode == 0, p.stderr[-1500:]
    assert p.stderr.count("removed a stale sru build lock") == 2, p.stderr[-1500:]
    assert "CUDA kernels" not in p.stderr                          # the no-CUDA warning is silenced
    assert not (ext / "sru_cpu" / "lock").exists() and not (ext / "sru_cuda" / "lock").exists()


def test_a_held_compile_lock_times_out_with_a_clear_error(tmp_path):
    from filelock import FileLock
    ext = tmp_path / "ext"
    ext.mkdir()
    code = ("import students._sru as s; s.LOCK_TIMEOUT_S = 1\n"
            "try:\n    s.load_sru()\nexcept s.StudentError as e:\n    print(e)")
    with FileLock(str(ext / "students-sru.lock")):               # another process is compiling
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "TORCH_EXTENSIONS_DIR": str(ext)})
    assert p.returncode == 0, p.stderr[-1500:]
    assert "waited 1s for another process compiling sru" in p.stdout and "students-sru.lock" in p.stdout


def test_unknown_decode_is_refused_when_the_student_is_built():
    with pytest.raises(StudentError, match="unknown decode 'beam'"):
        tiny("cnn", decode="beam")


def test_bio_decode_is_refused_for_an_mlm_student():
    with pytest.raises(StudentError, match="is for ner students"):
        tiny("cnn", task="mlm", decode="bio")
