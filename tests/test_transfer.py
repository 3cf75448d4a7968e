"""Transfer data: deterministic augmentations, same-tag replacements, type-keeping span swaps,
aligned gold-less rows, text and CoNLL sources and reST cleaning."""
import random

import numpy as np
import pytest

from xarchkd.config import RunConfig, apply_overrides, config_problems
from xarchkd.data.ner_data import read_conll
from xarchkd.data.ner_data import NO_LABEL, encode_sentences
from xarchkd.data.text import rst_to_text, split_sentences, words
from xarchkd.errors import ConfigError
from xarchkd.data.transfer import (AugmentConfig, Source, augment_sentences, conll_sentences, mlm_replacer,
                                   parse_transfer, same_tag_table, text_sentences, transfer_parts, transfer_sources,
                                   transfer_words)
from xarchkd_runtime.spans import entity_spans

from conftest import LABELS

ONLY = dict(p_mask=0.0, p_replace=0.0, p_swap=0.0, p_ngram=0.0)

# A handmade set where each sentence's source is known from its length.
TOY_WORDS = [["John", "Smith", "visited", "Paris", "."],
             ["Mary", "flew", "to", "New", "York", "with", "Acme", "Corp", "staff", "today"],
             ["Reuters", "reported", "it"]]
TOY_TAGS = [["B-PER", "I-PER", "O", "B-LOC", "O"],
            ["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-ORG", "I-ORG", "O", "O"],
            ["B-ORG", "O", "O"]]


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
    originals = {tuple(s) for s in ws}
    assert sum(tuple(s) in originals for s in a) <= 2      # nearly all are new sentences


def test_replacements_come_from_the_same_tag(train):
    ws, ts = train
    table = {t: set(w) for t, w in same_tag_table(ws, ts).items()}
    out = augment_sentences(TOY_WORDS, TOY_TAGS, 30, seed=7, aug_cfg=AugmentConfig(**{**ONLY, "p_replace": 1.0}),
                            replacer=_table_replacer(ws, ts))
    changed = 0
    for s in out:
        src_tags = next(t for t in TOY_TAGS if len(t) == len(s))
        assert all(w in table[t] for w, t in zip(s, src_tags))   # each word carried that tag in CoNLL
        changed += sum(w not in sum(TOY_WORDS, []) for w in s)
    assert changed > 100                                          # and the words really were replaced
    # the default table is the training sentences' own: every word keeps its position's tag
    own = {t: set(w) for t, w in same_tag_table(TOY_WORDS, TOY_TAGS).items()}
    for s in augment_sentences(TOY_WORDS, TOY_TAGS, 30, seed=3, aug_cfg=AugmentConfig(**{**ONLY, "p_replace": 1.0})):
        src_tags = next(t for t in TOY_TAGS if len(t) == len(s))
        assert all(w in own[t] for w, t in zip(s, src_tags))


def _table_replacer(ws, ts):
    table = same_tag_table(ws, ts)
    return lambda words_, i, tag, rng: rng.choice(table[tag])


def test_entity_swaps_keep_the_type():
    spans = {"PER": {("John", "Smith"), ("Mary",)}, "LOC": {("Paris",), ("New", "York")},
             "ORG": {("Reuters",), ("Acme", "Corp")}}
    out = augment_sentences(TOY_WORDS, TOY_TAGS, 60, seed=3, aug_cfg=AugmentConfig(**{**ONLY, "p_swap": 1.0}))
    seen_swaps = 0
    for s in out:
        text = " ".join(s)
        src = next(w for w in TOY_WORDS if " ".join(x for x in w if x[0].islower() or x == ".")
                   == " ".join(x for x in s if x[0].islower() or x == "."))
        # rebuild the sentence's entity slots: each must hold a whole span of the source slot's type
        rest, i = list(s), 0
        for st, en, typ in entity_spans(TOY_TAGS[TOY_WORDS.index(src)]):
            before = [x for x in src[i:st]]
            assert rest[:len(before)] == before
            rest = rest[len(before):]
            match = [sp for sp in spans[typ] if tuple(rest[:len(sp)]) == sp]
            assert match, f"{text!r}: no {typ} span where {src[st:en]} was"
            seen_swaps += tuple(src[st:en]) not in match
            rest = rest[len(max(match, key=len)):]
            i = en
        assert rest == src[i:]
    assert seen_swaps > 10


