"""Issue 14, damaged files: a cache manifest of the wrong shape is rebuilt, damaged student and teacher weights
are refused by checksum. Real tiny teachers, real CoNLL-2003 rows; no mocks."""
import json

import pytest

from xarchkd.cache import ner_cache, open_cache
from xarchkd.conll import read_conll
from xarchkd.errors import CacheError
from xarchkd.ner_data import encode_sentences

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
