"""The shared objective: each component, masking of padding, gold-less rows, sparse top-k terms."""
import math

import pytest
import torch
import torch.nn.functional as F

from xarchkd.distill.loss import LossConfig, distill_loss


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


def test_components_are_detached_0d_tensors_matching_boolean_indexing():
    """The logged parts stay on the device as detached 0-d tensors (reading them is the caller's one
    sync), and the masked sums equal the plain loss over the real positions picked out by indexing."""
    torch.manual_seed(0)
    s = torch.randn(3, 7, 9, requires_grad=True)
    t, th, sh = torch.randn(3, 7, 9), torch.randn(3, 7, 6), torch.randn(3, 7, 4)
    proj = torch.nn.Linear(4, 6)
    gold = torch.randint(0, 9, (3, 7))
    gold[1, 2] = -1
    mask = torch.rand(3, 7) > 0.3
    cfg = LossConfig(mse=1, ce=1, kl=0.5, hidden=2)
    total, parts = distill_loss(s, mask, cfg, teacher_logits=t, gold=gold, student_hidden=sh, teacher_hidden=th,
                                projection=proj)
    assert set(parts) == {"mse", "kl", "ce", "hidden", "total"}
    for v in parts.values():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad and v.device == s.device
    sm, tm, g = s[mask], t[mask], gold[mask]
    ref = {"mse": F.mse_loss(sm, tm), "ce": F.cross_entropy(sm[g >= 0], g[g >= 0]),
           "kl": F.kl_div(F.log_softmax(sm / 2, -1), F.softmax(tm / 2, -1), reduction="batchmean") * 4,
           "hidden": F.mse_loss(proj(sh[mask]), th[mask])}
    for k, v in ref.items():
        torch.testing.assert_close(parts[k], v.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(total, ref["mse"] + ref["ce"] + 0.5 * ref["kl"] + 2 * ref["hidden"])
    total.backward()
    assert s.grad[~mask].abs().sum() == 0 and s.grad[mask].abs().sum() > 0     # padding gets no gradient


def test_all_padding_gives_zero_not_nan():
    s = torch.randn(2, 3, 9, requires_grad=True)
    total, parts = distill_loss(s, torch.zeros(2, 3, dtype=torch.bool), LossConfig(mse=1, ce=1, kl=1),
                                teacher_logits=torch.randn(2, 3, 9), gold=torch.randint(0, 9, (2, 3)))
    assert all(float(v) == 0.0 for v in parts.values())
    total.backward()
    assert torch.isfinite(s.grad).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_loss_and_backward_do_not_synchronise_with_the_host():
    """On a GPU the objective (dense and sparse top-k) runs without one device->host sync."""
    dev = torch.device("cuda")
    torch.manual_seed(0)
    s = torch.randn(4, 11, 50, device=dev, requires_grad=True)
    mask = torch.rand(4, 11, device=dev) > 0.3
    gold = torch.randint(0, 50, (4, 11), device=dev)
    idx = torch.randint(0, 50, (4, 11, 8), device=dev)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        total, parts = distill_loss(s, mask, LossConfig(mse=1, ce=1, kl=1), teacher_logits=torch.randn_like(s),
                                    gold=gold)
        total.backward()
        distill_loss(s, mask, LossConfig(mse=1, ce=0, kl=1), teacher_logits=torch.randn(4, 11, 8, device=dev),
                     teacher_indices=idx)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert parts["total"].device.type == "cuda" and math.isfinite(parts["total"].item())