def test_masking_and_ngram_windows():
    out = augment_sentences(TOY_WORDS, TOY_TAGS, 10, seed=0, aug_cfg=AugmentConfig(**{**ONLY, "p_mask": 1.0}),
                            mask_token="[MASK]")
    assert all(set(s) == {"[MASK]"} for s in out)
    out = augment_sentences(TOY_WORDS, TOY_TAGS, 40, seed=0, aug_cfg=AugmentConfig(**{**ONLY, "p_ngram": 1.0}))
    for s in out:
        assert 1 <= len(s) <= 5
        assert any(src[k:k + len(s)] == s for src in TOY_WORDS for k in range(len(src)))


def test_transfer_parts_are_aligned_and_have_no_gold(tokenizer, train):
    ws, ts = train
    cfg = RunConfig()
    cfg.data.transfer, cfg.data.transfer_factor, cfg.data.max_length = "augment", 0.5, 64
    (rows,) = transfer_parts(cfg, tokenizer, LABELS, ws, ts, progress=False)
    aug = transfer_words("augment", 0.5, ws, ts, seed=cfg.train.seed, mask_token=tokenizer.mask_token)
    assert len(aug) == round(0.5 * len(ws)) and rows.sent_id.max() == len(aug) - 1
    assert all((l == NO_LABEL).all() for l in rows.labels)
    assert rows.n_words == sum(len(s) for s in aug)
    # the same words with labels -> the same sub-word ids and word positions the teacher uses
    ref = encode_sentences(aug, [["O"] * len(s) for s in aug], tokenizer, LABELS, 64)
    assert len(rows) == len(ref)
    for a, b, p, q in zip(rows.input_ids, ref.input_ids, rows.word_pos, ref.word_pos):
        assert np.array_equal(a, b) and np.array_equal(p, q)
    split_words = 0
    for ids, pos in zip(rows.input_ids, rows.word_pos):
        toks = tokenizer.convert_ids_to_tokens(ids.tolist())
        assert all(not toks[p].startswith("##") for p in pos)
        split_words += sum(t.startswith("##") for t in toks)
    assert split_words > 0                       # multi-piece words were present, so the check meant something
    assert any(tokenizer.mask_token_id in ids for ids in rows.input_ids)   # masked words became [MASK]


RST = """\
:mod:`json` --- JSON encoder
============================

.. module:: json
   :synopsis: Encode and decode the JSON format.

The :func:`open` function returns a *file object*.  See ``mode`` and :pep:`8`
for details [#f1]_.  Read `the spec <https://json.org>`_ first.

.. function:: dump(obj, fp, *, skipkeys=False, \\
                   indent=None)

   Serialize *obj* to :class:`~io.TextIOBase` streams.

.. code-block:: python

   x = open('f')

.. note::

   Notes are kept as prose here.

Example::

    y = compute()

>>> print(1 + 1)
2

=====  =====
Left   Right
=====  =====
cell1  cell2
=====  =====

+------+------+
| grid | cell |
+------+------+

.. _a-target:

* It is simple to use.
* Lists become lines.
"""


def test_rst_to_text_strips_markup():
    text = rst_to_text(RST)
    lines = text.splitlines()
    assert "The open function returns a file object. See mode and PEP 8 for details. Read the spec first." in lines
    assert "Serialize obj to TextIOBase streams." in lines                 # a function body is prose
    assert "Notes are kept as prose here." in lines
    assert "It is simple to use." in lines and "Lists become lines." in lines
    for junk in ("json encoder", "====", "synopsis", "dump(", "skipkeys", "x = open", "compute", ">>>", "cell",
                 "Left", "grid", "a-target", ":func:", "``", "`", "*", "https", "Example", "print"):
        assert junk not in text, junk


