"""The BiLSTM block as one ``nn.LSTM(num_layers=2)`` (before 89370b1) against one ``nn.LSTM`` per layer (now):
CPU latency at batch 1, the two interleaved in one process, same weights, outputs checked equal.

    python benchmarks/lstm_layout_speed.py [--calls 400] [--threads 1]

It reads the old block from git (``git show 3fd537b:students/lstm.py``), so it needs a clone with that history.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from students.lstm import BiLSTM  # noqa: E402


def one_module_block():
    """The block's class as it was at 3fd537b (read from git), without registering it."""
    src = subprocess.run(["git", "show", "3fd537b:students/lstm.py"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    ns = {}
    exec(src.replace('@register_block("lstm")\n', "").replace("from .registry import register_block", ""), ns)
    return ns["BiLSTM"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=24)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    old = one_module_block()(128, 384, 2, 0.2).eval()        # the BiLSTM recipe's block: embed 128, hidden 384
    new = BiLSTM(128, 384, 2, 0.2).eval()
    new.load_state_dict(old.state_dict())
    x, mask = torch.randn(1, a.tokens, 128), torch.ones(1, a.tokens, dtype=torch.long)
    times = {"one module": [], "per layer": []}
    with torch.inference_mode():
        assert torch.equal(old(x, mask), new(x, mask))
        for _ in range(20):
            old(x, mask), new(x, mask)
        for i in range(a.calls):
            pairs = [("one module", old), ("per layer", new)]
            for name, m in pairs if i % 2 else pairs[::-1]:
                t = time.perf_counter()
                m(x, mask)
                times[name].append(time.perf_counter() - t)
    p50 = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"p50 ms, batch 1 x {a.tokens} tokens, {a.threads} thread(s): one module {p50['one module']:.3f}, "
          f"per layer {p50['per layer']:.3f} ({p50['per layer'] / p50['one module'] - 1:+.1%})")


if __name__ == "__main__":
    main()
