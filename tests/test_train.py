"""Student training end to end on tiny real inputs: results, no teacher during training, kill + resume."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from conftest import accelerate_launch, cli

import xarchkd
from xarchkd.distill.accel import make_accelerator
from xarchkd.errors import ConfigError


def tiny_overrides(tmp_path, tiny_teacher, conll_small, out, block="cnn", **extra):
    o = {"out": str(tmp_path / out), "cache_dir": str(tmp_path / "cache"), "teacher.name": str(tiny_teacher),
         "teacher.finetune": False, "data.name": str(conll_small), "student.block": block,
         "student.embed_dim": 16, "student.hidden": 16, "student.layers": 1, "train.epochs": 2,
         "train.batch_size": 16, "train.log_every": 5, "train.min_steps": 0,
         "data.transfer": "augment"}      # the BiLSTM recipe's newswire (a 21 MB fetch) is not what these test
    o.update(extra)
    return o


def test_recipe_runs_end_to_end_and_writes_results(tmp_path, tiny_teacher, conll_small):
    res = xarchkd.run("bert-cnn-ner", progress=False, **tiny_overrides(tmp_path, tiny_teacher, conll_small, "run"))
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(res))
    for k in ("recipe", "task", "teacher", "student", "train_seconds"):
        assert k in on_disk
    for k in ("name", "params", "size_mb", "f1"):
        assert k in on_disk["teacher"]
    for k in ("arch", "params", "size_mb", "f1", "per_type"):
        assert k in on_disk["student"]
    assert on_disk["student"]["arch"] == "cnn" and 0.0 <= on_disk["student"]["f1"] <= 1.0
    assert on_disk["teacher"]["params"] > on_disk["student"]["params"] > 0
    assert len(on_disk["history"]) == 2
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any('"mse"' in l for l in lines) and any('"ce"' in l for l in lines)
    assert (tmp_path / "run" / "config.toml").is_file()
    events = list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0      # loss components, lr and scores for TensorBoard
    # the student folder is self-contained: config, weights and tokenizer
    from students import StudentModel
    m = StudentModel.from_pretrained(tmp_path / "run" / "student", block="cnn")
    assert m.num_parameters() == on_disk["student"]["params"]
    from transformers import AutoTokenizer
    assert len(AutoTokenizer.from_pretrained(str(tmp_path / "run" / "student"))) == m.cfg.vocab_size


def test_no_teacher_is_used_during_student_training(tmp_path, tiny_teacher, conll_small, monkeypatch):
    """Once the cache exists, a second run trains the student with every HF model load made to fail."""
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "first", **{"train.epochs": 1})
    xarchkd.run("bert-cnn-ner", progress=False, **o)
    from transformers import PreTrainedModel

    def no_teacher(*a, **k):
        raise AssertionError("a teacher model was loaded during student training")
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(no_teacher))
    o["out"] = str(tmp_path / "second")
    res = xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert res["kd"] is True and res["teacher"]["params"] > 0  # teacher facts came from the cache manifest
    with pytest.raises(AssertionError, match="teacher model was loaded"):  # the tripwire is live
        from xarchkd.teachers.teacher import Teacher
        Teacher.load(str(tiny_teacher), "ner")


def test_nokd_twin_has_no_teacher_terms(tmp_path, tiny_teacher, conll_small):
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "nokd", **{"train.epochs": 1})
    res = xarchkd.run("bert-cnn-ner-nokd", progress=False, **o)
    assert res["kd"] is False
    lines = [json.loads(l) for l in (tmp_path / "nokd" / "metrics.jsonl").read_text().splitlines()]
    steps = [l for l in lines if "step" in l and "eval" not in l]
    assert steps and all("mse" not in l and "ce" in l for l in steps)
    xarchkd.run("bert-cnn-ner-nokd", progress=False, **o)       # a fresh run into the same folder starts a new log
    again = [json.loads(l) for l in (tmp_path / "nokd" / "metrics.jsonl").read_text().splitlines()]
    assert len(again) == len(lines) and sum("eval" in l for l in again) == 1


# The resume test compares weights, not scores: 60 train sentences (240 rows with the recipe's three swap copies) and
# 30 valid/test ones train three epochs as well as 300 do, in a fifth of the time.
FEW_ROWS = {"data.train_limit": 60, "data.eval_limit": 30}

SHARED_LSTM_RUN = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    import xarchkd, xarchkd.tasks.ner as ner, xarchkd.distill.train as tr

    def one_buffer(model):
        # What cuDNN's flatten_parameters does on a GPU: every LSTM weight a view into one flat buffer.
        for rnn in [m for m in model.modules() if isinstance(m, torch.nn.LSTM)]:
            flat = torch.empty(sum(p.numel() for p in rnn._flat_weights))
            off = 0
            for p in rnn._flat_weights:
                flat[off:off + p.numel()].copy_(p.detach().reshape(-1))
                p.data = flat[off:off + p.numel()].view_as(p)
                off += p.numel()
            assert len({p.untyped_storage().data_ptr() for p in rnn.parameters()}) == 1
        return model

    real_train, real_save, kill_at = tr.train_student, tr._save_checkpoint, int(sys.argv[2])
    ner.train_student = lambda model, *a, **k: real_train(one_buffer(model), *a, **k)

    def save_then_die(acc, ckpt, state):
        real_save(acc, ckpt, state)
        if state["epoch"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    tr._save_checkpoint = save_then_die
    o = json.loads(sys.argv[1])
    if sys.argv[3] == "1":           # resumed as a user does, through the command line
        from xarchkd.cli import main
        sys.exit(main(["run", "bert-lstm-ner", "--resume", "--quiet"] + [f"--set={k}={v}" for k, v in o.items()]))
    xarchkd.run("bert-lstm-ner", progress=False, **o)
""")


