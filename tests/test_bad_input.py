"""Issue 14, bad input to a run: each case fails with one clear line before any work (or works, where
the input was valid all along). Real tiny teachers and CoNLL-2003 subsets from conftest; no mocks."""
import re
import shutil

import pytest

import xarchkd
from xarchkd.errors import DataError

from conftest import tiny


def data_copy(tmp_path, conll_small, name="data"):
    folder = tmp_path / name
    shutil.copytree(conll_small, folder)
    return folder


@pytest.mark.parametrize("how", ["missing", "folder"])
def test_data_without_valid_is_refused_before_the_teacher_fine_tune(tmp_path, tiny_teacher, conll_small, how,
                                                                    monkeypatch, capsys):
    """Issue 14.1: no usable valid.txt used to crash with FileNotFoundError .../partial/best/xarchkd_teacher.json
    after the whole fine-tune, leaving a .partial folder. Now: one DataError naming the split and why it is
    needed, before any work (no teacher folder, no run folder)."""
    monkeypatch.setenv("XARCHKD_HOME", str(tmp_path / "home"))
    data = data_copy(tmp_path, conll_small)
    (data / "valid.txt").unlink()
    if how == "folder":
        (data / "valid.txt").mkdir()
    state = "is missing" if how == "missing" else "is a folder, not a file"
    o = tiny(tmp_path, tiny_teacher, data, **{"teacher.finetune": True})
    with pytest.raises(DataError, match=f"valid.txt {state} \\(needed: it picks the best epoch"):
        xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert not (tmp_path / "run").exists() and not (tmp_path / "home" / "teachers").exists()
    from xarchkd.cli import main
    assert main(["teacher", "--encoder", str(tiny_teacher), "--data", str(data), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"valid.txt {state}" in err[0] and str(data) in err[0]
    assert not list(tmp_path.glob("t*"))


@pytest.mark.parametrize("how", ["missing", "folder"])
def test_data_without_test_is_refused_not_scored_on_valid(tmp_path, tiny_teacher, conll_small, how):
    """Issue 14.3: no usable test.txt used to report the valid score as the student's test F1. Now the run
    refuses before any work, saying test.txt gives the reported F1."""
    data = data_copy(tmp_path, conll_small)
    (data / "test.txt").unlink()
    if how == "folder":
        (data / "test.txt").mkdir()
    with pytest.raises(DataError, match="test.txt (is missing|is a folder).*the student's reported F1"):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, data))
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("split", ["valid", "test"])
def test_a_type_the_train_split_lacks_is_refused_before_the_fine_tune(tmp_path, tiny_teacher, conll_small, split,
                                                                     monkeypatch, capsys):
    """Probe of 2026-12-04: a valid/test entity type that train.txt never has (here B-EVENT) used to stop the run
    after the teacher's weights loaded, naming neither file nor line (`valid: tag 'B-EVENT' of sentence 0 is not
    one of the teacher's labels`). Now: one DataError naming the file, line and train's types, before any work."""
    monkeypatch.setenv("XARCHKD_HOME", str(tmp_path / "home"))
    data = data_copy(tmp_path, conll_small)
    lines = (data / f"{split}.txt").read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if line.split() and line.split()[-1] == "B-PER"    # a one-word name:
             and not (lines[i + 1].split() and lines[i + 1].split()[-1] == "I-PER"))      # the file stays IOB2
    lines[n] = lines[n].rsplit(" ", 1)[0] + " B-EVENT"
    (data / f"{split}.txt").write_text("\n".join(lines) + "\n")
    o = tiny(tmp_path, tiny_teacher, data, **{"teacher.finetune": True})
    where = re.escape(f"{data / split}.txt:{n + 1}: entity type 'EVENT' is not in train.txt (its types: LOC, MISC, ORG, PER)")
    with pytest.raises(DataError, match=where):
        xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert not (tmp_path / "run").exists() and not (tmp_path / "home" / "teachers").exists()
    from xarchkd.cli import main
    assert main(["teacher", "--encoder", str(tiny_teacher), "--data", str(data), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{split}.txt:{n + 1}: entity type 'EVENT'" in err[0]
    assert not list(tmp_path.glob("t*"))


def test_a_train_split_without_entities_is_refused(tmp_path, tiny_teacher, conll_small, monkeypatch):
    """Probe of 2026-12-04: a train.txt whose every tag is O fine-tuned a teacher for 1,000 steps with one label
    and scored F1 0. Now one line naming train.txt, before any work."""
    monkeypatch.setenv("XARCHKD_HOME", str(tmp_path / "home"))
    data = data_copy(tmp_path, conll_small)
    lines = (data / "train.txt").read_text().splitlines()
    (data / "train.txt").write_text("\n".join(" ".join(l.split()[:-1] + ["O"]) if l.split() else l for l in lines))
    with pytest.raises(DataError, match=re.escape(f"{data / 'train.txt'}: every tag is O: no entity to learn")):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, data, **{"teacher.finetune": True}))
    assert not (tmp_path / "run").exists() and not (tmp_path / "home" / "teachers").exists()


