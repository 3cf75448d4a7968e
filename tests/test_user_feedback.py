"""Issue 14.10: what a user is told -- timings on a busy machine are flagged, the teacher fine-tune says how
long it will take, a student knows its data, and --resume refuses a changed schedule. Real tiny models."""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from conftest import LABELS, tiny


def test_bench_flags_timings_taken_on_an_oversubscribed_machine(tmp_path, tokenizer, conll_small):
    """`xarchkd bench` printed timings without a word when other processes shared the CPU. With busy loops
    on every core (at this process's priority) the timed loop gets under 0.8 CPU-s per wall second, and the
    report and the printed table say so."""
    from students import StudentConfig, StudentModel
    from xarchkd.tools import bench
    torch.manual_seed(0)
    s = tmp_path / "student"
    StudentModel(StudentConfig(block="lstm", vocab_size=len(tokenizer), embed_dim=64, hidden=64, layers=1,
                               num_labels=9, labels=LABELS, pad_id=tokenizer.pad_token_id,
                               unk_id=tokenizer.unk_token_id)).save_pretrained(s)
    tokenizer.save_pretrained(s)
    kw = dict(threads=(1,), batch_sizes=(8,), lengths=("128",), repeats=30, warmup=1, eval_limit=0, e2e=0,
              memory=False, int8=False, export=False, onnx=False, data=str(conll_small), progress=False)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        time.sleep(1.0)
        rep = bench.run_bench([], [str(s)], **kw)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert rep["busy_settings"] and rep["busy_settings"][0]["cpu_per_wall"] < bench.BUSY_SHARE
    assert any("other processes shared the CPU" in w for w in rep["warnings"])
    assert "WARNING:" in bench.summary_table(rep)
    assert bench.cpu_share(3.0, 2.0) == 1.5


def test_teacher_fine_tune_prints_its_steps_and_an_estimate(tmp_path, tiny_teacher, conll_small, capsys):
    """The one-off teacher fine-tune gave no idea of its time; after its first steps it prints one line with
    epochs x steps and an estimate."""
    from xarchkd.teachers.finetune import ner_teacher
    ner_teacher(str(tiny_teacher), str(conll_small), out=str(tmp_path / "t"), epochs=2, batch_size=16,
                progress=False)
    lines = [l for l in capsys.readouterr().out.splitlines() if "s/step" in l]
    assert len(lines) == 1
    assert lines[0].startswith(f"[xarchkd] fine-tuning the NER teacher {tiny_teacher.name}: 2 epochs x 19 steps = "
                               "38 steps at ") and "(first 19 steps) -> about " in lines[0]


def gpe_copy(tmp_path, conll_small):
    """conll_small with its LOC entities renamed GPE: data whose tags CoNLL-2003 does not have."""
    folder = tmp_path / "gpe"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        text = (conll_small / f"{split}.txt").read_text().replace("-LOC\n", "-GPE\n")
        (folder / f"{split}.txt").write_text(text)
    return folder


def test_eval_scores_a_student_on_the_data_it_was_trained_on(tmp_path, tokenizer, conll_small, capsys):
    """`xarchkd eval STUDENT` scored every student against CoNLL-2003 ("tag 'B-LOC' ... is not one of the
    teacher's labels" for one trained on other data). The run records its data in the student folder; eval
    uses it, and other data is refused naming the student and pointing at --data."""
    import xarchkd
    from conftest import make_tiny_teacher
    data = gpe_copy(tmp_path, conll_small)
    labels = ["O", "B-GPE", "I-GPE", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    teacher = make_tiny_teacher(tmp_path / "teacher", tokenizer, labels=labels)
    res = xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, teacher, data))
    student = tmp_path / "run" / "student"
    record = json.loads((student / "xarchkd_student.json").read_text())
    assert record["data"] == {"name": str(data), "path": str(data.resolve()), "scheme": "IOB2"}
    from xarchkd.cli import main
    capsys.readouterr()
    assert main(["eval", str(student)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"] == str(data.resolve()) and out["f1"] == pytest.approx(res["student"]["f1"])
    assert main(["eval", str(student), "--data", str(conll_small)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"student {student} does not know the tags ['B-LOC', 'I-LOC']" in err[0]
    assert f"pass --data {data.resolve()}" in err[0]


def test_resume_with_a_changed_schedule_is_refused(tmp_path, tiny_teacher, conll_small):
    """--resume with a changed train.epochs continued under another schedule without a word. The run's saved
    config is compared first (config.toml stays as it was); a run folder without config.json is still
    stopped by the training loop's saved schedule."""
    import xarchkd
    from students import CheckpointError
    o = tiny(tmp_path, tiny_teacher, conll_small)
    xarchkd.run("bert-cnn-ner", progress=False, **o)
    saved = (tmp_path / "run" / "config.toml").read_text()
    with pytest.raises(CheckpointError, match=r"was trained with other settings \(train.epochs 1 -> 2\)"):
        xarchkd.run("bert-cnn-ner", resume=True, progress=False, **{**o, "train.epochs": 2})
    assert (tmp_path / "run" / "config.toml").read_text() == saved
    (tmp_path / "run" / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"trained under another schedule \(epochs 1 -> 2"):
        xarchkd.run("bert-cnn-ner", resume=True, progress=False, **{**o, "train.epochs": 2})
    res = xarchkd.run("bert-cnn-ner", resume=True, progress=False, **o)     # the same settings resume
    assert [h["epoch"] for h in res["history"]] == [1]
