"""Entity spans from IOB tags: the one decoder that augmentation, the web demo, the benchmark's end-to-end
path and the evaluation scripts share."""
from __future__ import annotations


def entity_spans(tags) -> list[tuple[int, int, str]]:
    """``(start, end, type)`` of each entity in an IOB1/IOB2 tag list, ``end`` exclusive. A ``B-`` tag, or an
    ``I-`` tag that does not continue an entity of its type (a stray ``I-``, as conlleval reads it), starts one."""
    out, start, typ = [], None, None
    for i, t in enumerate(list(tags) + ["O"]):
        inside = t.startswith("I-") and start is not None and t[2:] == typ
        if start is not None and not inside:
            out.append((start, i, typ))
            start = None
        if t.startswith("B-") or (t.startswith("I-") and not inside):
            start, typ = i, t[2:]
    return out
