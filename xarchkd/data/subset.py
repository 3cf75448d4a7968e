"""Few labels, plenty of text: split a CoNLL data folder into a small labelled folder and the rest.

``write_subset(data, n, out)`` writes

- ``out/train.txt``: the first ``n`` train sentences (the labelled set; the same sentences that
  ``data.train_limit=n`` takes),
- ``out/valid.txt``, ``out/test.txt``: copies of the full valid and test splits,
- ``out/rest.txt``: the other train sentences, labels still in the file (``data.transfer=conll:out/rest.txt``
  reads their words only, so they train the student through the teacher's logits alone; the labels
  stay there so the teacher's labelling of them can be scored).

Sentences are copied line for line (all columns, the file's own tag scheme); ``-DOCSTART-`` lines
are dropped. ``out`` is then a data folder like any other: ``data.name=out`` with ``teacher.finetune=true``
fine-tunes the teacher on the ``n`` sentences alone.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ConfigError


def conll_blocks(path: str | Path) -> list[list[str]]:
    """The sentences of a CoNLL file as lists of raw lines, split as ``read_conll`` splits them
    (a blank or ``-DOCSTART-`` line ends a sentence)."""
    blocks, cur = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.split()[0] == "-DOCSTART-":
            if cur:
                blocks.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        blocks.append(cur)
    return blocks


def write_subset(data: str, n: int, out: str | Path, scheme: str = "auto") -> dict:
    """Write the labelled folder and ``rest.txt`` described in the module docstring (``scheme``: the tag
    scheme the source is checked with; files are copied as they are); return the counts."""
    from .ner_data import load_splits
    from .resources import resolve
    src = Path(resolve(data))
    load_splits(str(src), scheme)               # a bad source fails here, naming its file and line
    blocks = conll_blocks(src / "train.txt")
    if not 0 < n < len(blocks):
        raise ConfigError(f"n={n}: the train split of {src} has {len(blocks)} sentences; take 1..{len(blocks) - 1}")
    out = Path(out)
    if out.resolve() == src.resolve():
        raise ConfigError(f"--out {out} is the source folder; pick another")
    out.mkdir(parents=True, exist_ok=True)
    write = lambda name, bs: (out / name).write_text("".join("\n".join(b) + "\n\n" for b in bs), encoding="utf-8")
    write("train.txt", blocks[:n])
    write("rest.txt", blocks[n:])
    counts = {"train": n, "rest": len(blocks) - n}
    for split in ("valid", "test"):
        if (src / f"{split}.txt").is_file():
            shutil.copyfile(src / f"{split}.txt", out / f"{split}.txt")
            counts[split] = len(conll_blocks(out / f"{split}.txt"))
    return counts