def test_words_and_sentences():
    assert words('The U.S. said, "fine".') == ["The", "U.S.", "said", ",", '"', "fine", '"', "."]
    assert words("Don't use Python's os.path; 1,000 rows.") == \
        ["Do", "n't", "use", "Python", "'s", "os.path", ";", "1,000", "rows", "."]
    assert split_sentences("One two three. Four five six! Seven e.g. Eight nine. Mr. Smith left.") == \
        ["One two three.", "Four five six!", "Seven e.g. Eight nine.", "Mr. Smith left."]


def test_text_source(tmp_path, tokenizer, train):
    ws, ts = train
    f = tmp_path / "t.txt"
    f.write_text("".join(f"Sentence number {i} talks about Paris and Berlin. Short. " for i in range(200)) + "\n")
    got = text_sentences(f, 30, seed=0)
    assert got == text_sentences(f, 30, seed=0) != text_sentences(f, 30, seed=1)
    assert len(got) == 30 and all(3 <= len(s) <= 60 for s in got)    # "Short." (2 words) is never taken
    assert ["Sentence", "number", "7", "talks", "about", "Paris", "and", "Berlin", "."] in \
        text_sentences(f, 1000, seed=0)
    cfg = RunConfig()
    cfg.data.transfer, cfg.data.transfer_factor = f"text:{f}", 20 / len(ws)
    (rows,) = transfer_parts(cfg, tokenizer, LABELS, ws, ts, progress=False)
    assert len(rows) == 20 and all((l == NO_LABEL).all() for l in rows.labels)
    cfg.data.transfer = str(f)                                        # a bare path works too
    assert all(np.array_equal(a, b) for a, b in
               zip(transfer_parts(cfg, tokenizer, LABELS, ws, ts, progress=False)[0].input_ids, rows.input_ids))


def test_conll_source_reads_words_only(tokenizer, train, conll_small, capsys):
    """data.transfer=conll:PATH: the file's sentences, words exactly as written, rows without gold; the
    factor counts labelled sentences and is capped at what the file has (with a line saying so)."""
    ws, ts = train
    labelled, path = ws[:100], conll_small / "train.txt"           # 100 labelled, the file has 300
    cfg = apply_overrides(RunConfig(), [f"data.transfer=conll:{path}", "data.transfer_factor=1.5"])
    (rows,) = transfer_parts(cfg, tokenizer, LABELS, labelled, ts[:100], progress=False)
    got = transfer_words(cfg.data.transfer, 1.5, labelled, ts[:100], seed=cfg.train.seed)
    assert len(got) == 150 and rows.sent_id.max() == 149 and rows.n_words == sum(map(len, got))
    assert all((l == NO_LABEL).all() for l in rows.labels)
    in_file = {tuple(s) for s in ws}
    assert all(tuple(s) in in_file for s in got) and len({tuple(s) for s in got}) > 140
    assert not any(w in LABELS and w != "O" for s in got for w in s)      # no tag column leaked into the words
    assert got != transfer_words(cfg.data.transfer, 1.5, labelled, ts[:100], seed=1)   # a seeded choice
    capsys.readouterr()
    every = transfer_words(cfg.data.transfer, 4.0, labelled, ts[:100])
    assert sorted(every) == sorted(ws) and "has 300 sentences; using all of them instead of 400" in \
        capsys.readouterr().err
    assert conll_sentences(path, 5, seed=0) == conll_sentences(path, 5, seed=0)
    with pytest.raises(ConfigError, match="no such file"):
        transfer_words(f"conll:{conll_small / 'nope.txt'}", 1.0, *train)
    with pytest.raises(ConfigError, match="is a CoNLL file, not plain text: use a conll source"):
        transfer_words(str(path), 1.0, *train)                         # a bare CoNLL path is not read as text


