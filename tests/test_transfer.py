"""Transfer data: deterministic augmentations, same-tag replacements, aligned gold-less rows, text sources."""
import numpy as np
import pytest

from xarchkd.conll import read_conll
from xarchkd.errors import ConfigError
from xarchkd.ner_data import NO_LABEL, encode_sentences
from xarchkd.text import rst_to_text, split_sentences, words
from xarchkd.transfer import AugmentConfig, _spans, augment_sentences, text_sentences, transfer_words

from conftest import LABELS


@pytest.fixture(scope="module")
def train(conll_small):
    ds = read_conll(conll_small / "train.txt")
    return list(ds["words"]), list(ds["tags"])


def test_augmentation_is_deterministic_under_a_seed(train):
    ws, ts = train
    a = augment_sentences(ws, ts, 50, seed=1)
    assert a == augment_sentences(ws, ts, 50, seed=1)
    assert a != augment_sentences(ws, ts, 50, seed=2)
    assert len(a) == 50 and all(len(s) >= 1 for s in a)


def test_replacements_come_from_the_same_tag(train):
    ws, ts = train
    cfg = AugmentConfig(p_mask=0.0, p_replace=1.0, p_swap=0.0, p_ngram=0.0)
    seen = {}
    for w, t in zip(ws, ts):
        for x, y in zip(w, t):
            seen.setdefault(y, set()).add(x)
    # with only replacement on, each output sentence has the length and tag pattern of some training
    # sentence, and every word is one that carried that position's tag in training
    out = augment_sentences(ws, ts, 40, seed=7, cfg=cfg)
    for s in out:
        matches = [t for w, t in zip(ws, ts) if len(t) == len(s)
                   and all(x in seen[y] for x, y in zip(s, t))]
        assert matches


def test_entity_swaps_keep_the_type(train):
    ws, ts = train
    cfg = AugmentConfig(p_mask=0.0, p_replace=0.0, p_swap=1.0, p_ngram=0.0)
    spans = {typ: set() for typ in ("PER", "ORG", "LOC", "MISC")}
    for w, t in zip(ws, ts):
        for s, e, typ in _spans(t):
            spans[typ].add(tuple(w[s:e]))
    out = augment_sentences(ws, ts, 30, seed=3, cfg=cfg)
    other_words = {x for w, t in zip(ws, ts) for x, y in zip(w, t) if y == "O"}
    for s in out:  # every word is either an O-word or part of a known entity span
        assert all(x in other_words or any(x in sp for sps in spans.values() for sp in sps) for x in s)


def test_transfer_rows_are_aligned_and_have_no_gold(tokenizer, train):
    ws, ts = train
    aug = transfer_words("augment", 0.5, ws, ts, seed=0)
    assert len(aug) == round(0.5 * len(ws))
    rows = encode_sentences(aug, None, tokenizer, LABELS, 64)
    assert all((l == NO_LABEL).all() for l in rows.labels)
    # same words -> the same sub-word ids and word positions the teacher would get for labelled rows
    fake_tags = [["O"] * len(s) for s in aug]
    ref = encode_sentences(aug, fake_tags, tokenizer, LABELS, 64)
    for a, b, p, q in zip(rows.input_ids, ref.input_ids, rows.word_pos, ref.word_pos):
        assert np.array_equal(a, b) and np.array_equal(p, q)
    toks = tokenizer.convert_ids_to_tokens(rows.input_ids[0].tolist())
    assert all(not toks[p].startswith("##") for p in rows.word_pos[0])


def test_text_source_and_rst_cleaning(tmp_path):
    rst = ("Intro\n=====\n\nThe :func:`open` function returns a *file object*.  See ``mode`` for details.\n\n"
           ".. note::\n\n   Skipped note text here.\n\nExample::\n\n    x = open('f')\n\nIt is simple to use.\n")
    text = rst_to_text(rst)
    assert "The open function returns a file object." in text and "mode" in text
    assert "Skipped" not in text and "x = open" not in text and ":func:" not in text and "=====" not in text
    assert words("The U.S. said, \"fine\".") == ["The", "U.S.", "said", ",", '"', "fine", '"', "."]
    f = tmp_path / "t.txt"
    f.write_text(text * 3)
    got = text_sentences(f, 4, seed=0)
    assert got == text_sentences(f, 4, seed=0) and all(3 <= len(s) <= 60 for s in got)
    assert len(split_sentences("One two three. Four five six! Seven e.g. eight nine.")) == 3


def test_unknown_transfer_source(train):
    with pytest.raises(ConfigError, match="did you mean 'augment'"):
        transfer_words("augmnet", 1.0, *train)