def test_killed_training_resumes_to_the_same_weights(tmp_path, tiny_teacher, conll_small):
    """A run killed (SIGKILL) after its epoch-2 checkpoint and resumed with `xarchkd run --resume` ends with the
    weights of an unbroken run (dropout on: the random state is restored too). On a GPU cuDNN puts all of
    nn.LSTM's weights in one buffer, and a checkpoint must still hold every one of them; the CPU does not share
    storage by itself, so the runs here re-point the LSTM's weights into one buffer as cuDNN does."""
    script = tmp_path / "shared.py"
    script.write_text(SHARED_LSTM_RUN)
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "straight", block="lstm",
                       **{"train.epochs": 3, "student.dropout": 0.3, **FEW_ROWS})

    def run(out, kill_at, resume):
        return subprocess.run([sys.executable, str(script), json.dumps({**o, "out": str(tmp_path / out)}),
                               str(kill_at), str(int(resume))], capture_output=True, text=True, timeout=600)
    p = run("straight", 0, False)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Removed shared tensor" not in p.stderr
    p = run("killed", 2, False)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    state = json.loads((tmp_path / "killed" / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 2
    p = run("killed", 0, True)
    assert p.returncode == 0, p.stderr[-2000:]
    from students import StudentModel
    names = set(StudentModel.from_pretrained(tmp_path / "straight" / "student").state_dict())
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "checkpoints" / "last" / "model.safetensors"))
    rnn = {k for k in names if k.startswith("encoder.rnn.")}
    assert len(rnn) == 8 and rnn <= set(a) and set(a) == set(b) == names    # every weight saved
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    lines = [json.loads(l) for l in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [l["eval"]["epoch"] for l in lines if "eval" in l] == [1, 2, 3]    # the resumed log continues once
    hist = json.loads((tmp_path / "killed" / "results.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, tiny_teacher, conll_small):
    from students import CheckpointError
    with pytest.raises(CheckpointError, match="nothing to resume"):
        xarchkd.run("bert-cnn-ner", resume=True, progress=False,
                    **tiny_overrides(tmp_path, tiny_teacher, conll_small, "none"))


def test_mixed_precision_on_cpu_is_refused():
    with pytest.raises(ConfigError, match="needs a GPU"):
        make_accelerator("bf16", cpu=True)
    with pytest.raises(ConfigError, match="use one of"):
        make_accelerator("fp8", cpu=True)


def test_two_process_launch_shards_batches_and_reports_once(tmp_path, tiny_teacher, conll_small):
    """Under `accelerate launch` (2 processes) each rank takes half the batches of an epoch, and only
    the main process scores and writes the results."""
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "ddp", block="lstm", **{"train.epochs": 2})
    p = accelerate_launch(["-m", "xarchkd.cli", "run", "bert-lstm-ner", "--quiet"]
                          + [f"--set={k}={v}" for k, v in o.items()], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("results: ") == 1                     # one report, from the main process
    res = json.loads((tmp_path / "ddp" / "results.json").read_text())
    batches = -(-res["train_rows"] // 16)                       # 300 rows at batch 16: 19 batches
    assert [h["step"] for h in res["history"]] == [-(-batches // 2), 2 * -(-batches // 2)]
    state = json.loads((tmp_path / "ddp" / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == 2
    lines = [json.loads(l) for l in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [l["eval"]["epoch"] for l in lines if "eval" in l] == [1, 2]      # one writer: one eval line per epoch
    steps = [l["step"] for l in lines if "eval" not in l]
    assert steps == sorted(set(steps)) and steps                              # each logged step once


def test_two_process_teacher_finetune_writes_one_teacher(tmp_path, tiny_teacher, conll_small):
    """The NER teacher fine-tune under 2 processes: ranks share the epoch's batches, one folder appears,
    and the learning-rate schedule spans the whole run (Accelerate steps a prepared scheduler once per
    process at each optimizer step; sized per rank, it reached zero halfway)."""
    out = tmp_path / "teacher"
    p = accelerate_launch(["-m", "xarchkd.cli", "teacher", "--encoder", str(tiny_teacher), "--data", str(conll_small),
                           "--epochs", "2", "--batch-size", "16", "--min-steps", "0", "--out", str(out)], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads((out / "xarchkd_teacher.json").read_text())
    assert [e["epoch"] for e in info["epochs"]] == [1, 2] and 0.0 <= info["valid_f1"] <= 1.0
    assert p.stdout.count("teacher epoch 1:") == 1              # scored once, by the main process
    assert not out.with_name(out.name + ".partial").exists()
    assert info["build"]["processes"] == 2 and info["build"]["precision"] == "no"
    first, last = info["epochs"]
    assert first["steps"] == last["steps"] == 19 // 2           # 300 rows at batch 16: 19 batches, 9 per rank
    peak = 1e-4
    assert 0.4 * peak < first["lr_last"] < 0.7 * peak            # halfway through: about half the peak
    assert 0 < last["lr_last"] < 0.1 * peak                      # the last step: about zero


def test_two_runs_fine_tuning_the_same_teacher_train_it_once(tmp_path, tiny_teacher, conll_small):
    """Two independent processes asking for the same teacher at once: one fine-tunes, the other waits
    on the lock and reuses the result (without the lock both would train into the same folder)."""
    out = tmp_path / "teacher"
    cmd = [sys.executable, "-m", "xarchkd.cli", "teacher", "--encoder", str(tiny_teacher), "--data",
           str(conll_small), "--epochs", "1", "--batch-size", "16", "--min-steps", "0", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert sum(o.count("teacher epoch 1:") for o, _ in outs) == 1
    assert all(o.strip().endswith(str(out)) for o, _ in outs)
    info = json.loads((out / "xarchkd_teacher.json").read_text())
    assert [e["epoch"] for e in info["epochs"]] == [1]


def test_transfer_run_caches_the_extra_rows_and_reports_them(tmp_path, tiny_teacher, conll_small):
    """A recipe with augmented transfer data: the extra rows get their own teacher cache (reported with
    size and build time), and a second run reuses both caches."""
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "aug", **{"train.epochs": 1, "data.transfer": "augment",
                                                                     "data.transfer_factor": 0.5})
    res = xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert res["transfer"] == {"sources": [{"kind": "augment", "path": "", "weight": 1.0}], "factor": 0.5, "rows": 150}
    assert res["train_rows"] == 300 + 150
    labelled, extra = res["caches"]
    assert (labelled["rows"], extra["rows"]) == (300, 150) and extra["mb"] > 0 and extra["build_seconds"] > 0
    o["out"] = str(tmp_path / "again")
    again = xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert again["caches"] == res["caches"]                 # same folders, same recorded builds: reused


def test_init_from_matches_embedding_rows_by_teacher_token(tmp_path, tokenizer):
    """Two-stage init: rows are copied by teacher token id through both token maps (unpruned MLM student
    -> pruned NER student with word shapes, and back), the encoder is copied, the head is not; another
    size is refused."""
    from students import CheckpointError, StudentConfig, StudentModel
    from xarchkd.tasks.ner import init_student_from
    from conftest import LABELS
    V, unk = len(tokenizer), tokenizer.unk_token_id
    common = dict(block="lstm", vocab_size=V, embed_dim=16, hidden=32, layers=1, pad_id=tokenizer.pad_token_id,
                  unk_id=unk)
    torch.manual_seed(0)
    src = StudentModel(StudentConfig(task="mlm", **common))
    src.save_pretrained(tmp_path / "mlm")
    kept = [unk, tokenizer.pad_token_id, tokenizer.cls_token_id, 2003, 5000, 7592]
    token_map = torch.zeros(V, dtype=torch.long)
    token_map[torch.tensor(kept)] = torch.arange(len(kept))
    dst = StudentModel(StudentConfig(task="ner", kept_vocab=len(kept), num_labels=9, labels=LABELS, word_shapes=True,
                                     **common))
    dst.set_vocab(token_map)
    head = dst.head.weight.clone()
    init_student_from(dst, str(tmp_path / "mlm"))
    for row, tid in enumerate(kept):
        torch.testing.assert_close(dst.embed.weight[row], src.embed.weight[tid])
    for k, v in src.state_dict().items():
        if k.startswith("encoder."):
            torch.testing.assert_close(dst.state_dict()[k], v)
    assert torch.equal(dst.head.weight, head)
    # the other way: a pruned source gives ids it never kept its [UNK] row
    dst.save_pretrained(tmp_path / "pruned")
    full = StudentModel(StudentConfig(task="ner", num_labels=9, labels=LABELS, **common))
    init_student_from(full, str(tmp_path / "pruned"))
    torch.testing.assert_close(full.embed.weight[5000], dst.embed.weight[4])
    torch.testing.assert_close(full.embed.weight[1996], dst.embed.weight[0])     # not kept -> UNK row
    wider = StudentModel(StudentConfig(task="ner", num_labels=9, labels=LABELS, **{**common, "hidden": 64}))
    with pytest.raises(CheckpointError, match="encoder weights differ"):
        init_student_from(wider, str(tmp_path / "mlm"))


def test_shape_student_end_to_end_scores_the_same_through_eval(tmp_path, tiny_teacher, conll_small, capsys):
    """student.word_shapes through a recipe: trained with the word shapes, saved, and scored again by
    `xarchkd eval` (which must feed the same shapes) to the same F1 as the run's results.json."""
    from xarchkd.cli import main
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "shape", block="lstm",
                       **{"student.word_shapes": True, "train.epochs": 8, "train.lr": 1e-2, "student.hidden": 32,
                          "student.embed_dim": 32})
    res = xarchkd.run("bert-lstm-ner-nokd", progress=False, **o)
    from students import StudentModel
    assert StudentModel.from_pretrained(tmp_path / "shape" / "student").cfg.word_shapes is True
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "shape" / "student"), "--data", str(conll_small), "--split", "test"]) == 0
    assert res["student"]["f1"] > 0                         # it tags entities, so equal scores mean something
    assert json.loads(capsys.readouterr().out)["f1"] == pytest.approx(res["student"]["f1"])
    assert main(["eval", str(tmp_path / "shape" / "student"), "--data", str(conll_small), "--split", "test",
                 "--decode", "crf"]) == 2
    err = capsys.readouterr().err
    assert "has no CRF scores" in err and "Traceback" not in err


def test_kl_and_hidden_matching_options_train_end_to_end(tmp_path, tiny_teacher, conll_small):
    """loss.kl and loss.hidden through a recipe: the cache stores the teacher's hidden states, the learned
    projection maps the student's states to them, and every term is logged."""
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "hid", **{"train.epochs": 1, "loss.hidden": 1.0,
                                                                     "loss.kl": 0.5})
    res = xarchkd.run("bert-cnn-ner", progress=False, **o)
    from xarchkd.teachers.cache import open_cache
    cache = open_cache(res["caches"][0]["path"])
    assert cache.arrays["hidden"].shape == (cache.manifest["n_items"], 32)   # the tiny teacher's width
    steps = [json.loads(l) for l in (tmp_path / "hid" / "metrics.jsonl").read_text().splitlines() if '"eval"' not in l]
    assert steps and all({"mse", "kl", "ce", "hidden", "total"} <= set(s) for s in steps)
    assert all(s["hidden"] > 0 and s["kl"] >= 0 for s in steps)


def test_a_crf_student_trains_its_transitions_and_decodes_with_them(tmp_path, tiny_teacher, conll_small, capsys):
    o = tiny_overrides(tmp_path, tiny_teacher, conll_small, "crf", block="lstm",
                       **{"student.decode": "crf", "loss.crf": 1.0})
    res = xarchkd.run("bert-lstm-ner", progress=False, **o)
    from students import StudentModel
    m = StudentModel.from_pretrained(tmp_path / "crf" / "student")
    assert m.cfg.decode == "crf" and m.crf.trans.abs().sum() > 0          # trained, saved and loaded back
    lines = [json.loads(l) for l in (tmp_path / "crf" / "metrics.jsonl").read_text().splitlines()]
    assert any("crf" in l for l in lines if "eval" not in l)             # the CRF term was logged
    code, out, _ = cli(capsys, "eval", tmp_path / "crf" / "student", "--split", "test", "--data", conll_small)
    assert code == 0 and abs(json.loads(out)["f1"] - res["student"]["f1"]) < 1e-9     # eval decodes as the run did
    with pytest.raises(ConfigError, match="work together"):
        xarchkd.run("bert-lstm-ner", progress=False, **{**o, "loss.crf": 0.0})
