"""Several teachers (``teacher.also``): each reads the same words with its own tokenizer, each is cached apart,
and the student learns from the mean of their logits."""
import json

import numpy as np
import pytest

import xarchkd
from xarchkd.config import RunConfig, apply_overrides
from xarchkd.data.ner_data import load_splits
from xarchkd.data.ner_data import encode_sentences
from xarchkd.errors import ConfigError
from xarchkd.teachers.cache import ner_cache
from xarchkd.teachers.ensemble import mean_cache, row_words, rows_for

from conftest import LABELS, make_tiny_teacher, tiny


@pytest.fixture(scope="module")
def other_tokenizer(conll_small):
    """A second, different WordPiece tokenizer (cased, 300 pieces learnt from the data), as a second teacher has."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator([" ".join(w) for w in load_splits(str(conll_small))["train"]["words"]],
                            trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


@pytest.fixture(scope="module")
def second_teacher(tmp_path_factory, other_tokenizer):
    return make_tiny_teacher(tmp_path_factory.mktemp("teacher2"), other_tokenizer, seed=1)


def test_another_tokenizer_reads_the_same_words_row_for_row(conll_small, tokenizer, other_tokenizer):
    split = load_splits(str(conll_small))["train"]
    words, tags = list(split["words"][:40]), list(split["tags"][:40])
    rows = encode_sentences(words, tags, tokenizer, LABELS, max_length=12)     # long sentences split into rows
    assert len(rows) > 40
    other = rows_for(rows, other_tokenizer)
    assert np.array_equal(other.word_counts(), rows.word_counts())
    assert sum(row_words(rows), []) == sum(words, [])
    assert any(len(a) != len(b) for a, b in zip(other.input_ids, rows.input_ids))   # other sub-words, same words


def test_the_mean_cache_averages_two_teachers_logits_over_the_same_words(tmp_path, conll_small, tokenizer,
                                                                        tiny_teacher, second_teacher,
                                                                        other_tokenizer):
    split = load_splits(str(conll_small))["train"]
    rows = encode_sentences(list(split["words"][:30]), list(split["tags"][:30]), tokenizer, LABELS)
    a = ner_cache(str(tiny_teacher), rows, tmp_path, progress=False)
    b = ner_cache(str(second_teacher), rows_for(rows, other_tokenizer), tmp_path, progress=False)
    m = mean_cache([a, b], ["one", "two"])
    want = (np.asarray(a.arrays["logits"], np.float32) + np.asarray(b.arrays["logits"], np.float32)) / 2
    np.testing.assert_allclose(np.asarray(m.arrays["logits"], np.float32), want, atol=2e-3)
    assert not np.allclose(np.asarray(a.arrays["logits"], np.float32), np.asarray(b.arrays["logits"], np.float32))
    assert [t["name"] for t in m.manifest["teachers"]] == ["one", "two"]
    fewer = ner_cache(str(second_teacher), rows_for(encode_sentences(list(split["words"][:29]), None, tokenizer,
                                                                     LABELS), other_tokenizer), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="other rows"):
        mean_cache([a, fewer], ["one", "two"])


def test_a_run_with_two_teachers_trains_on_their_mean_and_records_both(tmp_path, tiny_teacher, second_teacher,
                                                                        conll_small):
    res = xarchkd.run("bert-cnn-ner", progress=False, **tiny(tmp_path, tiny_teacher, conll_small,
                                                            **{"teacher.also": [str(second_teacher)],
                                                               "data.train_limit": 40, "data.eval_limit": 20,
                                                               "data.max_length": 24}))
    assert [t["path"] for t in res["teachers_also"]] == [str(second_teacher)]
    caches = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("ner-") and p.is_dir()]
    assert len(caches) == 4             # train and its swap copy, for each teacher
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["teacher"]["also"] == [str(second_teacher)]


def test_several_teachers_refuse_hidden_state_matching_and_blank_names():
    with pytest.raises(ConfigError, match="loss.hidden=1.0 matches one teacher"):
        apply_overrides(RunConfig(), {"teacher.also": ["mpnet-base"], "loss.hidden": 1.0})
    with pytest.raises(ConfigError, match="teacher.also=.*list of teacher names"):
        apply_overrides(RunConfig(), ['teacher.also=[""]'])


def test_teachers_used_as_they_are_must_be_ner_models_with_the_same_labels(tmp_path, tiny_teacher, minilm_dir,
                                                                           tokenizer, conll_small):
    """Refused before any work (no run folder written): an encoder without a NER head in ``teacher.also``
    (it would be read with a random head), and a second teacher with its labels in another order."""
    from conftest import LABELS
    from xarchkd.preflight import check_run
    base = tiny(tmp_path, tiny_teacher, conll_small)
    cfg = apply_overrides(RunConfig(recipe="bert-cnn-ner"), {**base, "teacher.also": [str(minilm_dir)]})
    with pytest.raises(ConfigError, match="is not a token-classification model.*xarchkd teacher --encoder"):
        check_run(cfg, "ner")
    shuffled = make_tiny_teacher(tmp_path / "t2", tokenizer, labels=LABELS[::-1])
    cfg = apply_overrides(RunConfig(recipe="bert-cnn-ner"), {**base, "teacher.also": [str(shuffled)]})
    with pytest.raises(ConfigError, match="the same, in the same order"):
        check_run(cfg, "ner")
    assert not (tmp_path / "run").exists()
