"""Clear errors for bad resources and CLI usage (one line, exit status 2, no traceback)."""
import subprocess
import sys

import pytest

from xarchkd.errors import ResourceError
from xarchkd.resources import fetch, resolve
from xarchkd.teacher import Teacher


def test_unknown_resource_says_did_you_mean():
    with pytest.raises(ResourceError, match="did you mean 'conll2003'"):
        fetch("conll2030")


def test_missing_local_path():
    with pytest.raises(ResourceError, match="no such file or folder"):
        resolve("./no/such/folder")


def test_folder_without_a_model(tmp_path):
    with pytest.raises(ResourceError, match="could not load teacher"):
        Teacher.load(str(tmp_path), "ner")


def test_cli_prints_one_line_and_exits_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "xarchkd.cli", "run", "bert-sru-nr"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        p.stderr.strip().splitlines()[0]] and "did you mean 'bert-sru-ner'" in p.stderr
    assert "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "xarchkd.cli", "run", "bert-sru-ner", "--set", "train.epoch=1",
                        "--print-config"], capture_output=True, text=True)
    assert p.returncode == 2 and "did you mean 'train.epochs'" in p.stderr
    p = subprocess.run([sys.executable, "-m", "xarchkd.cli", "run", "bert-sru-ner", "--set", "train.epochs=1",
                        "--print-config"], capture_output=True, text=True)
    assert p.returncode == 0 and "epochs = 1" in p.stdout
