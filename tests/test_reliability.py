"""Clear errors for bad resources and CLI usage (one line, exit status 2, no traceback)."""
import subprocess
import sys

import pytest

from xarchkd.data.resources import fetch, resolve
from xarchkd.errors import ResourceError
from xarchkd.teachers.teacher import Teacher


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


def test_every_cli_option_is_explained_with_its_default():
    """`xarchkd <cmd> --help` documents every option, and the default is printed beside each one."""
    import argparse
    from xarchkd.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"run", "teacher", "cache", "eval", "predict", "fill", "bench", "serve", "resources"} <= set(sub.choices)
    for name, p in sub.choices.items():
        text = p.format_help()
        for action in p._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"xarchkd {name} {action.option_strings or action.dest}: no help text"
            if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action.dest)
        assert "(default: None)" not in text, name


def test_resolve_expands_the_home_folder(tmp_path, monkeypatch):
    """Issue 14.11: `~/data` was not expanded (it was taken for a missing path)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "data").mkdir()
    assert resolve("~/data") == str(tmp_path / "data")
    with pytest.raises(ResourceError, match="no such file or folder"):
        resolve("~/nope")


def test_eval_of_a_missing_relative_folder_does_not_go_to_the_hub(tmp_path, monkeypatch, capsys):
    """Issue 14.11: `xarchkd eval runs/lstm` with no such folder was passed on as a Hub id. A path whose
    first part is a folder here is a local path: one line, 'no such file or folder'."""
    from xarchkd.cli import main
    from xarchkd.data.resources import RESOURCES
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main(["eval", "runs/lstm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["xarchkd: error: runs/lstm: no such file or folder (and not a resource name: "
                   f"{', '.join(RESOURCES)})"] and "minilm-l6, " in err[0]
    assert resolve("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"  # a Hub id


CHEAP = """
import sys
from xarchkd.cli import main
assert main(sys.argv[1:]) == 0
print("HEAVY", sorted(m for m in ("torch", "transformers", "accelerate", "datasets", "sru") if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["recipes"], ["run", "bert-sru-ner", "--print-config"],
                                  ["run", "bert-lstm-mlm", "--set", "train.epochs=1", "--print-config"]])
def test_commands_that_train_nothing_import_neither_torch_nor_transformers(args):
    """Issue 14.9: `xarchkd recipes` and `--print-config` cost ~4 s of CPU importing torch and transformers to
    list names and print a TOML. The parser, config, recipes and students' config are plain Python now."""
    p = subprocess.run([sys.executable, "-c", CHEAP, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "HEAVY []"
    assert ("bert-" in p.stdout) and ("Traceback" not in p.stderr)
