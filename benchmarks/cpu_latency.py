"""CPU latency benchmark: the same code as ``xarchkd bench`` (the xarchkd/tools/bench package), with this project's
defaults.

    python benchmarks/cpu_latency.py --json benchmarks/bench.json \
        --teacher ~/.cache/xarchkd/teachers/ner-minilm-l6-<fp> --teacher mpnet-base \
        --student runs/bert-lstm-ner/student --student runs/bert-cnn-ner/student ...
"""
import argparse
import sys

from xarchkd.tools import bench

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    bench.add_parser(sub, argparse.ArgumentDefaultsHelpFormatter)
    sys.exit(bench.main_from_args(ap.parse_args(["bench", *sys.argv[1:]])))
