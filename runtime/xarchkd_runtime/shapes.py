"""Word shapes: the case and digit class of a word, in any script (what an uncased tokenizer throws away).

Training (``xarchkd.data.ner_data``) and the runtime share this one rule; an export records its name
(``RULE``) and the ids below, and a runtime refuses an export whose rule it does not implement.
"""
from __future__ import annotations

RULE = "xarchkd.word_shape/1"
# Shape ids; 0 is left for [CLS]/[SEP]/padding. ``students.NUM_SHAPES`` must exceed the largest.
LOWER, CAPITALISED, ALL_CAPS, MIXED, DIGITS, OTHER, NOCASE = 1, 2, 3, 4, 5, 6, 7
NAMES = {"special/pad": 0, "lower": LOWER, "Capitalised": CAPITALISED, "ALL CAPS": ALL_CAPS, "mIxed": MIXED,
         "digits": DIGITS, "other": OTHER, "no case (CJK, kana, Hangul)": NOCASE}


def word_shape(word: str) -> int:
    """The shape id of a word, in any script: lower ``paris``/``москва``, Capitalised ``Paris``/``McDonald``/``A``/
    ``Αθήνα``, ALL CAPS ``NATO``/``НАТО``, mixed ``iPhone``, no case (letters, none of them cased: ``東京``,
    ``서울``, ``2024年``), digits (no letters, some digit: ``1996``, ``3-1``), other (punctuation). Case is read
    from the cased letters alone (``X光`` is Capitalised)."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return DIGITS if any(c.isdigit() for c in word) else OTHER
    cased = [c for c in letters if c.isupper() or c.islower()]
    if not cased:
        return NOCASE
    if len(cased) > 1 and all(c.isupper() for c in cased):
        return ALL_CAPS
    if cased[0].isupper():
        return CAPITALISED
    return LOWER if all(c.islower() for c in cased) else MIXED
