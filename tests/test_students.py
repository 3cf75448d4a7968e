"""Student blocks and the student model: shapes, padding, save/load, wrong-architecture errors, registry."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from students import BLOCKS, CheckpointError, StudentConfig, StudentError, StudentModel, register_block

BLOCK_ARGS = {"srupp": {"proj_size": 8}, "cnn": {"kernel_size": 3}}


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


@pytest.mark.parametrize("block", ["lstm", "sru", "srupp", "cnn"])
def test_shapes_with_and_without_positions(block):
    m = tiny(block)
    ids, mask = batch()
    out = m(ids, mask)
    assert out.logits.shape == (3, 9, 5) and out.hidden.shape == (3, 9, m.encoder.out_dim)
    pos = torch.tensor([[0, 3, 8], [1, 2, 4], [0, 1, 0]])
    out2 = m(ids, mask, positions=pos)
    assert out2.logits.shape == (3, 3, 5)
    torch.testing.assert_close(out2.logits[0, 1], out.logits[0, 3])


@pytest.mark.parametrize("block", ["lstm", "sru", "srupp", "cnn"])
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


@pytest.mark.parametrize("block", ["lstm", "sru", "srupp", "cnn"])
def test_save_load_round_trip(tmp_path, block):
    m = tiny(block)
    m.save_pretrained(tmp_path / block)
    back = StudentModel.from_pretrained(tmp_path / block, block=block, task="ner")
    ids, mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(back(ids, mask).logits, m(ids, mask).logits)
    assert back.cfg == m.cfg and sorted(os.listdir(tmp_path / block)) == ["config.json", "model.safetensors"]


def test_wrong_architecture_and_damaged_checkpoints(tmp_path):
    tiny("lstm").save_pretrained(tmp_path / "lstm")
    with pytest.raises(CheckpointError, match=r"is a 'lstm' student, expected 'sru'"):
        StudentModel.from_pretrained(tmp_path / "lstm", block="sru")
    with pytest.raises(CheckpointError, match=r"is a 'ner' student, expected 'mlm'"):
        StudentModel.from_pretrained(tmp_path / "lstm", task="mlm")
    # a config edited to another block no longer fits the weights
    cfg = (tmp_path / "lstm" / "config.json").read_text().replace('"lstm"', '"cnn"')
    (tmp_path / "lstm" / "config.json").write_text(cfg)
    with pytest.raises(CheckpointError, match="does not fit a 'cnn' student"):
        StudentModel.from_pretrained(tmp_path / "lstm")
    tiny("cnn").save_pretrained(tmp_path / "cnn")
    w = tmp_path / "cnn" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        StudentModel.from_pretrained(tmp_path / "cnn")
    with pytest.raises(CheckpointError, match="not a student checkpoint"):
        StudentModel.from_pretrained(tmp_path / "nothing")


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
    with pytest.raises(ValueError, match="past the embedding"):
        m.set_vocab(torch.full((100,), 4, dtype=torch.long))


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


def test_import_students_does_not_import_sru():
    p = subprocess.run([sys.executable, "-c", "import students, sys; assert 'sru' not in sys.modules"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_stale_sru_build_lock_is_cleared_not_waited_on(tmp_path):
    """A `lock` left by a killed compile would make `import sru` wait forever; load_sru removes it."""
    from torch.utils.cpp_extension import _get_build_directory
    import shutil
    built = os.path.dirname(_get_build_directory("sru_cpu", verbose=False))
    ext = tmp_path / "ext"
    shutil.copytree(os.path.join(built, "sru_cpu"), ext / "sru_cpu")   # the already-compiled kernel
    (ext / "sru_cpu" / "lock").write_text("")                           # as a killed build leaves it
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(ext)}
    p = subprocess.run([sys.executable, "-c", "from students._sru import load_sru; print(load_sru().SRU)"],
                       capture_output=True, text=True, env=env, timeout=240)
    assert p.returncode == 0, p.stderr[-1500:]
    assert "removed a stale sru build lock" in p.stderr and not (ext / "sru_cpu" / "lock").exists()
