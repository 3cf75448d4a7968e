"""`xarchkd predict` / `eval` on input they cannot use (issue 29.3, 29.7): a masked-LM folder is refused instead
of tagging every word LABEL_0, and bytes that are not UTF-8 (stdin or an argument) are a one-line error naming
where they are, instead of a TypeError from the tokenizer."""
import io
import sys

import pytest

from xarchkd.cli import main


@pytest.fixture(scope="module")
def mlm_teacher(tmp_path_factory, tokenizer):
    from transformers import BertConfig, BertForMaskedLM
    folder = tmp_path_factory.mktemp("mlm_teacher")
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertForMaskedLM(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("cmd", ["predict", "eval"])
def test_a_masked_lm_folder_is_refused_not_tagged_label_0(mlm_teacher, cmd, capsys):
    """It used to load with a random 2-label head and print every word as word/LABEL_0 (exit 0)."""
    argv = [cmd, str(mlm_teacher)] + (["Angela Merkel visited Paris ."] if cmd == "predict" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "BertForMaskedLM" in err and "not a NER model" in err


def test_invalid_utf8_in_an_argument_is_one_line_naming_it(tiny_teacher, capsys):
    bad = b"Paris caf\xfc".decode("utf-8", "surrogateescape")        # how Python hands such argv bytes over
    assert main(["predict", str(tiny_teacher), "Bonn .", bad]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "xarchkd: error: argument 2: not valid UTF-8 (byte b'\\xfc' at column 10)"


def test_invalid_utf8_on_stdin_is_one_line_naming_the_line(tiny_teacher, capsys, monkeypatch):
    raw = io.TextIOWrapper(io.BytesIO(b"Bonn .\n\nParis caf\xc3\n"), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", raw)
    assert main(["predict", str(tiny_teacher)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "xarchkd: error: stdin:3: not valid UTF-8 (byte b'\\xc3' at column 10)"


def test_good_stdin_still_tags(tiny_teacher, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Zürich ist schön .\n".encode()), encoding="utf-8"))
    assert main(["predict", str(tiny_teacher)]) == 0
    assert capsys.readouterr().out.count("\n") == 1


def test_a_corrupt_student_config_json_is_named_not_could_not_load_teacher(tmp_path, tokenizer, capsys):
    """Issue 29 (weak messages): a student folder whose config.json is not JSON said "could not load teacher"."""
    import torch
    from students import StudentConfig, StudentModel
    from conftest import LABELS
    torch.manual_seed(0)
    StudentModel(StudentConfig(block="cnn", vocab_size=len(tokenizer), embed_dim=8, hidden=8, layers=1, num_labels=9,
                               labels=LABELS)).save_pretrained(tmp_path / "s")
    cfg = tmp_path / "s" / "config.json"
    cfg.write_text(cfg.read_text()[:40])
    assert main(["predict", str(tmp_path / "s"), "Bonn ."]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"xarchkd: error: {cfg}: not valid JSON (") and "teacher" not in err
