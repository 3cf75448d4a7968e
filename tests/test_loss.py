"""The shared objective: each component, masking of padding, gold-less rows, sparse top-k terms."""
import math

import pytest
import torch
import torch.nn.functional as F

from xarchkd.loss import LossConfig, distill_loss


def test_zero_teacher_terms_when_student_equals_teacher():
    torch.manual_seed(0)
    t = torch.randn(2, 5, 9)
    mask = torch.ones(2, 5, dtype=torch.bool)
    total, parts = distill_loss(t.clone(), mask, LossConfig(mse=1, ce=0, kl=1), teacher_logits=t)
    assert parts["mse"] == 0.0 and abs(parts["kl"]) < 1e-6 and abs(total.item()) < 1e-6


def test_padding_is_masked_out():
    torch.manual_seed(0)
    s, t = torch.randn(1, 6, 9), torch.randn(1, 6, 9)
    gold = torch.randint(0, 9, (1, 6))
    mask = torch.tensor([[1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    cfg = LossConfig(mse=1, ce=1, kl=0.5, temperature=2)
    a, pa = distill_loss(s, mask, cfg, teacher_logits=t, gold=gold)
    s2, t2 = s.clone(), t.clone()
    s2[0, 3:] = 1e4  # garbage in the padding must not matter
    t2[0, 3:] = -1e4
    b, pb = distill_loss(s2, mask, cfg, teacher_logits=t2, gold=gold)
    assert torch.allclose(a, b) and pa == pb
    assert math.isclose(pa["mse"], F.mse_loss(s[0, :3], t[0, :3]).item(), rel_tol=1e-6)
    assert math.isclose(pa["ce"], F.cross_entropy(s[0, :3], gold[0, :3]).item(), rel_tol=1e-6)
    kl = F.kl_div(F.log_softmax(s[0, :3] / 2, -1), F.softmax(t[0, :3] / 2, -1), reduction="batchmean") * 4
    assert math.isclose(pa["kl"], kl.item(), rel_tol=1e-5)
    assert math.isclose(a.item(), pa["mse"] + pa["ce"] + 0.5 * pa["kl"], rel_tol=1e-6)


def test_rows_without_gold_get_no_ce():
    s = torch.randn(1, 4, 9, requires_grad=True)
    gold = torch.tensor([[-1, -1, -1, -1]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    total, parts = distill_loss(s, mask, LossConfig(mse=0, ce=1), gold=gold)
    assert parts["ce"] == 0.0 and total.item() == 0.0
    gold2 = torch.tensor([[2, -1, -1, 5]])
    _, parts2 = distill_loss(s, mask, LossConfig(mse=0, ce=1), gold=gold2)
    ref = F.cross_entropy(s[0, [0, 3]], torch.tensor([2, 5])).item()
    assert math.isclose(parts2["ce"], ref, rel_tol=1e-6)


def test_sparse_topk_mse_zero_when_student_matches_teacher_at_topk():
    torch.manual_seed(0)
    student = torch.randn(3, 50)
    idx = torch.stack([torch.randperm(50)[:8] for _ in range(3)])
    vals = student.gather(-1, idx)
    mask = torch.ones(3, dtype=torch.bool)
    _, parts = distill_loss(student, mask, LossConfig(mse=1, ce=0, kl=1), teacher_logits=vals, teacher_indices=idx)
    assert parts["mse"] == 0.0 and abs(parts["kl"]) < 1e-6
    _, parts = distill_loss(student + 1.0, mask, LossConfig(mse=1, ce=0), teacher_logits=vals, teacher_indices=idx)
    assert math.isclose(parts["mse"], 1.0, rel_tol=1e-6)


def test_hidden_matching_through_projection():
    torch.manual_seed(0)
    proj = torch.nn.Linear(4, 6)
    sh, th = torch.randn(2, 3, 4), torch.randn(2, 3, 6)
    mask = torch.ones(2, 3, dtype=torch.bool)
    total, parts = distill_loss(torch.randn(2, 3, 9), mask, LossConfig(mse=0, ce=0, hidden=1), student_hidden=sh,
                                teacher_hidden=th, projection=proj)
    assert math.isclose(parts["hidden"], F.mse_loss(proj(sh), th).item(), rel_tol=1e-6)
    total.backward()
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="projection"):
        distill_loss(torch.randn(2, 3, 9), mask, LossConfig(mse=0, ce=0, hidden=1), student_hidden=sh, teacher_hidden=th)
