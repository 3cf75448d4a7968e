"""Issue 29.6: ``data.max_length`` over the encoder's positions with a teacher fine-tune (``teacher.finetune``
true, or ``xarchkd teacher --max-length``) was a RuntimeError 57 s into the fine-tune, leaving an empty
``.partial`` folder; the preflight checked it only for a teacher used as it is. Now both say it first."""
import pytest

import xarchkd
from xarchkd.cli import main
from xarchkd.errors import ConfigError

from conftest import tiny


def test_max_length_over_the_encoders_positions_is_refused_before_the_fine_tune(tmp_path, tiny_teacher,
                                                                               conll_small, monkeypatch, capsys):
    monkeypatch.setenv("XARCHKD_HOME", str(tmp_path / "home"))
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"teacher.finetune": True, "data.max_length": 256,
                                                         "teacher.epochs": 1, "teacher.min_steps": 0})
    with pytest.raises(ConfigError, match="data.max_length=256 is more than teacher .*max_position_embeddings=128"):
        xarchkd.run("bert-cnn-ner", progress=False, **o)
    assert not (tmp_path / "run").exists() and not (tmp_path / "home" / "teachers").exists()
    argv = ["teacher", "--encoder", str(tiny_teacher), "--data", str(conll_small), "--max-length", "256",
            "--epochs", "1", "--min-steps", "0", "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xarchkd: error: --max-length=256 is more than") and "\n" not in err
    assert not list(tmp_path.glob("t*"))


def test_position_limit_of_roberta_style_encoders_leaves_out_their_offset(tmp_path):
    """RoBERTa-style encoders (roberta, xlm-roberta, mpnet, camembert) start positions at padding_idx + 1:
    514 position embeddings hold 512 sub-words."""
    import json
    from xarchkd.preflight import check_teacher_folder
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mpnet", "max_position_embeddings": 514}))
    check_teacher_folder(str(tmp_path), 512)
    with pytest.raises(ConfigError, match="data.max_length=513 .* holds 512 sub-words"):
        check_teacher_folder(str(tmp_path), 513)
