"""Issue 29.10: ``--resume`` on a damaged ``checkpoints/last`` (a truncated optimizer.bin or model.safetensors,
a corrupt trainer_state.json) was a RuntimeError / SafetensorError / JSONDecodeError. Now a CheckpointError
names the damaged file, and offers the run's previous checkpoint when it is intact."""
import shutil

import pytest

import xarchkd
from students import CheckpointError

from conftest import tiny


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_teacher, conll_small):
    """A two-epoch tiny run: checkpoints/last after epoch 2, checkpoints/previous after epoch 1."""
    base = tmp_path_factory.mktemp("ckpt")
    o = tiny(base, tiny_teacher, conll_small, **{"train.epochs": 2, "data.train_limit": 40, "data.eval_limit": 20})
    xarchkd.run("bert-cnn-ner", progress=False, **o)
    return base, o


def damage(folder, name, how):
    f = folder / name
    if how == "truncate":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    else:
        f.write_text('{"epoch": 2, "st')


@pytest.mark.parametrize("name, how, says", [
    ("optimizer.bin", "truncate", "optimizer.bin is truncated"),
    ("model.safetensors", "truncate", "model.safetensors is truncated"),
    ("trainer_state.json", "corrupt", "trainer_state.json is corrupt"),
])
def test_a_damaged_last_checkpoint_is_named_and_the_previous_one_offered(tmp_path, finished, name, how, says):
    base, o = finished
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    last, prev = run / "checkpoints" / "last", run / "checkpoints" / "previous"
    damage(last, name, how)
    with pytest.raises(CheckpointError) as e:
        xarchkd.run("bert-cnn-ner", resume=True, progress=False, **{**o, "out": str(run)})
    msg = str(e.value)
    assert f"--resume: {last / name} " in msg and says in msg and "\n" not in msg
    assert (prev / "trainer_state.json").is_file() and f"previous checkpoint (after epoch 1) is intact" in msg and str(prev) in msg
    shutil.rmtree(prev)              # without it, nothing is offered
    with pytest.raises(CheckpointError) as e:
        xarchkd.run("bert-cnn-ner", resume=True, progress=False, **{**o, "out": str(run)})
    assert says in str(e.value) and "previous" not in str(e.value)
