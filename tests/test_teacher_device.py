"""The teacher side's device and precision: refused where they cannot run, used where they can."""
import json

import pytest
import torch

from conftest import cli


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU's refusal (a CUDA process cannot hide its GPU)")
def test_teacher_and_cache_commands_refuse_mixed_precision_on_the_cpu(tmp_path, tiny_teacher, conll_small, capsys):
    """`xarchkd teacher` and `xarchkd cache` take --mixed-precision; on the CPU fp16/bf16 end in the
    training run's one-line error (status 2), before any work, and nothing is written."""
    code, _, err = cli(capsys, "teacher", "--encoder", tiny_teacher, "--data", conll_small, "--epochs", "1", "--out",
                       tmp_path / "t", "--mixed-precision", "bf16")
    assert code == 2 and err.strip().count("\n") == 0, err[-2000:]
    assert "mixed_precision='bf16' needs a GPU" in err and not (tmp_path / "t").exists()
    code, _, err = cli(capsys, "cache", "--teacher", tiny_teacher, "--data", conll_small, "--root", tmp_path / "c",
                       "--mixed-precision", "fp16")
    assert code == 2 and "mixed_precision='fp16' needs a GPU" in err, err[-2000:]
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_an_unknown_precision_is_refused_by_the_command_line(capsys):
    code, _, err = cli(capsys, "teacher", "--mixed-precision", "fp8")
    assert code == 2 and "invalid choice: 'fp8'" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_ner_teacher_finetunes_on_the_gpu(tmp_path, tiny_teacher, conll_small, precision):
    """By default the fine-tune and the teacher loaded from it run on the GPU, in the precision asked for."""
    from xarchkd.teachers.finetune import ner_teacher
    from xarchkd.teachers.teacher import Teacher
    out = ner_teacher(str(tiny_teacher), str(conll_small), out=str(tmp_path / "t"), epochs=1, batch_size=16,
                      mixed_precision=precision, progress=False)
    info = json.loads((out / "xarchkd_teacher.json").read_text())
    assert info["build"]["device"] == "cuda" and info["build"]["precision"] == precision
    assert 0.0 <= info["valid_f1"] <= 1.0 and info["epochs"][0]["steps"] > 0
    t = Teacher.load(str(out), "ner", mixed_precision=precision)
    assert t.device.type == "cuda" and t.build_info()["precision"] == precision


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mlm_teacher_finetunes_on_the_gpu_in_bf16(tmp_path, tokenizer, conll_small):
    """The MLM teacher's fine-tune honours mixed precision too (it was always fp32)."""
    from test_mlm import _tiny_encoder
    from xarchkd.teachers.finetune import mlm_teacher
    out = mlm_teacher(str(_tiny_encoder(tmp_path / "enc", tokenizer)), text=str(conll_small), out=str(tmp_path / "t"),
                      epochs=1, lr=3e-3, batch_size=16, max_length=48, progress=False, mixed_precision="bf16")
    record = json.loads((out / "xarchkd_teacher.json").read_text())
    assert record["build"]["device"] == "cuda" and record["build"]["precision"] == "bf16"
    assert 0.0 <= record["top1"] <= record["top5"] <= 1.0
