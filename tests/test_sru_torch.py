"""The plain-torch SRU recurrence (students/sru_torch.py) against sru's own: the bare recurrence for every
option sru's kernels take, the SRU and SRU++ blocks (outputs and every gradient, padding, train and eval),
checkpoints across implementations, what ``impl="auto"`` runs, and (with CUDA) the blocks on a GPU."""
import itertools
import warnings

import pytest
import torch

from students import StudentConfig, StudentError, StudentModel
from students._sru import load_sru
from students.sru import BiSRU
from students.sru_torch import AUTO_CPU, choose, elementwise_recurrence_torch
from students.srupp import BiSRUpp

load_sru()
from sru.ops import elementwise_recurrence_inference, elementwise_recurrence_naive  # noqa: E402

T, B, D = 7, 3, 5
LENGTHS = (7, 4, 1)


def pad_mask(T=T, lengths=LENGTHS):
    """[T,B] bool, True at pads (sru's mask_pad), right-padded rows of the given lengths."""
    return torch.arange(T)[:, None] >= torch.tensor(lengths)[None]


OPTIONS = [o for o in itertools.product([False, True], [3, 4], [False, True], [0, 1], [True, False], [False, True],
                                        [False, True], [False, True])
           if o[4] or o[1] == 3]      # k=4 only exists with the skip term


@pytest.mark.parametrize("bidir,k,custom_wc,act,skip,scale,drop,pad", OPTIONS)
def test_recurrence_equals_sru_python_loop_with_gradients(bidir, k, custom_wc, act, skip, scale, drop, pad):
    """fp64, every option of sru's elementwise recurrence: h, the last c and the gradients of both w.r.t.
    U, x, weight_c, bias and c0 equal sru's own autograd loop (elementwise_recurrence_naive)."""
    dirs = 2 if bidir else 1
    g = torch.Generator().manual_seed(len(OPTIONS))
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    inputs = [r(T, B, dirs * D * k), r(T, B, dirs * D), r(T, B, dirs * D * 2) if custom_wc else r(2 * dirs * D),
              r(2 * dirs * D), r(B, dirs * D)]
    inputs = [t.requires_grad_() for t in inputs]
    scale_x = torch.tensor([1.7], dtype=torch.float64) if scale else None
    mask_c = torch.rand(B, dirs * D, generator=g, dtype=torch.float64) * 2 if drop else None
    mask_pad = pad_mask() if pad else None
    results = []
    for fn in (elementwise_recurrence_naive, elementwise_recurrence_torch):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h, c = fn(*inputs, act, D, bidir, skip, scale_x, mask_c, mask_pad)
        w = torch.cos(torch.arange(h.numel(), dtype=h.dtype)).view_as(h)
        grads = torch.autograd.grad((h * w).sum() + (c * c).sum(), inputs, allow_unused=True)
        results.append([h, c] + [torch.zeros_like(x) if gr is None else gr for x, gr in zip(inputs, grads)])
    for name, a, b in zip(["h", "c", "dU", "dx", "dweight_c", "dbias", "dc0"], *results):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10, msg=name)
    if pad:
        assert results[1][0][pad_mask()].abs().max() == 0          # pads output zero


@pytest.mark.parametrize("bidir", [False, True])
def test_recurrence_equals_sru_cpu_kernel_in_inference(bidir):
    dirs = 2 if bidir else 1
    torch.manual_seed(0)
    args = (torch.randn(T, B, dirs * D * 3), torch.randn(T, B, dirs * D), torch.randn(2 * dirs * D),
            torch.randn(2 * dirs * D), torch.randn(B, dirs * D), 0, D, bidir, True, torch.tensor([1.3]), None,
            pad_mask())
    with torch.no_grad():
        want, got = elementwise_recurrence_inference(*args), elementwise_recurrence_torch(*args)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


BLOCKS = {
    "sru": lambda impl, dropout=0.0, **kw: BiSRU(6, 10, 2, dropout, impl=impl, **kw),
    "sru-ln-rescale": lambda impl, dropout=0.0: BiSRU(6, 10, 2, dropout, layer_norm=True, rescale=True,
                                                      highway_bias=-1.0, impl=impl),
    "srupp": lambda impl, dropout=0.0: BiSRUpp(6, 10, 2, dropout, proj_size=8, num_heads=2, impl=impl),
    "srupp-ln": lambda impl, dropout=0.0: BiSRUpp(6, 10, 2, dropout, proj_size=8, layer_norm=True, impl=impl),
}


