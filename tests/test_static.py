"""The frozen teacher-view table (``student.static_dim``): every teacher id keeps its own row whatever the
pruning, the table never trains, a run builds it from the teacher once (a cache) and saves it with the student."""
import pytest
import torch

from students import StudentConfig, StudentError, StudentModel

from conftest import tiny

LABELS = ["O", "B-X", "I-X"]


def tiny_lstm(tmp_path, tiny_teacher, data, **extra):
    """``conftest.tiny``'s one-epoch run as a BiLSTM with a 6-column table, on 20 train / 10 eval sentences."""
    return tiny(tmp_path, tiny_teacher, data, **{"student.block": "lstm", "student.static_dim": 6,
                                                 "data.train_limit": 20, "data.eval_limit": 10, **extra})


def static_student(vocab=10, dim=4):
    cfg = StudentConfig(block="lstm", vocab_size=vocab, kept_vocab=2, embed_dim=8, hidden=8, layers=1, static_dim=dim,
                        num_labels=3, labels=LABELS)
    torch.manual_seed(0)
    m = StudentModel(cfg).eval()
    m.set_vocab(torch.ones(vocab, dtype=torch.long))       # pruned: every id reads the same embedding row
    m.set_static(torch.randn(vocab, dim))
    return m


def test_ids_that_share_a_pruned_row_differ_by_their_static_rows_once_the_projection_learns():
    m = static_student()
    a, b = torch.tensor([[3, 4]]), torch.tensor([[5, 6]])
    mask = torch.ones_like(a)
    assert torch.equal(m(a, mask).logits, m(b, mask).logits)     # fresh: the projection is zero
    torch.nn.init.normal_(m.static_proj.weight)
    assert not torch.allclose(m(a, mask).logits, m(b, mask).logits)


def test_the_table_is_frozen_counted_and_saved(tmp_path):
    m = static_student()
    assert not m.static.weight.requires_grad and m.static_proj.weight.requires_grad
    plain = StudentModel(StudentConfig(block="lstm", vocab_size=10, kept_vocab=2, embed_dim=8, hidden=8, layers=1,
                                       num_labels=3, labels=LABELS))
    assert m.num_parameters() == plain.num_parameters() + 10 * 4 + 4 * 8
    torch.nn.init.normal_(m.static_proj.weight)
    m.save_pretrained(tmp_path)
    back = StudentModel.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 2, 3, 9]])
    assert torch.equal(back.static.weight, m.static.weight) and not back.static.weight.requires_grad
    assert torch.equal(back(ids, torch.ones_like(ids)).logits, m(ids, torch.ones_like(ids)).logits)


def test_set_static_refuses_a_student_without_the_table_a_wrong_shape_and_nan():
    plain = StudentModel(StudentConfig(block="lstm", vocab_size=10, embed_dim=8, hidden=8, layers=1))
    with pytest.raises(StudentError, match="static_dim=0"):
        plain.set_static(torch.zeros(10, 4))
    with pytest.raises(StudentError, match="shape"):
        static_student().set_static(torch.zeros(9, 4))
    with pytest.raises(StudentError, match="non-finite"):
        static_student().set_static(torch.full((10, 4), float("nan")))
    with pytest.raises(StudentError, match="static_dim must be"):
        StudentModel(StudentConfig(block="lstm", vocab_size=10, static_dim=-1))


def test_a_ner_run_builds_the_table_from_the_teacher_and_trains_only_its_projection(tmp_path, tiny_teacher,
                                                                                   conll_small):
    from transformers import AutoTokenizer

    import xarchkd
    from xarchkd.teachers.cache import ner_cache
    from xarchkd.teachers.cache import static_table, vocab_rows
    from xarchkd.teachers.teacher import Teacher
    res = xarchkd.run("bert-lstm-ner", progress=False, **tiny_lstm(tmp_path, tiny_teacher, conll_small))
    student = StudentModel.from_pretrained(res["student_dir"])
    tok = AutoTokenizer.from_pretrained(res["student_dir"])
    assert student.static.weight.shape == (len(tok), 6)
    assert student.cfg.kept_vocab < len(tok)                  # the embedding table was pruned, the static one not
    assert student.static_proj.weight.abs().sum() > 0         # the projection trained
    # the table is the teacher's last hidden state of each id alone ([CLS] id [SEP]), reduced by PCA; the second
    # build is a cache hit (no teacher work), and the cached states are a direct forward pass's
    teacher = Teacher.load(str(tiny_teacher), device="cpu")
    table = static_table(teacher, tok, teacher.labels, 6, tmp_path / "cache", progress=False)
    cache = ner_cache(teacher, vocab_rows(tok, teacher.labels), tmp_path / "cache", hidden=True, progress=False)
    assert teacher.forward_count == 0
    assert torch.allclose(table, student.static.weight)
    ids = torch.tensor([[tok.cls_token_id, 7, tok.sep_token_id], [tok.cls_token_id, 8, tok.sep_token_id]])
    _, hs = teacher.outputs(ids, torch.ones_like(ids), hidden=True)
    cached = torch.from_numpy(cache.arrays["hidden"][[7, 8]].astype("float32"))
    assert torch.allclose(cached, hs[:, 1], atol=1e-2) and not torch.allclose(hs[0, 1], hs[1, 1])


def test_the_input_embedding_control_table_needs_no_teacher_pass_and_is_refused_without_a_table(tmp_path, tiny_teacher,
                                                                                                  conll_small):
    """static_source=input: the table is the PCA of the teacher's input embeddings; no vocabulary cache is built."""
    import xarchkd
    from xarchkd.config import RunConfig, apply_overrides
    from xarchkd.errors import ConfigError
    from xarchkd.teachers.teacher import input_embeddings, pca_embeddings
    res = xarchkd.run("bert-lstm-ner", progress=False, **tiny_lstm(tmp_path, tiny_teacher, conll_small, **{
        "student.static_source": "input", "data.transfer_factor": 0}))
    student = StudentModel.from_pretrained(res["student_dir"])
    assert torch.allclose(student.static.weight, pca_embeddings(input_embeddings(str(tiny_teacher)), 6))
    caches = [p for p in (tmp_path / "cache").glob("ner-*") if p.is_dir()]
    assert len(caches) == 1 and not student.static.weight.requires_grad      # the train split's cache only
    with pytest.raises(ConfigError, match="static_dim=0"):
        apply_overrides(RunConfig(), {"student.static_source": "input"})
    with pytest.raises(ConfigError, match="static_source"):
        apply_overrides(RunConfig(), {"student.static_source": "glove", "student.static_dim": 8})


def test_the_nokd_twins_read_the_input_embedding_table_and_the_distilling_recipes_the_teachers_view():
    from xarchkd.config import config_problems
    from xarchkd.recipe import get_recipe
    for block in ("lstm", "sru"):
        kd, twin = get_recipe(f"bert-{block}-ner").config, get_recipe(f"bert-{block}-ner-nokd").config
        assert kd.student.static_dim == twin.student.static_dim > 0
        assert (kd.student.static_source, twin.student.static_source) == ("hidden", "input")
        assert not config_problems(kd) and not config_problems(twin)
    for name in ("bert-cnn-ner-nokd", "bert-srupp-ner-nokd"):      # no table: the twin's config stays valid
        cfg = get_recipe(name).config
        assert cfg.student.static_dim == 0 and not config_problems(cfg)
