"""Speed of the SRU / SRU++ student blocks' two recurrence implementations (``block_args["impl"]``).

    nice -n 10 .venv/bin/python benchmarks/sru_impl_speed.py [--device cpu|cuda] [--reps 30]

At the NER recipe's size (embed 128, hidden 384, 2 layers, dropout 0.2; SRU++ proj_size 128) it times
the block alone on right-padded random inputs, for each impl, interleaved so that load from other
processes hits both alike:

- train: one forward + backward, batch 32 x 30 tokens (lengths 12..30), train mode;
- infer b1: forward under ``no_grad`` in eval mode, batch 1 x 24 tokens;
- infer b32: the same at batch 32 x 30 tokens (validation-sized batches).

Prints the median (and the fastest) milliseconds per step and the torch/sru ratio of the medians. ``impl=auto`` picks per call
(``students/sru_torch.py``: ``AUTO_CPU``); it is timed too. On CUDA only ``torch`` and ``auto`` run
(sru's CUDA kernels crash).
"""
import argparse
import statistics
import time
import warnings

import torch

from students.sru import BiSRU
from students.srupp import BiSRUpp


def make(block: str, impl: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if block == "sru":
        m = BiSRU(128, 384, 2, 0.2, impl=impl)
    else:
        m = BiSRUpp(128, 384, 2, 0.2, proj_size=128, num_heads=1, impl=impl)
    m._announced = True                      # no "[students] ..." line per model here
    return m.to(device)


def inputs(B: int, T: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, 128, generator=g)
    lengths = torch.randint(max(1, T * 2 // 5), T + 1, (B,), generator=g)
    lengths[0] = T
    mask = torch.arange(T)[None] < lengths[:, None]
    return x.to(device), mask.to(device)


def sync(device: str):
    if device == "cuda":
        torch.cuda.synchronize()


def step_train(m, x, mask, device):
    m.train()
    x = x.detach().requires_grad_()
    out = m(x, mask)
    out.pow(2).mean().backward()
    m.zero_grad(set_to_none=True)
    sync(device)


def step_infer(m, x, mask, device):
    m.eval()
    with torch.no_grad():
        m(x, mask)
    sync(device)


CASES = {"train": (step_train, 32, 30), "infer b1": (step_infer, 1, 24), "infer b32": (step_infer, 32, 30)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--blocks", default="sru,srupp")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message="Running SRU on CPU with grad_enabled=True.*")
    impls = ["sru", "torch", "auto"] if a.device == "cpu" else ["torch", "auto"]
    print(f"device {a.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median [min] of {a.reps} steps (ms)")
    for block in a.blocks.split(","):
        models = {impl: make(block, impl, a.device) for impl in impls}
        for case, (fn, B, T) in CASES.items():
            x, mask = inputs(B, T, a.device)
            times = {impl: [] for impl in impls}
            for impl in impls:                               # warm-up
                for _ in range(3):
                    fn(models[impl], x, mask, a.device)
            for _ in range(a.reps):
                for impl in impls:
                    t0 = time.perf_counter()
                    fn(models[impl], x, mask, a.device)
                    times[impl].append(1000 * (time.perf_counter() - t0))
            med = {impl: statistics.median(v) for impl, v in times.items()}
            cols = "  ".join(f"{impl}={med[impl]:7.2f} [{min(times[impl]):7.2f}]" for impl in impls)
            ratio = f"  torch/sru={med['torch'] / med['sru']:.2f}" if "sru" in med else ""
            print(f"{block:6s} {case:10s} B={B:2d} T={T:2d}  {cols}{ratio}", flush=True)


if __name__ == "__main__":
    main()
