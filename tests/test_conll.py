"""The CoNLL reader and word -> sub-word alignment, on real files and a real WordPiece tokenizer."""
import pytest
from hypothesis import given, settings, strategies as st

from xarchkd.data.ner_data import label_list, read_conll
from xarchkd.data.ner_data import encode_sentences, join_sentences
from xarchkd.errors import DataError, XarchkdError

from conftest import LABELS


def write(tmp_path, text, name="f.txt", mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_reads_real_conll_counts(conll_small):
    ds = read_conll(conll_small / "train.txt")
    assert len(ds) == 300
    assert ds[0]["words"][:3] == ["EU", "rejects", "German"]
    assert ds[0]["tags"][:3] == ["B-ORG", "O", "B-MISC"]


def test_full_conll_official_counts():
    from xarchkd.data.ner_data import load_splits
    s = load_splits("conll2003")
    assert {k: len(v) for k, v in s.items()} == {"train": 14041, "valid": 3250, "test": 3453}
    assert sum(len(w) for w in s["train"]["words"]) == 203621
    assert label_list(s["train"]["tags"]) == LABELS


def test_tabs_docstart_and_crlf(tmp_path):
    p = write(tmp_path, "-DOCSTART- -X- O O\r\n\r\nJohn\tNNP\tB-PER\r\nlives\tVBZ\tO\r\n\r\n")
    ds = read_conll(p)
    assert ds["words"] == [["John", "lives"]] and ds["tags"] == [["B-PER", "O"]] and ds["line"] == [3]


@pytest.mark.parametrize("text,needle,line", [
    ("John NNP B-PER\nlives O\n", "expected 3 columns", 2),
    ("John NNP B-PER\nlives VBZ X-FOO\n", "'X-FOO' is not a NER tag (expected O, B-TYPE or I-TYPE", 2),
    ("John NNP O\nSmith NNP I-PER\n", "I- without B-", 2),
    ("John\n", "at least 2 columns", 1),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, needle, line):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as e:
        read_conll(p)
    assert needle in str(e.value) and f"{p}:{line}:" in str(e.value)


def test_empty_file_and_non_utf8(tmp_path):
    with pytest.raises(DataError, match="no sentences"):
        read_conll(write(tmp_path, "-DOCSTART- -X- O O\n\n"))
    with pytest.raises(DataError, match=r"f.txt:2: not valid UTF-8"):
        read_conll(write(tmp_path, b"John NNP B-PER\nM\xfcller NNP I-PER\n"))


def test_iob1_is_converted(tmp_path):
    ds = read_conll(write(tmp_path, "John NNP I-PER\nSmith NNP I-PER\nand CC O\nBonn NNP I-LOC\n"), scheme="IOB1")
    assert ds["tags"] == [["B-PER", "I-PER", "O", "B-LOC"]]


def test_alignment_first_subword_with_real_wordpiece(tokenizer):
    words = [["Wolfgang", "Schüssel", "visited", "Kraków", "."]]
    rows = encode_sentences(words, [["B-PER", "I-PER", "O", "B-LOC", "O"]], tokenizer, LABELS, 128)
    ids, pos = rows.input_ids[0].tolist(), rows.word_pos[0].tolist()
    toks = tokenizer.convert_ids_to_tokens(ids)
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    assert len(pos) == 5
    # each word position starts a word (no '##'), and the pieces between positions are that word's continuation
    for p in pos:
        assert not toks[p].startswith("##")
    assert all(t.startswith("##") for t in toks[pos[1] + 1:pos[2]])
    assert [LABELS[i] for i in rows.labels[0]] == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert len(toks) > 7  # at least one word was split into several pieces


def test_word_shapes_follow_each_words_sub_words(tokenizer):
    """Every sub-word carries its word's shape (the case the uncased tokenizer drops); [CLS]/[SEP] are 0,
    also in the pieces of a split sentence."""
    from xarchkd_runtime.shapes import ALL_CAPS, CAPITALISED, DIGITS, LOWER, MIXED, OTHER, word_shape
    assert [word_shape(w) for w in ["paris", "Paris", "McDonald", "A", "NATO", "U.S.", "iPhone", "1996", "3-1",
                                    ",", "Kraków"]] == \
        [LOWER, CAPITALISED, CAPITALISED, CAPITALISED, ALL_CAPS, ALL_CAPS, MIXED, DIGITS, DIGITS, OTHER, CAPITALISED]
    words = ["Wolfgang", "SCHÜSSEL", "visited", "Kraków", "in", "1996", "."]
    rows = encode_sentences([words], None, tokenizer, LABELS, 128)
    ids, pos, shp = rows.input_ids[0], rows.word_pos[0], rows.shapes[0]
    assert len(shp) == len(ids) and shp[0] == 0 and shp[-1] == 0
    ends = list(pos[1:]) + [len(ids) - 1]
    for w, start, end in zip(words, pos, ends):
        assert (shp[start:end] == word_shape(w)).all()            # the word's first and continuation pieces
    assert ends[1] - pos[1] > 1           # SCHÜSSEL is split, so continuation pieces were checked too
    masked = encode_sentences([["Paris", tokenizer.mask_token]], None, tokenizer, LABELS, 128)
    assert masked.shapes[0].tolist() == [0, CAPITALISED, 0, 0]   # a masked word's shape is unknown, not ALL CAPS
    short = encode_sentences([words * 6], None, tokenizer, LABELS, max_length=16)
    assert len(short) > 1 and all(s[0] == 0 and s[-1] == 0 and len(s) == len(i)
                                  for s, i in zip(short.shapes, short.input_ids))


def test_long_sentences_are_split_not_dropped(tokenizer):
    words = [["word"] * 50 + ["Mannheim"] * 30]
    tags = [["O"] * 50 + ["B-LOC"] * 30]
    rows = encode_sentences(words, tags, tokenizer, LABELS, max_length=16)
    assert len(rows) > 1 and all(len(x) <= 16 for x in rows.input_ids)
    assert set(rows.sent_id.tolist()) == {0}
    joined = join_sentences(rows.sent_id, [[LABELS[i] for i in l] for l in rows.labels])
    assert joined == tags  # every word kept, in order


def test_unknown_tag_vs_teacher_labels(tokenizer):
    with pytest.raises(DataError, match="not one of the teacher's labels"):
        encode_sentences([["x"]], [["B-GPE"]], tokenizer, LABELS, 128)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.lists(st.sampled_from(list("ab IOB-X\t\n\r\xe9") + ["PER", "-DOCSTART-", "B-", "I-"]),
                                         max_size=80).map("".join))
def test_reader_fuzz_parses_or_raises_own_error(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("fuzz") / "f.txt"
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    try:
        ds = read_conll(p)
    except XarchkdError:
        return
    assert len(ds) >= 1 and all(len(w) == len(t) for w, t in zip(ds["words"], ds["tags"]))
