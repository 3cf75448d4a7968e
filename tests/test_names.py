"""The names gazetteer: its file format, the swaps that draw from it, and the checks before a run."""
import pytest

from xarchkd.config import RunConfig, apply_overrides
from xarchkd.data.names import read_names
from xarchkd.data.transfer import AugmentConfig, augment_sentences
from xarchkd_runtime.spans import entity_spans
from xarchkd.errors import ConfigError, DataError

from conftest import tiny

WORDS = [["John", "Smith", "visited", "Paris", "with", "Acme", "staff", "."]]
TAGS = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O", "O"]]
SWAPS = dict(p_mask=0.0, p_replace=0.0, p_swap=1.0, p_ngram=0.0)


@pytest.fixture
def names_file(tmp_path):
    f = tmp_path / "names.tsv"
    f.write_text("# a comment\nPER\tZbigniew Wodecki\nPER\tKowalczyk\nLOC\tSzczebrzeszyn\n\n", encoding="utf-8")
    return f


def test_read_names(names_file):
    assert read_names(names_file) == {"PER": [("Zbigniew", "Wodecki"), ("Kowalczyk",)], "LOC": [("Szczebrzeszyn",)]}
    assert read_names(names_file.parent) == read_names(names_file)      # a folder holding names.tsv


@pytest.mark.parametrize("text, where", [("PER Zbigniew\n", ":1"), ("LOC\t\n", ":1"), ("PER\tA\n\tB\n", ":2"),
                                         ("# only a comment\n", "names.tsv")])
def test_a_bad_names_file_is_named_with_its_line(tmp_path, text, where):
    f = tmp_path / "names.tsv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_names(f)
    assert where in str(e.value)


def test_swaps_draw_from_the_gazetteer_and_keep_the_type(names_file):
    cfg = AugmentConfig(**SWAPS, names=str(names_file), p_names=1.0)
    out = augment_sentences(WORDS, TAGS, 20, seed=0, aug_cfg=cfg, with_tags=True)
    gazetteer = {n for ns in read_names(names_file).values() for n in ns}
    for ws, ts in out:
        spans = {(typ, tuple(ws[s:e])) for s, e, typ in entity_spans(ts)}
        per = {n for typ, n in spans if typ == "PER"}
        loc = {n for typ, n in spans if typ == "LOC"}
        assert per <= {("Zbigniew", "Wodecki"), ("Kowalczyk",)} and loc == {("Szczebrzeszyn",)}
        assert {n for typ, n in spans if typ == "ORG"} == {("Acme",)}   # no ORG names: the training span
        assert all(n in gazetteer for typ, n in spans if typ != "ORG")
    assert {tuple(ws[:2]) for ws, _ in out} >= {("Zbigniew", "Wodecki")}


def test_without_names_the_swaps_are_as_before(names_file):
    """A gazetteer of other types draws no extra random number, so existing transfer sets (and their caches) stay."""
    plain = augment_sentences(WORDS * 3, TAGS * 3, 30, seed=4, aug_cfg=AugmentConfig(**{**SWAPS, "p_swap": 0.5}))
    other = names_file.parent / "misc.tsv"
    other.write_text("MISC\tEsperanto\n", encoding="utf-8")
    cfg = AugmentConfig(**{**SWAPS, "p_swap": 0.5}, names=str(other), p_names=1.0)
    assert augment_sentences(WORDS * 3, TAGS * 3, 30, seed=4, aug_cfg=cfg) == plain


def test_names_and_p_names_go_together():
    with pytest.raises(ConfigError, match="work together"):
        apply_overrides(RunConfig(), {"data.augment.names": "names"})
    with pytest.raises(ConfigError, match="work together"):
        apply_overrides(RunConfig(), {"data.augment.p_names": 0.5})
    with pytest.raises(ConfigError, match="p_names"):
        apply_overrides(RunConfig(), {"data.augment.names": "names", "data.augment.p_names": 1.5})


def test_a_missing_names_file_stops_a_run_before_any_work(tmp_path, tiny_teacher, conll_small):
    import xarchkd
    missing = tmp_path / "nowhere.tsv"
    with pytest.raises(DataError, match="nowhere.tsv"):
        xarchkd.run("bert-cnn-ner", **tiny(tmp_path, tiny_teacher, conll_small, **{
            "data.augment.names": str(missing), "data.augment.p_names": 0.5}))
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_the_names_resource_holds_real_people_and_places():
    from xarchkd.data.resources import fetch
    table = read_names(fetch("names"))
    assert set(table) == {"PER", "LOC"}
    assert len(table["PER"]) > 50_000 and len(table["LOC"]) > 25_000
    assert {("Paris",), ("Germany",), ("New", "York", "City")} <= set(table["LOC"])
    assert sum(len(n) == 1 for n in table["PER"]) > 10_000 and sum(len(n) == 2 for n in table["PER"]) > 40_000