def block_pair(name, dropout=0.0):
    """The same block under impl="sru" and impl="torch", with the same weights (and randomised gains)."""
    torch.manual_seed(0)
    ref = BLOCKS[name]("sru", dropout)
    with torch.no_grad():
        for n, p in ref.named_parameters():
            if n.endswith("alpha"):          # SRU++'s attention starts switched off (alpha = 0)
                p.fill_(0.7)
    torch.manual_seed(1)
    new = BLOCKS[name]("torch", dropout)
    new.load_state_dict(ref.state_dict())
    return ref, new


def block_inputs(T=6, lengths=(6, 3, 1)):
    torch.manual_seed(2)
    x = torch.randn(len(lengths), T, 6)
    mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    return x, mask


def forward_backward(block, x, mask, train: bool, seed: int = 3):
    block.train(train)
    x = x.clone().requires_grad_()
    torch.manual_seed(seed)                  # the same dropout masks for both implementations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = block(x, mask)
    w = torch.sin(torch.arange(out.numel(), dtype=out.dtype, device=out.device)).view_as(out)
    (out * w).sum().backward()
    grads = {n: p.grad.clone() for n, p in block.named_parameters() if p.grad is not None}
    block.zero_grad(set_to_none=True)
    return out.detach(), x.grad, grads


@pytest.mark.parametrize("name", list(BLOCKS))
@pytest.mark.parametrize("train,dropout", [(True, 0.0), (True, 0.3), (False, 0.0)])
def test_block_outputs_and_all_gradients_equal_sru(name, train, dropout):
    """A 2-layer bidirectional block on a right-padded batch: output, input gradient and every
    parameter's gradient agree between sru's recurrence and the torch one (train: with dropout 0 and,
    seeded alike, 0.3; eval: the recurrence without dropout masks)."""
    ref, new = block_pair(name, dropout)
    x, mask = block_inputs()
    out_a, dx_a, g_a = forward_backward(ref, x, mask, train)
    out_b, dx_b, g_b = forward_backward(new, x, mask, train)
    torch.testing.assert_close(out_b, out_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dx_b, dx_a, rtol=1e-4, atol=1e-5)
    assert set(g_a) == set(g_b) == {n for n, p in ref.named_parameters() if p.requires_grad}
    for n in g_a:
        torch.testing.assert_close(g_b[n], g_a[n], rtol=1e-4, atol=1e-5, msg=n)
    assert out_b[~mask].abs().max() == 0 and dx_b[~mask].abs().max() == 0   # pads neither output nor read