def test_unknown_transfer_source(train):
    with pytest.raises(ConfigError, match="did you mean 'augment'"):
        transfer_words("augmnet", 1.0, *train)
    with pytest.raises(ConfigError, match="did you mean 'pydoc-text'"):
        transfer_words("pydoc_txt", 1.0, *train)
    with pytest.raises(ConfigError, match="no such file"):
        transfer_words("data/missing.txt", 1.0, *train)
    with pytest.raises(ConfigError, match="no transfer sentences"):
        transfer_words("augment", 0.0001, *train)


def test_mlm_replacer_hook():
    from xarchkd.data.resources import fetch
    rep = mlm_replacer(str(fetch("splade-tiny")), top_k=3)
    ws = "The company said on Monday that profits rose .".split()
    got = [rep(ws, i, "O", random.Random(0)) for i in range(len(ws))]
    assert all(g is None or (g and not g.startswith("##") and g != w) for g, w in zip(got, ws))
    out = augment_sentences([ws], [["O"] * len(ws)], 3, seed=0, aug_cfg=AugmentConfig(**{**ONLY, "p_replace": 1.0}),
                            replacer=rep)
    assert all(len(s) == len(ws) for s in out) and any(s != ws for s in out)


def test_augment_mlm_option_replaces_words_by_the_masked_lm(train):
    """data.augment.mlm makes a transfer set's replacements come from that masked LM, not same-tag words."""
    from xarchkd.data.resources import fetch
    ws, ts = train
    only = {**ONLY, "p_replace": 0.5}
    by_mlm = transfer_words("augment", 0.02, ws, ts, seed=1, aug_cfg=AugmentConfig(**only, mlm="splade-tiny"))
    assert by_mlm == augment_sentences(ws, ts, len(by_mlm), seed=1, aug_cfg=AugmentConfig(**only),
                                       replacer=mlm_replacer(str(fetch("splade-tiny"))))
    assert by_mlm != transfer_words("augment", 0.02, ws, ts, seed=1, aug_cfg=AugmentConfig(**only))


def test_implied_tags_follow_the_augmented_words(train):
    """with_tags gives the same sentences as without, each with one tag per word that keeps swapped
    spans typed and replaced words on their source tag."""
    ws, ts = train
    plain = augment_sentences(ws, ts, 200, seed=7)
    pairs = augment_sentences(ws, ts, 200, seed=7, with_tags=True)
    assert [w for w, _ in pairs] == plain
    assert all(len(w) == len(t) for w, t in pairs)
    table = same_tag_table(ws, ts)
    replaced = 0
    for (w, t) in pairs:
        for word, tag in zip(w, t):
            if word != "[MASK]":
                assert word in table[tag] or tag.startswith(("B-", "I-"))   # O words come from O words
                replaced += 1
    assert replaced > 1000


def test_run_config_sets_the_augmentation(tokenizer, train):
    """data.augment reaches the augmenter: with swaps only, no [MASK] appears and only entity words change."""
    ws, ts = train
    cfg = apply_overrides(RunConfig(), ["data.transfer=augment", "data.transfer_factor=0.5", "data.augment.p_mask=0",
                                        "data.augment.p_replace=0", "data.augment.p_ngram=0",
                                        "data.augment.p_swap=1"])
    (rows,) = transfer_parts(cfg, tokenizer, LABELS, ws, ts, progress=False)
    assert not any(tokenizer.mask_token_id in ids for ids in rows.input_ids)
    (default,) = transfer_parts(apply_overrides(cfg, ["data.augment.p_mask=0.1"]), tokenizer, LABELS, ws, ts,
                                progress=False)
    assert any(tokenizer.mask_token_id in ids for ids in default.input_ids)