def iob1_copy(tmp_path, conll_small):
    """conll_small rewritten in IOB1: an entity opens with I- unless it follows one of the same type."""
    folder = tmp_path / "iob1"
    folder.mkdir()
    changed = 0
    for split in ("train", "valid", "test"):
        out, prev = [], "O"
        for line in (conll_small / f"{split}.txt").read_text().splitlines():
            cols = line.split()
            if cols and cols[-1].startswith("B-") and prev[2:] != cols[-1][2:]:
                cols[-1] = "I-" + cols[-1][2:]
                changed += 1
            prev = cols[-1] if cols else "O"
            out.append(" ".join(cols))
        (folder / f"{split}.txt").write_text("\n".join(out) + "\n")
    assert changed > 100
    return folder


def test_iob1_data_trains_its_teacher_and_student_with_data_scheme(tmp_path, tiny_teacher, conll_small,
                                                                   monkeypatch, capsys):
    """Issue 14.2: the teacher fine-tune read the data as IOB2 whatever data.scheme said, and `xarchkd teacher`
    had no scheme option; the error told the user to pass the scheme they had passed. Now data.scheme reaches
    the fine-tune, `xarchkd teacher --scheme IOB1` builds the same teacher, and reading IOB1 as IOB2 names
    the option to set."""
    monkeypatch.setenv("XARCHKD_HOME", str(tmp_path / "home"))
    data = iob1_copy(tmp_path, conll_small)
    o = tiny(tmp_path, tiny_teacher, data, **{"teacher.finetune": True, "teacher.epochs": 1,
                                              "teacher.batch_size": 16, "teacher.min_steps": 0,
                                              "data.scheme": "IOB1"})
    res = xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert 0.0 <= res["student"]["f1"] <= 1.0 and res["teacher"]["valid_f1"] is not None
    capsys.readouterr()
    from xarchkd.cli import main
    teacher_args = ["teacher", "--encoder", str(tiny_teacher), "--data", str(data), "--epochs", "1",
                    "--batch-size", "16", "--min-steps", "0"]
    assert main(teacher_args + ["--scheme", "iob1"]) == 0
    assert capsys.readouterr().out.strip() == res["teacher"]["path"]      # the run's teacher, reused
    assert main(teacher_args) == 0                                        # the scheme read from the files
    assert capsys.readouterr().out.strip().splitlines()[-1] == res["teacher"]["path"]
    assert main(teacher_args + ["--scheme", "IOB2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "I- without B- under IOB2" in err[0] and "--scheme IOB1" in err[0]
    with pytest.raises(DataError, match="data.scheme=IOB1 or auto"):
        xarchkd.run("bert-cnn-ner", progress=False, **{**o, "data.scheme": "IOB2"})


@pytest.mark.parametrize("block, args, needle", [
    ("cnn", {"kernel": 5}, "block 'cnn' does not take block_args ['kernel'] (it reads: dilations, kernel_size)"),
    ("lstm", {"proj_size": 64}, "block 'lstm' does not take block_args ['proj_size'] (it reads: none)"),
    ("cnn", {"kernel_size": 4}, "kernel_size must be odd"),
])
def test_unknown_block_args_are_refused_before_any_work(tmp_path, tiny_teacher, conll_small, block, args, needle):
    """Issue 14.8: unknown student.block_args keys were ignored. The run builds the block once before any
    work and refuses keys the block does not read, naming those it does."""
    from xarchkd.errors import ConfigError
    with pytest.raises(ConfigError, match=re.escape(needle)):
        xarchkd.run("bert-cnn-ner", progress=False,
                    **tiny(tmp_path, tiny_teacher, conll_small, **{"student.block": block, "student.block_args": args}))
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_splits_that_share_their_sentences_are_warned_even_when_quiet(tmp_path, tiny_teacher, conll_small, capsys):
    """Probe of 2026-12-04: a set with only train and test, its test.txt copied as valid.txt, picked the best epoch
    on the test sentences and reported a flattering test F1 without a word. Now the run says so, plan or not, in one
    line per pair naming the file; a folder whose splits are apart (conll_small) says nothing."""
    from xarchkd.preflight import ner_plan, say_plan
    from xarchkd.recipe import resolve_config
    assert ner_plan(resolve_config("bert-cnn-ner", tiny(tmp_path, tiny_teacher, conll_small))).warnings == []
    data = data_copy(tmp_path, conll_small)
    shutil.copy(data / "test.txt", data / "valid.txt")
    say_plan(resolve_config("bert-cnn-ner", tiny(tmp_path, tiny_teacher, data)), progress=False)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"[xarchkd] warning: {data / 'test.txt'}: 100 of its 100 sentences (100%) are word for word in valid.txt: "
        "the test F1 is scored on the sentences that picked the best epoch, so it flatters; make valid.txt of other "
        "sentences (e.g. a part of train.txt moved out)"]


def test_a_split_under_another_name_is_named_in_the_error(tmp_path, tiny_teacher, conll_small):
    """Probe of 2026-12-04: published sets call the valid split dev.txt or devel.tsv (NCBI-disease's own release does);
    the error said valid.txt is missing and no more. Now it names the look-alike file and the name to give it."""
    data = data_copy(tmp_path, conll_small)
    (data / "valid.txt").rename(data / "devel.tsv")
    with pytest.raises(DataError, match=re.escape("valid.txt is missing (needed: it picks the best epoch of the teacher "
                                                  "fine-tune and of the student); the folder has devel.tsv: if it is the "
                                                  "valid split in the same columns, name it valid.txt. This needs")):
        xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, data))
    assert not (tmp_path / "run").exists()


