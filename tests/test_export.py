"""Issue 28: `xarchkd export` and the torch-free runtime. Tiny real students of every block (random weights, the real
MiniLM tokenizer) are exported; ONNX Runtime must give the student's logits and tags at two lengths, in a padded
batch and on a sentence split into two rows; the runtime must tag text in a process where `import torch` fails;
a damaged model.onnx must be a one-line error naming the file."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from students import StudentConfig, StudentModel
from xarchkd.data.ner_data import encode_sentences, join_sentences
from xarchkd.distill.decode import bio_viterbi
from xarchkd.distill.predict import predict_student
from xarchkd.errors import ConfigError
from xarchkd_runtime import ExportError, Tagger
from xarchkd.tools.export import export_student

from conftest import LABELS

REPO = Path(__file__).resolve().parents[1]
LONG = ("The European Commission said on Thursday it disagreed with German advice to consumers to shun British "
        "lamb until scientists determine whether mad cow disease can be transmitted to sheep .").split() * 5
SENTENCES = [["Peter", "Blackburn"],                                           # two lengths ...
             "EU rejects German call to boycott British lamb in Brussels on Monday .".split(),
             LONG]                                                             # ... and one past max_length (2 rows)
VARIANTS = {"lstm": {}, "sru": {}, "srupp": {"block_args": {"proj_size": 8}}, "cnn": {},
            # the other student options the graph and the decode rule carry: a CRF, a static table
            "lstm-crf": {"decode": "crf", "static_dim": 4}}


def make_student(folder: Path, tokenizer, name: str) -> Path:
    """A 2-layer word-shape student of ``name``'s block, random weights large enough for varied tags, saved with
    its tokenizer."""
    extra = dict(VARIANTS[name])
    cfg = StudentConfig(block=name.split("-")[0], vocab_size=len(tokenizer), embed_dim=16, hidden=16, layers=2,
                        num_labels=len(LABELS), labels=LABELS, word_shapes=True, pad_id=tokenizer.pad_token_id,
                        unk_id=tokenizer.unk_token_id, decode=extra.pop("decode", "bio"), **extra)
    torch.manual_seed(0)
    m = StudentModel(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
    m.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tokenizer):
    """``{name: (student folder, export folder)}``, every export with its int8 graph."""
    root = tmp_path_factory.mktemp("export")
    out = {}
    for name in VARIANTS:
        s = make_student(root / f"{name}-student", tokenizer, name)
        export_student(str(s), str(root / f"{name}-onnx"), int8=True)
        out[name] = (s, root / f"{name}-onnx")
    return out


def torch_word_logits(model, tokenizer, sentences):
    """The student's word logits per sentence, each row run alone (no padding), rows of a sentence joined."""
    rows = encode_sentences(sentences, None, tokenizer, LABELS, 128)
    per = []
    with torch.no_grad():
        for ids, pos, shp in zip(rows.input_ids, rows.word_pos, rows.shapes):
            t = lambda a: torch.as_tensor(np.asarray(a, np.int64))[None]     # noqa: E731
            per.append(model(t(ids), torch.ones_like(t(ids)), positions=t(pos), shapes=t(shp)).logits[0].numpy())
    return [np.stack(x) for x in join_sentences(rows.sent_id, per)], rows


