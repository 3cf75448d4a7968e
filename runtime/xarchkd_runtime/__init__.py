"""Tagging with an exported student, without PyTorch: ONNX Runtime, ``tokenizers`` and numpy only.

    from xarchkd_runtime import Tagger
    tagger = Tagger("exported/")                  # written by `xarchkd export STUDENT exported/ [--int8]`
    tagger.tag(["Angela Merkel visited Paris ."])  # -> [[Entity(type="PER", text="Angela Merkel", start=0, ...), ...]]

A package of its own (``pip install ./runtime``, the ``xarchkd-runtime`` distribution), which needs ``onnxruntime``,
``tokenizers`` and ``numpy`` only: nothing here imports torch, transformers or xarchkd (xarchkd imports it: the word
shapes and entity spans of training are these). ``bundle`` reads and checks the folder, ``encode`` makes the rows,
``shapes`` is the word-shape rule, ``viterbi`` decodes, ``spans`` turns tags into entities, ``tagger`` runs it all.
"""
from .bundle import ExportError, is_export, read_bundle
from .tagger import Entity, Tagger

__all__ = ["Tagger", "Entity", "ExportError", "is_export", "read_bundle"]