def test_a_valid_split_taken_from_train_or_test_is_warned(tmp_path, tiny_teacher, conll_small):
    """The other pairs of the same probe: valid.txt's sentences also in train.txt; valid.txt a part of a larger
    test.txt (5% of test is in valid, all of valid in test: the pair said once, from valid's side)."""
    from xarchkd.preflight import ner_plan
    from xarchkd.recipe import resolve_config
    data = data_copy(tmp_path, conll_small)
    train, valid, test = ((data / f"{s}.txt").read_text() for s in ("train", "valid", "test"))
    (data / "train.txt").write_text(train.rstrip("\n") + "\n\n" + valid)
    warned = ner_plan(resolve_config("bert-cnn-ner", tiny(tmp_path, tiny_teacher, data))).warnings
    assert warned == [f"{data / 'valid.txt'}: 100 of its 100 sentences (100%) are word for word in train.txt: the best "
                      "epoch is picked on sentences the models trained on; move a part of train.txt out into valid.txt"]
    (data / "train.txt").write_text(train)
    (data / "valid.txt").write_text("\n\n".join(test.strip().split("\n\n")[:20]) + "\n")
    (data / "test.txt").write_text(test + "\n" + train)       # 400 sentences, 20 of them (5%) in valid
    warned = ner_plan(resolve_config("bert-cnn-ner", tiny(tmp_path, tiny_teacher, data))).warnings
    assert len(warned) == 2 and warned[1].startswith(f"{data / 'valid.txt'}: 20 of its 20 sentences (100%) are word "
                                                     "for word in test.txt: the best epoch is picked on test sentences")
    assert "test.txt: 300 of its 400 sentences (75%) are word for word in train.txt" in warned[0]
