"""Spelling features (``student.char_dim``): the vocabulary's character table, and that sub-words which
share the [UNK] row of a pruned table keep apart by their letters."""
import pytest
import torch

from students import StudentConfig, StudentError, StudentModel
from students.chars import CONTINUES, MAX_CHARS, OTHER, PAD, WORD_START, token_char_ids

VOCAB = ["[PAD]", "[UNK]", "paris", "##ov", "kuz", "##net", "é", "a" * 20] + [f"w{i}" for i in range(42)]


def test_token_char_ids_marks_starts_continuations_and_pads():
    t = token_char_ids(VOCAB)
    assert t.shape == (len(VOCAB), MAX_CHARS + 1) and t.dtype == torch.int16
    assert t[2, 0] == WORD_START and t[3, 0] == CONTINUES          # "paris" starts a word, "##ov" continues one
    assert (t[3, 1:3] != PAD).all() and (t[3, 3:] == PAD).all()    # "##" is a marker, not two characters
    assert t[6, 1] == OTHER                                         # non-ASCII letters share one id
    assert (t[7, 1:] != PAD).all() and len(set(t[7, 1:].tolist())) == 1  # long tokens are cut at MAX_CHARS
    assert t[2, 1] != t[4, 1]                                       # different letters, different ids


def char_student(seed=0):
    cfg = StudentConfig(block="lstm", vocab_size=len(VOCAB), kept_vocab=3, embed_dim=16, hidden=16, layers=1,
                        char_dim=8, num_labels=3, labels=["O", "B-X", "I-X"])
    torch.manual_seed(seed)
    m = StudentModel(cfg).eval()
    m.set_token_chars(token_char_ids(VOCAB))
    token_map = torch.ones(len(VOCAB), dtype=torch.long)           # pruned: every id but [PAD] reads the UNK row
    token_map[0] = 0
    m.set_vocab(token_map)
    return m


def test_unk_mapped_subwords_differ_by_spelling_once_the_encoder_learns():
    m = char_student()
    a, b = torch.tensor([[2, 3]]), torch.tensor([[4, 5]])          # same embedding rows, different letters
    mask = torch.ones_like(a)
    assert torch.equal(m(a, mask).logits, m(b, mask).logits)       # fresh: the char output layer is zero
    torch.nn.init.normal_(m.chars.out.weight)
    assert not torch.allclose(m(a, mask).logits, m(b, mask).logits)


def test_char_student_round_trips(tmp_path):
    m = char_student()
    torch.nn.init.normal_(m.chars.out.weight)
    m.save_pretrained(tmp_path)
    back = StudentModel.from_pretrained(tmp_path)
    ids = torch.tensor([[2, 3, 4, 5, 6]])
    assert torch.equal(back.token_chars, m.token_chars)
    assert torch.equal(back(ids, torch.ones_like(ids)).logits, m(ids, torch.ones_like(ids)).logits)


def test_set_token_chars_refuses_a_student_without_chars_and_a_wrong_shape():
    plain = StudentModel(StudentConfig(block="lstm", vocab_size=len(VOCAB), embed_dim=16, hidden=16, layers=1))
    with pytest.raises(StudentError, match="char_dim=0"):
        plain.set_token_chars(token_char_ids(VOCAB))
    with pytest.raises(StudentError, match="shape"):
        char_student().set_token_chars(token_char_ids(VOCAB[:10]))


def test_a_ner_run_spells_the_teachers_vocabulary(tmp_path, tiny_teacher, conll_small):
    from transformers import AutoTokenizer

    import xarchkd
    res = xarchkd.run("bert-lstm-ner", progress=False, **{
        "out": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"), "teacher.name": str(tiny_teacher),
        "teacher.finetune": False, "data.name": str(conll_small), "data.train_limit": 20, "data.eval_limit": 10,
        "student.embed_dim": 16, "student.hidden": 16, "student.layers": 1, "student.char_dim": 8,
        "train.epochs": 1, "train.min_steps": 0, "data.transfer": "augment"})   # no 21 MB newswire fetch here
    student = StudentModel.from_pretrained(res["student_dir"])
    tok = AutoTokenizer.from_pretrained(res["student_dir"])
    assert torch.equal(student.token_chars, token_char_ids(tok.convert_ids_to_tokens(list(range(len(tok))))))
    assert student.chars.out.weight.abs().sum() > 0     # the spelling path trained
