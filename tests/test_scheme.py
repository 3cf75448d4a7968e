"""Own data as a user brings it: the tag scheme read from the files (IOB2, IOB1, BIOES), line endings, a BOM,
and tab-separated tweets whose words can be blank."""
import pytest

from xarchkd.data.ner_data import detect_scheme, load_splits, read_conll
from xarchkd.errors import DataError

IOB2 = "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n"
IOB1 = "EU I-ORG\nrejects O\nGerman I-MISC\ncall O\n\nPeter I-PER\nBlackburn I-PER\nSmith B-PER\n"
BIOES = "EU S-ORG\nrejects O\n\nPeter B-PER\nJ. I-PER\nBlackburn E-PER\n"
WANT = [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]


def folder(tmp_path, train, valid=None, test=None):
    for name, text in (("train", train), ("valid", valid or train), ("test", test or train)):
        (tmp_path / f"{name}.txt").write_text(text)
    return tmp_path


def tags(ds):
    return [list(t) for t in ds["tags"]]


def test_the_scheme_is_detected_per_folder_and_read_into_iob2(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert tags(load_splits(str(folder(tmp_path / "a", IOB2)))["train"]) == WANT
    (tmp_path / "b").mkdir()
    got = load_splits(str(folder(tmp_path / "b", IOB1)))["train"]
    assert tags(got) == [WANT[0], ["B-PER", "I-PER", "B-PER"]]
    assert "tags read as IOB1 (detected" in capsys.readouterr().out
    (tmp_path / "c").mkdir()
    assert tags(load_splits(str(folder(tmp_path / "c", BIOES)))["train"]) == [["B-ORG", "O"], ["B-PER", "I-PER", "I-PER"]]


def test_iob1_detected_in_one_file_holds_for_the_others_and_disagreeing_files_are_refused(tmp_path):
    # valid.txt alone fits every scheme (no entity starts with I-): read as the train file's IOB1
    d = folder(tmp_path, IOB1, valid="EU B-ORG\nsays O\n")
    assert tags(load_splits(str(d), need=("train", "valid"))["valid"]) == [["B-ORG", "O"]]
    (tmp_path / "x").mkdir()
    d = folder(tmp_path / "x", IOB1, valid=BIOES)
    with pytest.raises(DataError, match="different tag schemes.*IOB1.*BIOES"):
        load_splits(str(d), need=("train", "valid"))


def test_a_named_scheme_that_the_file_breaks_says_which_scheme_the_file_is(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text(BIOES)
    with pytest.raises(DataError, match=r"t.txt:1: tag 'S-ORG' is BIOES.*data.scheme=BIOES or auto"):
        read_conll(f, "IOB2")
    f.write_text(IOB1)
    with pytest.raises(DataError, match=r"t.txt:1: I-ORG does not continue.*data.scheme=IOB1 or auto"):
        read_conll(f, "IOB2")
    assert detect_scheme({f: None}) == "IOB1"


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"])
def test_cr_crlf_and_lf_line_endings_and_a_bom_read_the_same_sentences(tmp_path, ending):
    f = tmp_path / "t.txt"
    text = "-DOCSTART- O\n\n" + IOB2
    f.write_bytes(b"\xef\xbb\xbf" + text.encode().replace(b"\n", ending))
    ds = read_conll(f, "auto")
    assert [list(w) for w in ds["words"]] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert tags(ds) == WANT


def test_tab_separated_words_may_hold_spaces_and_blank_words_tagged_o_are_skipped_and_said(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("New York\tB-LOC\nMH17 \tO\n \tO\n\tO\nrocks\tO\n")
    ds = read_conll(f, "auto")
    assert [list(w) for w in ds["words"]] == [["New York", "MH17", "rocks"]]
    assert "2 token(s) with an empty word, tagged O, skipped (line 3, 4)" in capsys.readouterr().out
    f.write_text("Paris\tB-LOC\n \tI-LOC\n")
    with pytest.raises(DataError, match=r"t.txt:2: the word is empty but tagged I-LOC"):
        read_conll(f, "auto")