@pytest.mark.parametrize("name", list(VARIANTS))
def test_onnx_runtime_equals_pytorch_alone_and_in_a_padded_batch(exported, tokenizer, name):
    student, onnx_dir = exported[name]
    model = StudentModel.from_pretrained(student)          # impl "auto": what the student runs on a CPU
    ref, rows = torch_word_logits(model, tokenizer, SENTENCES)
    assert len(rows) == len(SENTENCES) + 1 and len(ref[2]) == len(LONG)
    ref_tags = join_sentences(rows.sent_id, predict_student(model, rows))
    alone = Tagger(onnx_dir, batch_size=1)
    batched = Tagger(onnx_dir, batch_size=32)                # all rows of all sentences in one padded batch
    for tagger in (alone, batched):
        got = tagger.word_logits(SENTENCES)
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
        assert tagger.tag_words(SENTENCES) == ref_tags
    for g, r in zip(batched.word_logits(SENTENCES), alone.word_logits(SENTENCES)):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    assert len({t for s in ref_tags for t in s}) >= 2       # the check is not about one tag everywhere
    # int8: a smaller graph that runs and keeps close to the fp32 logits (its F1 is benchmarks' business)
    q = Tagger(onnx_dir, int8=True)
    assert (onnx_dir / "model.int8.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size
    assert [len(t) for t in q.tag_words(SENTENCES)] == [len(s) for s in SENTENCES]
    spread = max(float(np.abs(r).max()) for r in ref)
    assert max(float(np.abs(g - r).max()) for g, r in zip(q.word_logits(SENTENCES), ref)) < 0.25 * spread


def test_sru_graph_has_a_loop_over_the_input_length(exported):
    """SRU/SRU++ recurrences are an ONNX Loop (so right at any length), the BiLSTM an LSTM op reading sequence_lens."""
    import onnx
    ops = {n: [x.op_type for x in onnx.load(str(exported[n][1] / "model.onnx")).graph.node] for n in VARIANTS}
    assert ops["sru"].count("Loop") == 2 and ops["srupp"].count("Loop") == 2      # one per layer, both directions
    lstm = [x for x in onnx.load(str(exported["lstm"][1] / "model.onnx")).graph.node if x.op_type == "LSTM"]
    assert len(lstm) == 2 and all(len(x.input) >= 5 and x.input[4] for x in lstm)


def test_numpy_viterbi_equals_the_torch_decode():
    from xarchkd.distill.decode import allowed_transitions
    from xarchkd_runtime.viterbi import Decoder
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 7, len(LABELS), generator=g) * 3
    lengths = torch.tensor([7, 5, 1, 7, 3, 2])
    starts = torch.tensor([True, False, True, False, True, True])
    crf = type("CRF", (), {k: torch.randn(*s, generator=g) for k, s in
                           (("start", (9,)), ("trans", (9, 9)), ("end", (9,)))})()
    start, trans = allowed_transitions(LABELS)
    for rule, scores in (("bio", None), ("crf", crf)):
        ref = bio_viterbi(logits, lengths, LABELS, starts, crf=scores)
        dec = {"rule": rule, "allowed_start": start.tolist(), "allowed_trans": trans.tolist()}
        if scores:
            dec["crf"] = {k: getattr(crf, k).tolist() for k in ("start", "trans", "end")}
        d = Decoder(dec)
        for b in range(6):
            n = int(lengths[b])
            assert d(logits[b, :n].numpy(), bool(starts[b])) == ref[b, :n].tolist()


def test_text_in_entities_out_with_character_offsets(exported):
    tagger = Tagger(exported["lstm"][1])
    texts = ["Angela Merkel met Emmanuel Macron in Paris on Monday.", "", "EU rejects German call (Reuters)!"]
    ents = tagger.tag(texts)
    assert len(ents) == 3 and ents[1] == []
    words = [[w for w, _, _ in tagger.encoder.split(t)] for t in texts]
    tags = tagger.tag_words(words)
    from xarchkd_runtime.spans import entity_spans
    for text, es, ts in zip(texts, ents, tags):
        assert [(e.first_word, e.end_word, e.type) for e in es] == entity_spans(ts)
        for e in es:
            assert text[e.start:e.end] == e.text and e.text.split()[0] == words[texts.index(text)][e.first_word]
    assert sum(len(e) for e in ents) > 0
    assert words[0][-2:] == ["Monday", "."] and tagger.tag(texts[0]) == ents[0]


BLOCKER = textwrap.dedent("""
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "transformers", "sru", "accelerate") + BLOCK_TOO:
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, _NoTorch())
""")


