"""Tagging with an exported student, without PyTorch: ONNX Runtime, ``tokenizers`` and numpy only.

    from xarchkd.runtime import Tagger
    tagger = Tagger("exported/")                  # written by `xarchkd export STUDENT exported/ [--int8]`
    tagger.tag(["Angela Merkel visited Paris ."])  # -> [[Entity(type="PER", text="Angela Merkel", start=0, ...), ...]]

Nothing here imports torch, transformers or the training side of xarchkd (``xarchkd[runtime]``'s dependencies are
``onnxruntime``, ``tokenizers`` and ``numpy``): ``bundle`` reads and checks the folder, ``encode`` makes the rows,
``viterbi`` decodes, ``tagger`` runs it all.
"""
from .bundle import ExportError, is_export, read_bundle
from .tagger import Entity, Tagger

__all__ = ["Tagger", "Entity", "ExportError", "is_export", "read_bundle"]