@pytest.mark.parametrize("name", ["sru", "srupp"])
def test_eval_inference_equals_sru_kernel_and_ignores_extra_padding(name):
    ref, new = block_pair(name)
    ref.eval(), new.eval()
    x, mask = block_inputs()
    with torch.no_grad():
        want = ref(x, mask)
        got = new(x, mask)
        longer = new(torch.cat([x, torch.randn(3, 4, 6)], 1), torch.cat([mask, torch.zeros(3, 4, dtype=bool)], 1))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(longer[:, :6], got, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block,args", [("sru", {}), ("srupp", {"proj_size": 8})])
def test_checkpoint_saved_under_one_impl_loads_under_the_other(tmp_path, block, args):
    """Same state-dict keys as sru's own modules; a student saved with impl=sru, loaded with impl=torch
    (and the other way round) gives the same logits."""
    sru = load_sru()
    plain = sru.SRU(16, 8, num_layers=2, bidirectional=True) if block == "sru" else \
        sru.SRUpp(16, 8, 8, num_layers=2, bidirectional=True)
    ids = torch.randint(1, 100, (3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.arange(9)[None] < torch.tensor([9, 5, 2])[:, None]
    for src, dst in [("sru", "torch"), ("torch", "sru")]:
        cfg = StudentConfig(block=block, vocab_size=100, embed_dim=16, hidden=16, layers=2, num_labels=5,
                            labels=list("OABCD"), block_args={**args, "impl": src})
        torch.manual_seed(0)
        m = StudentModel(cfg).eval()
        assert set(m.encoder.rnn.state_dict()) == set(plain.state_dict())
        m.save_pretrained(tmp_path / src)
        with torch.no_grad():
            want = m(ids, mask.long()).logits
        torch.manual_seed(1)
        other = StudentModel(StudentConfig(**{**cfg.to_dict(), "block_args": {**args, "impl": dst}}))
        other.load_state_dict(m.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(other.eval()(ids, mask.long()).logits, want)
            loaded = StudentModel.from_pretrained(tmp_path / src).eval()
            torch.testing.assert_close(loaded(ids, mask.long()).logits, want)


def test_auto_choice_rule():
    """What the docs say: never sru on a GPU; on the CPU torch to train, sru's C++ kernel to infer
    (fp32, no dropout mask), torch otherwise; explicit impls are obeyed."""
    assert AUTO_CPU == {"train": "torch", "infer": "sru"}
    for grad, fp32, drop in itertools.product([False, True], repeat=3):
        assert choose("auto", "cuda", grad, fp32, drop) == "torch"
        assert choose("torch", "cpu", grad, fp32, drop) == "torch"
        assert choose("sru", "cuda", grad, fp32, drop) == "sru"
    assert choose("auto", "cpu", True, True, False) == "torch"
    assert choose("auto", "cpu", False, True, False) == "sru_kernel"
    assert choose("auto", "cpu", False, False, False) == "torch"
    assert choose("auto", "cpu", False, True, True) == "torch"
    with pytest.raises(StudentError, match="impl must be one of auto, sru, torch, got 'cuda'"):
        BiSRU(6, 10, 2, 0.0, impl="cuda")


def traced_ops(block, x, mask):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(torch.jit.trace(block.eval(), (x, mask), check_trace=False).inlined_graph)


@pytest.mark.parametrize("name", ["sru", "srupp"])
def test_auto_runs_torch_to_train_and_the_sru_kernel_to_infer_on_cpu(name, capsys):
    """Observable: sru's Python loop warns on every training call, its C++ kernel shows up in a traced
    graph. auto: no warning in training, the kernel in inference; impl=sru: both; impl=torch: neither.
    Each block prints one line saying what runs."""
    x, mask = block_inputs()
    for impl, loop_warns, kernel in [("auto", False, True), ("sru", True, True), ("torch", False, False)]:
        torch.manual_seed(0)
        block = BLOCKS[name](impl)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            block.train()(x, mask).sum().backward()
            block(x, mask).sum().backward()
        assert any("grad_enabled=True" in str(w.message) for w in seen) == loop_warns, impl
        graph = traced_ops(block, x, mask)
        assert ("sru_cpu::cpu_bi_forward" in graph) == kernel and "PythonOp" not in graph, impl   # exportable
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[students]")]
        assert len(lines) == 1, lines
    assert lines[-1] == f"[students] {name} block: torch recurrence (cpu)"
    torch.manual_seed(0)
    BLOCKS[name]("auto")(x, mask)
    assert (f"[students] {name} block: torch recurrence for training, sru's C++ kernel for inference "
            "(cpu, impl=auto)") in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["sru", "srupp"])
def test_blocks_train_on_cuda_through_the_torch_recurrence(name, capsys):
    """impl=auto on CUDA never calls sru's (crashing) CUDA kernels: forward and backward run, in fp32
    matching the CPU result, and under bf16 autocast close to it."""
    torch.manual_seed(0)
    cpu = BLOCKS[name]("sru")
    with torch.no_grad():
        for n, p in cpu.named_parameters():
            if n.endswith("alpha"):
                p.fill_(0.7)
    torch.manual_seed(1)
    gpu = BLOCKS[name]("auto")
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x, mask = block_inputs()
    out_c, dx_c, g_c = forward_backward(cpu, x, mask, True)
    out_g, dx_g, g_g = forward_backward(gpu, x.cuda(), mask.cuda(), True)
    assert "torch recurrence (cuda)" in capsys.readouterr().err
    torch.testing.assert_close(out_g.cpu(), out_c, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dx_g.cpu(), dx_c, rtol=1e-3, atol=1e-4)
    for n in g_c:
        torch.testing.assert_close(g_g[n].cpu(), g_c[n], rtol=1e-3, atol=1e-4, msg=n)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out_b, dx_b, g_b = forward_backward(gpu, x.cuda(), mask.cuda(), True)
    assert torch.isfinite(out_b).all() and torch.isfinite(dx_b).all()
    torch.testing.assert_close(out_b.float().cpu(), out_c, rtol=0.05, atol=0.05)
    torch.testing.assert_close(dx_b.float().cpu(), dx_c, rtol=0.1, atol=0.05)
    with torch.no_grad():
        torch.testing.assert_close(gpu.eval()(x.cuda(), mask.cuda()).cpu(), cpu.eval()(x, mask),
                                   rtol=1e-4, atol=1e-4)