def test_the_runtime_is_a_package_of_its_own_that_needs_no_torch_and_no_xarchkd(exported, tmp_path):
    """``pip install ./runtime`` alone: its wheel asks for onnxruntime, tokenizers and numpy, nothing else, and,
    installed by itself, tags text in a process where torch, transformers, xarchkd and students cannot be imported."""
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            str(REPO / "runtime"), "-w", str(tmp_path / "w")], capture_output=True, text=True)
    assert wheel.returncode == 0, wheel.stderr
    (whl,) = (tmp_path / "w").glob("xarchkd_runtime-*.whl")
    with zipfile.ZipFile(whl) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        assert {n.split("/")[0] for n in z.namelist()} == {"xarchkd_runtime", whl.name.split("-")[0] + "-0.1.0.dist-info"}
    needs = {re.split(r"[<>=; ]", line.split(": ", 1)[1])[0] for line in meta.splitlines()
             if line.startswith("Requires-Dist")}
    assert needs == {"onnxruntime", "tokenizers", "numpy"}
    with zipfile.ZipFile(whl) as z:
        z.extractall(tmp_path / "site")
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER.replace("BLOCK_TOO", '("xarchkd", "students")'))
    onnx_dir = str(exported["lstm"][1])
    code = textwrap.dedent(f"""
        import json, sys
        for name in ("torch", "xarchkd", "students"):
            try:
                __import__(name)
            except ImportError:
                pass
            else:
                raise SystemExit(name + " was not blocked")
        import xarchkd_runtime
        assert xarchkd_runtime.__file__.startswith({str(tmp_path / "site")!r}), xarchkd_runtime.__file__
        ents = xarchkd_runtime.Tagger({onnx_dir!r}).tag(["Peter Blackburn reported from Brussels ."])
        print(json.dumps([[e.__dict__ for e in x] for x in ents]))
    """)
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    here = Tagger(onnx_dir).tag(["Peter Blackburn reported from Brussels ."])
    assert json.loads(run.stdout) == [[e.__dict__ for e in x] for x in here]


