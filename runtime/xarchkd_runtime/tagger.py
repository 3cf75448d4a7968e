"""``Tagger``: text in, entities out, from an exported student with ONNX Runtime (no torch).

Words (CoNLL-style split, with character offsets) -> rows (``encode.Encoder``) -> length-sorted, right-padded
batches -> ``model.onnx`` (or ``model.int8.onnx``) -> word logits -> the export's decode rule (``viterbi.Decoder``)
-> tags per sentence -> entity spans (``spans``) with character offsets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spans import entity_spans
from .bundle import INPUTS, TOKENIZER, ExportError, read_bundle
from .encode import Encoder, Row
from .viterbi import Decoder


@dataclass
class Entity:
    """One entity of a text: its type, its words ``[first_word, end_word)`` and characters ``[start, end)``."""
    type: str
    text: str
    start: int
    end: int
    first_word: int
    end_word: int


def _session(path, threads: int | None):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    # threads spin while a call runs (the LSTM op hands work to the pool at every time step, and waking parked
    # threads each time is slow: with spinning off, 2 threads were slower than 1 at batch 1) and stop spinning when it
    # returns, so nothing busy-waits between calls to take the cores from the rest of a request or another process
    # (docs/results/speed.md)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:        # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"{path}: ONNX Runtime cannot load it ({msg})") from None


class Tagger:
    """An exported student folder ready to tag: ``Tagger(folder, int8=False, threads=None, batch_size=32)``.

    ``tag(texts)`` -> entities per text; ``tag_words(sentences)`` -> IOB2 tags per word list;
    ``word_logits(sentences)`` -> the model's word logits per word list (what the decode reads)."""

    def __init__(self, folder, int8: bool = False, threads: int | None = None, batch_size: int = 32,
                 verify: bool = True):
        from tokenizers import Tokenizer
        self.bundle = read_bundle(folder, verify=verify)
        m = self.bundle.manifest
        self.labels = self.bundle.labels
        tok_path = self.bundle.folder / TOKENIZER
        try:
            tok = Tokenizer.from_file(str(tok_path))
        except Exception as e:
            raise ExportError(f"{tok_path}: the tokenizer cannot be read ({e})") from None
        self.encoder = Encoder(m, tok)
        self.decoder = Decoder(m["decode"])
        self.pad_id = int(m["special_ids"]["pad"])
        self.batch_size = batch_size
        self.session = _session(self.bundle.model_path(int8), threads)
        self.feeds = [i.name for i in self.session.get_inputs()]   # an input the graph never reads is dropped
        unknown = set(self.feeds) - set(INPUTS)
        if unknown:
            raise ExportError(f"{self.bundle.model_path(int8)}: unexpected graph inputs {sorted(unknown)}")

    def _batch(self, rows: list[Row]) -> dict[str, np.ndarray]:
        b, t, p = len(rows), max(len(r.ids) for r in rows), max(1, max(len(r.word_pos) for r in rows))
        arr = {"input_ids": np.full((b, t), self.pad_id, np.int64), "attention_mask": np.zeros((b, t), np.int64),
               "positions": np.zeros((b, p), np.int64), "shapes": np.zeros((b, t), np.int64)}
        for i, r in enumerate(rows):
            n = len(r.ids)
            arr["input_ids"][i, :n] = r.ids
            arr["attention_mask"][i, :n] = 1
            arr["shapes"][i, :n] = r.shapes
            arr["positions"][i, :len(r.word_pos)] = r.word_pos
        return {k: arr[k] for k in self.feeds}

    def _row_logits(self, rows: list[Row]) -> list[np.ndarray]:
        """Word logits ``[words, C]`` of each row: batches of similar length, one session call each."""
        out: list = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
        for k in range(0, len(order), self.batch_size):
            idx = order[k:k + self.batch_size]
            logits = self.session.run(["logits"], self._batch([rows[i] for i in idx]))[0]
            for j, i in enumerate(idx):
                out[i] = logits[j, :len(rows[i].word_pos)]
        return out

    def word_logits(self, sentences: list[list[str]]) -> list[np.ndarray]:
        """The model's word logits ``[words, C]`` per word list (a long sentence's rows joined)."""
        rows = self.encoder.rows(sentences)
        per = [[] for _ in sentences]
        for r, lg in zip(rows, self._row_logits(rows)):
            per[r.sentence].append(lg)
        return [np.concatenate(p) if p else np.zeros((0, len(self.labels)), np.float32) for p in per]

    def tag_words(self, sentences: list[list[str]]) -> list[list[str]]:
        """IOB2 tags per word of each word list, decoded as the export says (argmax, BIO Viterbi or CRF)."""
        rows = self.encoder.rows(sentences)
        tags: list[list[str]] = [[] for _ in sentences]
        for r, lg in zip(rows, self._row_logits(rows)):
            tags[r.sentence].extend(self.labels[k] for k in self.decoder(lg, r.starts))
        return tags

    def tag(self, texts: list[str] | str) -> list[list[Entity]] | list[Entity]:
        """Entities of each text (one text: its entities), with character offsets into that text."""
        one = isinstance(texts, str)
        texts = [texts] if one else list(texts)
        words = [self.encoder.split(t) for t in texts]
        out = []
        for text, ws, tags in zip(texts, words, self.tag_words([[w for w, _, _ in x] for x in words])):
            out.append([Entity(typ, text[ws[s][1]:ws[e - 1][2]], ws[s][1], ws[e - 1][2], s, e)
                        for s, e, typ in entity_spans(tags)])
        return out[0] if one else out

    __call__ = tag
