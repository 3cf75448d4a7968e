"""A NER student as an ONNX graph: export (torch's TorchScript-based exporter, opset 17), int8, and the check.

The graph is the student's ``forward`` at word positions: ``input_ids``, ``attention_mask``, ``shapes`` ``[B, T]``
and ``positions`` ``[B, P]`` (int64, right-padded, as ``predict.predict_tags`` feeds it) -> ``logits`` ``[B, P, C]``,
batch and lengths dynamic. Every block exports as it runs: the BiLSTM's packed sequences become ONNX ``LSTM`` ops
with ``sequence_lens`` (pads never read); SRU and SRU++ run their plain-torch recurrence (``block_args.impl`` set
to ``torch`` for the export; sru's C++ kernel has no ONNX form), whose time loop is scripted while traced
(``students.sru_torch.traceable_scan``), so it is an ONNX ``Loop`` over the input's length, not the example's
steps unrolled; the CNN is convolutions. ``check_graph`` runs graph and student side by side at lengths other
than the traced one and in a padded batch, so a block that traces into a fixed-length graph is refused.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from students import StudentConfig, StudentModel

from xarchkd_runtime.bundle import INPUTS, ExportError

OPSET = 17
CHECK_LENGTHS = (5, 23)        # sub-words per row (with [CLS]/[SEP]) the check runs at, beside a padded batch


class WordLogits(nn.Module):
    """The exported function: the student's word logits (``StudentModel.forward(...).logits``)."""

    def __init__(self, student: StudentModel):
        super().__init__()
        self.student = student

    def forward(self, input_ids, attention_mask, positions, shapes):
        return self.student(input_ids, attention_mask, positions=positions, shapes=shapes).logits


def exportable(model: StudentModel) -> StudentModel:
    """The student to trace, in eval mode: itself, or for SRU / SRU++ a copy whose recurrence is the plain-torch one
    (same parameters; the graph then has the scripted loop)."""
    cfg = model.cfg
    if cfg.block in ("sru", "srupp") and cfg.block_args.get("impl", "auto") != "torch":
        copy = StudentModel(StudentConfig(**{**cfg.to_dict(), "block_args": {**cfg.block_args, "impl": "torch"}}))
        copy.load_state_dict(model.state_dict())
        model = copy
    return model.eval()


def example_inputs(cfg: StudentConfig, lengths, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Right-padded random rows of ``lengths`` sub-words (``[CLS]``-like first and ``[SEP]``-like last), each inner
    sub-word a word of its own: ``(input_ids, attention_mask, positions, shapes)``."""
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    ids = torch.full((b, t), cfg.pad_id, dtype=torch.long)
    mask = torch.zeros(b, t, dtype=torch.long)
    shapes = torch.zeros(b, t, dtype=torch.long)
    pos = torch.zeros(b, max(1, t - 2), dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(0, cfg.vocab_size, (n,), generator=g)
        mask[i, :n] = 1
        shapes[i, 1:n - 1] = torch.randint(1, 7, (n - 2,), generator=g)
        pos[i, :n - 2] = torch.arange(1, n - 1)
    return ids, mask, pos, shapes


def to_onnx(model: StudentModel, path: str | Path) -> None:
    """Write ``model``'s ``WordLogits`` graph to ``path`` (batch, length and word count dynamic)."""
    graph = WordLogits(exportable(model))
    dyn = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
           "positions": {0: "batch", 1: "words"}, "shapes": {0: "batch", 1: "tokens"},
           "logits": {0: "batch", 1: "words"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")       # TracerWarnings on shape asserts inside sru; checked by check_graph
        try:
            torch.onnx.export(graph, example_inputs(model.cfg, (11, 6)), str(path), dynamo=False,
                              opset_version=OPSET, input_names=list(INPUTS), output_names=["logits"],
                              dynamic_axes=dyn)
        except Exception as e:        # an op without an ONNX form in a user's block, ...
            raise ExportError(f"{path}: a {model.cfg.block!r} student does not export to ONNX "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def quantize(src: str | Path, dst: str | Path) -> None:
    """``dst``: ``src`` with its MatMul/Gemm/Conv/LSTM weights in int8 (ONNX Runtime's dynamic quantisation, QInt8;
    activations are quantised on the fly)."""
    import logging
    from onnxruntime.quantization import QuantType, quantize_dynamic
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)        # its shape-inference notes are not errors
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().setLevel(level)


def run_graph(session, inputs) -> np.ndarray:
    """``logits`` of an ``onnxruntime.InferenceSession`` on torch ``inputs`` (only the inputs the graph has)."""
    names = {i.name for i in session.get_inputs()}
    feed = {k: v.numpy() for k, v in zip(INPUTS, inputs) if k in names}
    return session.run(["logits"], feed)[0]


def check_graph(model: StudentModel, path: str | Path, tol: float = 1e-4) -> dict:
    """Compare the graph at ``path`` with ``model`` on random rows: each of ``CHECK_LENGTHS`` alone and all in one
    padded batch (real word positions only). Returns ``{"max_abs_diff": ...}``; an ``ExportError`` if any
    difference is over ``tol`` times the logits' scale."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = model.eval()
    worst, scale = 0.0, 1.0
    for lengths in [(n,) for n in CHECK_LENGTHS] + [tuple(sorted(CHECK_LENGTHS, reverse=True))]:
        inputs = example_inputs(model.cfg, lengths, seed=len(lengths) + lengths[0])
        with torch.no_grad():
            ref = WordLogits(model)(*inputs).numpy()
        try:
            got = run_graph(session, inputs)
        except Exception as e:        # onnxruntime's own error types: a shape fixed at the traced example's, ...
            raise ExportError(f"{path}: the graph of a {model.cfg.block!r} student fails on rows of {lengths} "
                              f"sub-words ({str(e).strip().splitlines()[0][:300]})") from None
        for i, n in enumerate(lengths):
            worst = max(worst, float(np.abs(got[i, :n - 2] - ref[i, :n - 2]).max()))
            scale = max(scale, float(np.abs(ref[i, :n - 2]).max()))
    if worst > tol * scale:
        raise ExportError(f"{path}: the graph's logits differ from the student's by {worst:.3g} (over "
                          f"{tol:g} x {scale:.3g}) at lengths {CHECK_LENGTHS} or in a padded batch: the "
                          f"{model.cfg.block!r} block does not trace to a graph that is right at every length")
    return {"max_abs_diff": worst, "lengths": list(CHECK_LENGTHS), "padded_batch": True}