def test_the_runtime_tags_text_where_torch_cannot_be_imported(exported, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.replace("BLOCK_TOO", "()"))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    onnx_dir = str(exported["sru"][1])
    code = textwrap.dedent(f"""
        import json, sys
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker did not block torch")
        from xarchkd_runtime import Tagger
        t = Tagger({onnx_dir!r}, int8=True)
        ents = t.tag(["Peter Blackburn reported from Brussels .", "EU rejects German call ."])
        tags = t.tag_words([["Peter", "Blackburn"]])
        assert not any(m.split(".")[0] in ("torch", "transformers") for m in sys.modules), sorted(sys.modules)
        print(json.dumps({{"ents": [[e.__dict__ for e in x] for x in ents], "tags": tags}}))
    """)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    here = Tagger(onnx_dir, int8=True)
    assert got["tags"] == here.tag_words([["Peter", "Blackburn"]])
    assert got["ents"] == [[e.__dict__ for e in x] for x in
                           here.tag(["Peter Blackburn reported from Brussels .", "EU rejects German call ."])]
    cli = subprocess.run([sys.executable, "-m", "xarchkd.cli", "predict", onnx_dir, "Peter Blackburn reported ."],
                         env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.split() == [f"{w}/{t}" if t != "O" else w for w, t in
                                  zip("Peter Blackburn reported .".split(),
                                      here.tag_words(["Peter Blackburn reported .".split()])[0])]


def test_predict_on_an_export_prints_what_predict_on_the_student_prints(exported, capsys):
    from xarchkd.cli import main
    student, onnx_dir = exported["cnn"]
    text = ["Peter Blackburn reported from Brussels .", " ".join(LONG)]
    assert main(["predict", str(student), *text]) == 0
    from_student = capsys.readouterr().out
    assert main(["predict", str(onnx_dir), *text]) == 0
    assert capsys.readouterr().out == from_student


def test_serve_runs_an_export_beside_the_teacher_as_it_runs_the_student(exported, tiny_teacher):
    from xarchkd.tools.serve import Demo
    student, onnx_dir = exported["lstm"]
    text = "Peter Blackburn reported from Brussels on Monday ."
    from_student, from_export = Demo(str(tiny_teacher), str(student)), Demo(str(tiny_teacher), str(onnx_dir))
    assert from_export.tagger is not None and "ONNX Runtime" in from_export.names[1]
    a, b = from_student.ner(text), from_export.ner(text)
    assert b["student"]["tags"] == a["student"]["tags"] and b["student"]["entities"] == a["student"]["entities"]
    assert b["teacher"]["tags"] == a["teacher"]["tags"]


def test_a_damaged_model_onnx_is_a_one_line_error_naming_it(exported, tmp_path, capsys):
    from xarchkd.cli import main
    bad = tmp_path / "bad"
    shutil.copytree(exported["lstm"][1], bad)
    model = bad / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    assert main(["predict", str(bad), "Peter Blackburn"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(model) in err and "checksum" in err
    model.write_bytes(bytes(data[:1000]))                  # truncated, and the checksum not checked
    with pytest.raises(ExportError, match=f"{model}: ONNX Runtime cannot load it"):
        Tagger(bad, verify=False)
    (bad / "model.onnx").unlink()
    with pytest.raises(ExportError, match="model.onnx: missing"):
        Tagger(bad)


def test_an_export_of_a_newer_format_is_refused_and_an_older_one_read(exported, tmp_path):
    """Format 2 reads a word past SentencePiece's bare "▁": a runtime that reads only 1 must refuse it, and this one
    refuses a format it does not know; a format-1 export (WordPiece: read the same) still tags."""
    folder = tmp_path / "v"
    shutil.copytree(exported["lstm"][1], folder)
    path = folder / "xarchkd_export.json"
    manifest = json.loads(path.read_text())
    assert manifest["format_version"] == 2
    for version, ok in ((1, True), (3, False)):
        path.write_text(json.dumps({**manifest, "format_version": version}))
        if ok:
            assert len(Tagger(folder).tag(["Peter Blackburn"])) == 1
        else:
            with pytest.raises(ExportError, match="format_version 3; this runtime reads 1 and 2"):
                Tagger(folder)


def test_export_refuses_an_mlm_student_and_a_folder_that_is_not_an_export(tmp_path, tokenizer, exported):
    mlm = StudentModel(StudentConfig(block="cnn", task="mlm", vocab_size=len(tokenizer), embed_dim=8, hidden=8,
                                     layers=1, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id))
    mlm.save_pretrained(tmp_path / "mlm")
    tokenizer.save_pretrained(tmp_path / "mlm")
    with pytest.raises(ConfigError, match="export is for ner students"):
        export_student(str(tmp_path / "mlm"), str(tmp_path / "out"))
    student = exported["cnn"][0]
    with pytest.raises(ConfigError, match="not an export folder"):
        export_student(str(student), str(tmp_path / "mlm"))       # never overwrites a folder it did not write
    assert (tmp_path / "mlm" / "model.safetensors").is_file()
    manifest = json.loads((exported["cnn"][1] / "xarchkd_export.json").read_text())
    assert manifest["labels"] == LABELS and manifest["decode"]["rule"] == "bio"
    assert manifest["word_shapes"]["used"] and set(manifest["files"]) == {"model.onnx", "model.int8.onnx",
                                                                           "tokenizer.json"}


def test_a_block_that_traces_to_a_fixed_length_graph_is_refused(tmp_path, tokenizer):
    """The export's check runs the graph at lengths other than the traced one: a block whose Python loop over time
    is unrolled by the tracer is an ExportError, and nothing is published."""
    import torch.nn as nn
    from students import register_block

    class Unrolled(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.out_dim = dim

        def forward(self, x, mask):
            h, outs = torch.zeros_like(x[:, 0]), []
            for t in range(x.shape[1]):          # a Python int while traced: the example's steps, unrolled
                h = 0.5 * h + x[:, t]
                outs.append(h)
            return torch.stack(outs, 1) * mask[..., None]

    register_block("unrolled-test")(lambda in_dim, cfg: Unrolled(in_dim))
    cfg = StudentConfig(block="unrolled-test", vocab_size=len(tokenizer), embed_dim=8, hidden=8, layers=1,
                        labels=LABELS, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id)
    StudentModel(cfg).save_pretrained(tmp_path / "s")
    tokenizer.save_pretrained(tmp_path / "s")
    with pytest.raises(ExportError, match="'unrolled-test' student"):
        export_student(str(tmp_path / "s"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()
