"""One prediction path, one loader, one span decoder (issue 14's structure half): a teacher's tags through
``predict.predict_tags`` are its own argmax; fill-mask is one function for ``xarchkd fill`` and the web demo;
students load the same way everywhere. Real tiny models (the tiny BERT teacher, splade-tiny)."""
import pytest
import torch

from students import StudentConfig, StudentModel
from xarchkd.data.ner_data import encode_sentences
from xarchkd_runtime.spans import entity_spans
from xarchkd.distill.predict import fill_mask, student_fill_logits, teacher_fill_logits
from xarchkd.errors import ConfigError
from xarchkd.load import load_model, load_student, load_teacher

from conftest import LABELS

WORDS = [["Peter", "Blackburn", "reported", "from", "Brussels", "."], ["EU", "rejects", "German", "call"]]


def test_entity_spans_read_iob1_and_iob2_as_conlleval_does():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [(0, 2, "PER"), (3, 4, "LOC")]
    assert entity_spans(["O", "I-PER", "I-PER", "I-LOC"]) == [(1, 3, "PER"), (3, 4, "LOC")]   # stray I- starts one
    assert entity_spans(["B-PER", "B-PER", "O"]) == [(0, 1, "PER"), (1, 2, "PER")]
    assert entity_spans([]) == []


def test_teacher_tags_are_the_argmax_of_its_own_logits(tiny_teacher, tokenizer):
    """``Teacher.predict_tags`` goes through the shared loop; its tags equal the HF model's argmax at each
    word's first sub-word, computed here without any xarchkd code."""
    from transformers import AutoModelForTokenClassification
    t = load_teacher(str(tiny_teacher), "ner", device="cpu")
    rows = encode_sentences(WORDS, None, tokenizer, LABELS, 64)
    got = t.predict_tags(rows, batch_size=1, progress=False)
    hf = AutoModelForTokenClassification.from_pretrained(str(tiny_teacher)).eval()
    for i, words in enumerate(WORDS):
        enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            logits = hf(**enc).logits[0]
        first = [enc.word_ids().index(w) for w in range(len(words))]
        assert got[i] == [LABELS[k] for k in logits[first].argmax(-1).tolist()]
    kind, model, tok = load_model(str(tiny_teacher))
    assert kind == "teacher" and model.predict_tags(rows, progress=False) == got


def test_a_student_without_a_tokenizer_takes_its_teachers_or_says_what_to_pass(tmp_path, tiny_teacher, tokenizer):
    cfg = StudentConfig(block="cnn", vocab_size=len(tokenizer), embed_dim=8, hidden=8, layers=1, num_labels=9,
                        labels=LABELS, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id)
    StudentModel(cfg).save_pretrained(tmp_path / "s")
    with pytest.raises(ConfigError, match="student without a tokenizer: copy the tokenizer files"):
        load_model(str(tmp_path / "s"))
    kind, model, tok = load_model(str(tmp_path / "s"), str(tiny_teacher))
    assert kind == "student" and len(tok) == len(tokenizer) and not model.training
    with pytest.raises(ConfigError, match="the teacher's has 10 ids"):
        load_student(str(tmp_path / "s"), tokenizer=type("T", (), {"__len__": lambda self: 10})())


def test_fill_mask_is_one_function_for_the_cli_and_the_web_demo(tmp_path, tokenizer, capsys):
    """splade-tiny's top fill is its own argmax at the mask; an MLM student answers in the teacher's ids;
    ``xarchkd fill`` prints the same fills, and the demo's ``fill`` returns them (or the error, without a mask)."""
    from transformers import AutoModelForMaskedLM
    from xarchkd.cli import main
    from xarchkd.data.resources import fetch
    from xarchkd.tools.serve import Demo
    splade = str(fetch("splade-tiny"))
    torch.manual_seed(0)
    s = StudentModel(StudentConfig(block="cnn", task="mlm", vocab_size=len(tokenizer), embed_dim=16, hidden=16,
                                   layers=1, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id))
    s.save_pretrained(tmp_path / "mlm")
    t = load_teacher(splade, "mlm", device="cpu")
    text = f"The capital of France is {t.tokenizer.mask_token} ."
    res = fill_mask(text, t.tokenizer, {"teacher": teacher_fill_logits(t), "student": student_fill_logits(s)}, k=3)
    enc = t.tokenizer(text, return_tensors="pt")
    where = int((enc["input_ids"][0] == t.tokenizer.mask_token_id).nonzero()[0, 0])
    with torch.no_grad():
        best = AutoModelForMaskedLM.from_pretrained(splade).eval()(**enc).logits[0, where].argmax()
    assert res["teacher"]["fills"][0][0]["token"] == t.tokenizer.convert_ids_to_tokens([int(best)])[0]
    assert all(len(r["fills"]) == 1 and len(r["fills"][0]) == 3 and r["ms"] > 0 for r in res.values())
    assert main(["fill", text, "--teacher", splade, "--student", str(tmp_path / "mlm"), "-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("teacher (") and out[1].split()[0] == res["teacher"]["fills"][0][0]["token"]
    assert out[2].startswith("student (") and len(out) == 4
    demo = Demo(splade, str(tmp_path / "mlm"))
    assert demo.task == "mlm" and demo.fill(text)["teacher"]["fills"][0][:3] == res["teacher"]["fills"][0]
    assert demo.fill("no mask here") == {"error": f"put {t.tokenizer.mask_token} in the text"}
    assert main(["fill", "no mask here", "--teacher", splade]) == 2