def test_augmented_copies_are_seeded_apart_so_a_larger_factor_keeps_the_smaller_ones(tokenizer, train):
    ws, ts = train
    cfg = apply_overrides(RunConfig(), ["data.transfer=augment", "data.transfer_factor=1"])
    one = transfer_parts(cfg, tokenizer, LABELS, ws, ts, progress=False)
    more = transfer_parts(apply_overrides(cfg, ["data.transfer_factor=2.5"]), tokenizer, LABELS, ws, ts, progress=False)
    assert [p.sent_id.max() + 1 for p in more] == [len(ws), len(ws), round(0.5 * len(ws))]
    assert all(np.array_equal(a, b) for a, b in zip(one[0].input_ids, more[0].input_ids))    # copy 0 is kept
    assert any(not np.array_equal(a, b) for a, b in zip(more[0].input_ids, more[1].input_ids))  # copy 1 is new


def test_joined_sources_give_each_sources_parts_and_keep_their_rows(tmp_path, tokenizer, train):
    """data.transfer="augment+text:F*2": the augment copy exactly as augment alone makes it (so its teacher cache is
    reused), then twice the factor's share of the text's sentences; a bad part is a ConfigError naming it."""
    ws, ts = train
    f = tmp_path / "news.txt"
    f.write_text("".join(f"Acme Corp number {i} bought a plant in Ohio. " for i in range(1000)) + "\n")
    assert transfer_sources(f"augment+text:{f}*2") == [("augment", 1.0), (f"text:{f}", 2.0)]
    cfg = apply_overrides(RunConfig(), [f"data.transfer=augment+text:{f}*2", "data.transfer_factor=0.5"])
    assert not config_problems(cfg)
    aug, text = transfer_parts(cfg, tokenizer, LABELS, ws, ts, progress=False)
    (alone,) = transfer_parts(apply_overrides(cfg, ["data.transfer=augment"]), tokenizer, LABELS, ws, ts,
                              progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(aug.input_ids, alone.input_ids)) and len(aug) == len(alone)
    assert text.sent_id.max() + 1 == round(0.5 * 2 * len(ws)) and all((l == NO_LABEL).all() for l in text.labels)
    # a text source comes in parts of the labelled set's size: a larger factor keeps the smaller one's parts
    cfg.data.transfer = [Source("text", str(f))]                   # the typed form a TOML list gives
    assert parse_transfer(f"text:{f}") == cfg.data.transfer
    (one,) = transfer_parts(apply_overrides(cfg, ["data.transfer_factor=1"]), tokenizer, LABELS, ws, ts, progress=False)
    two = transfer_parts(apply_overrides(cfg, ["data.transfer_factor=2.5"]), tokenizer, LABELS, ws, ts, progress=False)
    assert [p.sent_id.max() + 1 for p in two] == [len(ws), len(ws), round(0.5 * len(ws))]
    assert all(np.array_equal(a, b) for a, b in zip(one.input_ids, two[0].input_ids)) and len(one) == len(two[0])
    for bad in ("augment+", "augment+pydoc-text*0", "*2"):
        with pytest.raises(ConfigError, match="not a source"):
            transfer_sources(bad)
        with pytest.raises(ConfigError, match="not a source"):
            apply_overrides(cfg, [f"data.transfer={bad}"])
    for bad, why in (([{"kind": "text"}], "needs a path"), ([{"kind": "augment", "path": "x"}], "takes no path"),
                     ([{"kind": "txt", "path": "x"}], "kind 'txt' is not one of.*did you mean 'text'"),
                     ([{"kind": "text", "path": "x", "weight": 0}], "a weight is a number > 0"),
                     (["augment"], "not a source")):
        with pytest.raises(ConfigError, match=why):
            apply_overrides(cfg, {"data.transfer": bad})


