"""Issue 14, damaged files: a cache manifest of the wrong shape is rebuilt, damaged student and teacher weights
are refused by checksum. Real tiny teachers, real CoNLL-2003 rows; no mocks."""
import json

import pytest

from xarchkd.data.ner_data import read_conll
from xarchkd.data.ner_data import encode_sentences
from xarchkd.errors import CacheError
from xarchkd.teachers.cache import ner_cache, open_cache

from conftest import LABELS


@pytest.fixture(scope="module")
def rows(conll_small, tokenizer):
    ds = read_conll(conll_small / "valid.txt")
    return encode_sentences(list(ds["words"])[:40], list(ds["tags"])[:40], tokenizer, LABELS, 64)


@pytest.mark.parametrize("manifest", [[], {}, "files", {"format": "xarchkd-cache", "version": 1},
                                      {"format": "xarchkd-cache", "version": 1, "files": []},
                                      {"format": "xarchkd-cache", "version": 1, "files": {"offsets": 3}}])
def test_manifest_of_the_wrong_shape_is_refused_and_rebuilt(tmp_path, tiny_teacher, rows, manifest, capsys):
    """Issue 14.6: valid JSON of the wrong shape (no files, a list, ...) failed every run with KeyError or
    AttributeError and was never rebuilt. Now it is a CacheError ('wrong shape' or 'not an xarchkd-cache'),
    and the next build replaces it."""
    c = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)
    good = json.loads((c.path / "manifest.json").read_text())
    if isinstance(manifest, dict) and manifest:
        manifest = {**manifest, "fingerprint": good["fingerprint"]}
    (c.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match="wrong shape|is not an xarchkd-cache"):
        open_cache(c.path, good["fingerprint"])
    again = ner_cache(str(tiny_teacher), rows, tmp_path, progress=True)
    assert "rebuilding it" in capsys.readouterr().err
    assert again.path == c.path and json.loads((c.path / "manifest.json").read_text())["files"] == good["files"]


def test_a_changed_shard_of_a_sharded_teacher_changes_the_fingerprint(tmp_path, tokenizer, rows):
    """Issue 14.11: model-0000x-of-0000y.safetensors were not hashed, so a changed shard reused a stale
    cache. Every shard (and the index) is hashed now; an unsharded folder keeps its old fingerprint."""
    from transformers import AutoModelForTokenClassification
    from xarchkd.data.fingerprint import hash_model_dir
    from conftest import make_tiny_teacher
    one = make_tiny_teacher(tmp_path / "one", tokenizer)
    model = AutoModelForTokenClassification.from_pretrained(one)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="1MB")
    tokenizer.save_pretrained(tmp_path / "sharded")
    shards = sorted((tmp_path / "sharded").glob("model-*-of-*.safetensors"))
    assert len(shards) >= 2 and not (tmp_path / "sharded" / "model.safetensors").exists()
    first = ner_cache(str(tmp_path / "sharded"), rows, tmp_path / "cache", progress=False)
    before = hash_model_dir(tmp_path / "sharded")
    with open(shards[-1], "r+b") as f:       # a changed weight in the last shard (its tensor data ends the file)
        f.seek(-64, 2)
        f.write(b"\x11" * 64)
    assert hash_model_dir(tmp_path / "sharded") != before
    second = ner_cache(str(tmp_path / "sharded"), rows, tmp_path / "cache", progress=False)
    assert second.path != first.path                # another fingerprint: a new cache, not the stale one
    import hashlib
    h = hashlib.sha256()                            # the unsharded layout hashes exactly as before
    for name in ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                 "special_tokens_map.json"):
        if (one / name).is_file():
            h.update(name.encode())
            h.update((one / name).read_bytes())
    assert hash_model_dir(one) == h.hexdigest()


def _flip_4kb(path):
    """Overwrite 4 KB in the middle of a file (same size: the file still parses)."""
    n = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(n // 2)
        old = f.read(4096)
        f.seek(n // 2)
        f.write(bytes(b ^ 0x5A for b in old))


def test_flipped_student_weight_bytes_are_refused(tmp_path, tokenizer, capsys):
    """Issue 14.4: 4 KB of flipped weight bytes loaded silently. config.json now records the weights' sha256,
    checked on every load (the CLI prints one line)."""
    import torch
    from students import CheckpointError, StudentConfig, StudentModel
    torch.manual_seed(0)
    m = StudentModel(StudentConfig(block="lstm", vocab_size=len(tokenizer), embed_dim=16, hidden=16, layers=1,
                                   num_labels=9, labels=LABELS, pad_id=tokenizer.pad_token_id,
                                   unk_id=tokenizer.unk_token_id))
    m.save_pretrained(tmp_path / "s")
    StudentModel.from_pretrained(tmp_path / "s")
    _flip_4kb(tmp_path / "s" / "model.safetensors")
    from safetensors.torch import load_file
    assert set(load_file(str(tmp_path / "s" / "model.safetensors"))) == set(m.state_dict())   # still parses
    with pytest.raises(CheckpointError, match="model.safetensors fails its sha256 checksum"):
        StudentModel.from_pretrained(tmp_path / "s")
    tokenizer.save_pretrained(tmp_path / "s")
    from xarchkd.cli import main
    assert main(["predict", str(tmp_path / "s"), "Paris"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fails its sha256 checksum" in err[0]


def test_a_damaged_teacher_fine_tuned_here_is_refused_or_trained_again(tmp_path, tiny_teacher, conll_small, capsys):
    """Issue 14.4, teachers built here: the fine-tuning record lists each file's sha256. Loading a damaged one
    is a ResourceError; asking for it again fine-tunes it again instead of reusing it."""
    from xarchkd.errors import ResourceError
    from xarchkd.teachers.finetune import ner_teacher
    from xarchkd.teachers.teacher import Teacher
    kw = dict(epochs=1, batch_size=16, out=str(tmp_path / "t"), progress=False)
    out = ner_teacher(str(tiny_teacher), str(conll_small), **kw)
    info = json.loads((out / "xarchkd_teacher.json").read_text())
    assert {"model.safetensors", "config.json", "tokenizer_config.json"} <= set(info["files"])
    Teacher.load(str(out), "ner", device="cpu")
    _flip_4kb(out / "model.safetensors")
    with pytest.raises(ResourceError, match="model.safetensors fails its sha256 checksum"):
        Teacher.load(str(out), "ner", device="cpu")
    assert ner_teacher(str(tiny_teacher), str(conll_small), **{**kw, "progress": True}) == out
    assert "fails its sha256 checksum (its bytes changed since it was saved); fine-tuning it again" in \
        capsys.readouterr().out
    Teacher.load(str(out), "ner", device="cpu")          # the new one is intact
