"""The student's pruned vocabulary: every sub-word of the training rows, or (``max_vocab``) the most frequent."""
import numpy as np
import pytest

from xarchkd.recipe import resolve_config
from xarchkd.data.ner_data import read_conll
from xarchkd.data.ner_data import encode_sentences
from xarchkd.errors import ConfigError
from xarchkd.tasks.ner import build_vocab_map

from conftest import LABELS


@pytest.fixture(scope="module")
def rows(tokenizer, conll_small):
    train = read_conll(conll_small / "train.txt")
    return encode_sentences(list(train["words"]), list(train["tags"]), tokenizer, LABELS, 64)


def test_max_vocab_keeps_the_specials_and_the_most_frequent_sub_words(tokenizer, rows):
    specials = [tokenizer.unk_token_id, tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id]
    full_map, full = build_vocab_map([rows], len(tokenizer), specials)
    counts = rows.id_counts(len(tokenizer))
    assert set(full) == set(np.flatnonzero(counts)) | set(specials) and counts.sum() == sum(map(len, rows.input_ids))
    cap = len(full) // 2
    token_map, kept = build_vocab_map([rows, rows], len(tokenizer), specials, max_rows=cap)
    assert len(kept) == cap and kept[0] == tokenizer.unk_token_id and set(specials) <= set(kept)
    words = [i for i in kept if i not in specials]
    dropped = [i for i in full if i not in kept]
    assert min(counts[words]) >= max(counts[dropped]) > 0       # every kept sub-word as frequent as any dropped one
    assert (token_map[dropped] == 0).all() and sorted(token_map[kept].tolist()) == list(range(cap))
    assert build_vocab_map([rows], len(tokenizer), specials, max_rows=10 * len(full))[1] == full   # a loose cap: all


def test_max_vocab_is_checked_with_the_config():
    assert resolve_config("bert-lstm-ner", ["max_vocab=15800"]).max_vocab == 15800
    with pytest.raises(ConfigError, match="max_vocab=3: must be 0"):
        resolve_config("bert-lstm-ner", ["max_vocab=3"])
    with pytest.raises(ConfigError, match="max_vocab=100 caps the pruned vocabulary, but prune_vocab=false"):
        resolve_config("bert-lstm-ner", ["max_vocab=100", "prune_vocab=false"])


def test_a_run_saved_before_max_vocab_existed_resumes(tmp_path):
    """A config.json written before a field existed lacks its key: --resume reads it as the field's default."""
    import json
    from students import CheckpointError
    from xarchkd.config import to_json
    from xarchkd.preflight import check_resume
    cfg = resolve_config("bert-cnn-ner", [f"out={tmp_path}"])
    old = json.loads(to_json(cfg))
    del old["max_vocab"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    check_resume(cfg, tmp_path)                                   # no error: the old run had no cap
    with pytest.raises(CheckpointError, match="max_vocab 0 -> 100"):
        check_resume(resolve_config("bert-cnn-ner", [f"out={tmp_path}", "max_vocab=100"]), tmp_path)