def test_a_run_refuses_a_missing_joined_source_before_any_teacher_work(tmp_path, tiny_teacher, conll_small):
    import xarchkd
    from conftest import tiny
    o = tiny(tmp_path, tiny_teacher, conll_small, **{"data.transfer": f"augment+text:{tmp_path / 'news.txt'}*2",
                                                     "data.transfer_factor": 1.0})
    with pytest.raises(ConfigError, match=r"data.transfer: 'text:.*news.txt': no such file"):
        xarchkd.run("bert-cnn-ner", **o)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


STORY = ("Acme Corp said it agreed to buy the Ohio plant of\nBeta Industries Inc for 12 mln dlrs.\n"
         "    The company said the deal, which needs approval by\nshareholders, should close in June. REUTER\n\x03")
TABLE = "Shr 30 cts vs 25 cts\n    Net 1,200,000 vs 980,000\n    Revs 12.5 mln vs 11.1 mln\n REUTER\n\x03"


def test_newswire_sentences_keep_the_prose_of_a_story(tmp_path):
    """Reuters-21578 bodies: wrapped lines joined, paragraphs split into sentences, tables and the sign-off
    dropped; the resource's tarball is read into one sentence per line, each once."""
    import io, json, tarfile
    from xarchkd.data.resources import reuters_corpus
    from xarchkd.data.text import newswire_sentences
    assert newswire_sentences(STORY) == [
        "Acme Corp said it agreed to buy the Ohio plant of Beta Industries Inc for 12 mln dlrs.",
        "The company said the deal, which needs approval by shareholders, should close in June."]
    assert newswire_sentences(TABLE) == []
    tgz = tmp_path / "r.tgz"
    with tarfile.open(tgz, "w:gz") as t:
        for name, stories in [("package/data/full/reuters-001.json", [{"body": TABLE}, {"body": STORY}]),
                              ("package/data/full/reuters-000.json", [{"title": "no body"}, {"body": STORY}]),
                              ("package/data/noIDs/reuters-000.json", [{"body": "Not read at all, says Smith."}])]:
            data = json.dumps(stories).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert reuters_corpus(tgz, "package/data/full/", tmp_path / "corpus.txt") == 2
    assert (tmp_path / "corpus.txt").read_text().splitlines() == newswire_sentences(STORY)
    assert text_sentences(tmp_path, 5, seed=0)[0][:3] in (["Acme", "Corp", "said"], ["The", "company", "said"])


def test_joined_sources_refuse_repeats_and_keep_paths_whole(tmp_path):
    """A source named twice would repeat the same seeded sentences (weight it instead); a path that exists is one
    source even with + or * in its name; a typo or a missing file is refused by name before any work."""
    from xarchkd.data.transfer import check_source
    with pytest.raises(ConfigError, match=r"names 'augment' twice .*augment\*2"):
        transfer_sources("augment+augment")
    odd = tmp_path / "c++ notes*2.txt"
    odd.write_text("Acme Corp bought a plant in Ohio.\n")
    assert transfer_sources(f"text:{odd}") == [(f"text:{odd}", 1.0)]
    assert transfer_sources(f"augment+text:{tmp_path / 'x.txt'}*0.5") == [("augment", 1.0),
                                                                           (f"text:{tmp_path / 'x.txt'}", 0.5)]
    check_source(*parse_transfer(f"text:{odd}"))
    check_source(Source("augment"))
    with pytest.raises(ConfigError, match="unknown data.transfer source 'reuters'.*did you mean 'reuters-21578'"):
        parse_transfer("reuters")
    with pytest.raises(ConfigError, match="unknown data.transfer source 'reuters'.*did you mean 'reuters-21578'"):
        check_source(Source("text", "reuters"))
    with pytest.raises(ConfigError, match="'conll:nope/train.txt': no such file"):
        check_source(*parse_transfer("conll:nope/train.txt"))
    with pytest.raises(ConfigError, match="^data.transfer: 'corpus:nope.txt': no such file or folder$"):
        check_source(Source("corpus", "nope.txt"))                   # the field named, not just the path
