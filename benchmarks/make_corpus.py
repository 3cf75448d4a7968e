"""Write an English transfer corpus of N sentences, one a line, made from the text available offline, for the
corpus-scale measurements (docs/results/gpu-and-scale.md, ``corpus_scale.py``).

Sources: the bundled English prose (``pydoc-text``, split by ``xarchkd.data.text``) and the CoNLL-2003 train sentences
(their words joined by spaces): 77,101 different sentences. The corpus is each source sentence once (in a seeded
order), then as many perturbed copies as N needs: a random source sentence with one of its words replaced by a
random word of the sources (capitalised like the word it replaces). Every line is checked to read back as exactly
one sentence of 3..60 words (``text.split_sentences``/``words``, what ``data.transfer=corpus:`` keeps), so N lines
are N sentences; a perturbed line that would not is written unperturbed.

    python benchmarks/make_corpus.py 1000000 /tmp/corpus-1m.txt [--seed 0] [--format jsonl|parquet]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from xarchkd.data.ner_data import read_conll
from xarchkd.data.resources import fetch
from xarchkd.data.text import split_sentences, words


def usable(line: str) -> bool:
    """``line`` reads back as one sentence of 3..60 words."""
    return split_sentences(line) == [line] and 3 <= len(words(line)) <= 60


def source_sentences() -> list[str]:
    """The different usable sentences of pydoc-text and CoNLL-2003 train, in source order."""
    text = (fetch("pydoc-text") / "corpus.txt").read_text(encoding="utf-8")
    conll = [" ".join(ws) for ws in read_conll(fetch("conll2003") / "train.txt")["words"]]
    seen, out = set(), []
    for s in split_sentences(text) + conll:
        if s not in seen and usable(s):
            seen.add(s)
            out.append(s)
    return out


def perturbed(s: str, pool: list[str], rng: random.Random) -> str:
    """``s`` with one alphabetic word replaced by a random pool word (capitalised like it)."""
    toks = s.split(" ")
    spots = [i for i, t in enumerate(toks) if t.isalpha()]
    if not spots:
        return s
    i = rng.choice(spots)
    new = rng.choice(pool)
    toks[i] = new.capitalize() if toks[i][0].isupper() else new
    return " ".join(toks)


def sentences(n: int, seed: int = 0):
    """The corpus's ``n`` lines (a generator)."""
    src = source_sentences()
    rng = random.Random(seed)
    order = list(range(len(src)))
    rng.shuffle(order)
    pool = [t.lower() for s in src for t in s.split(" ") if t.isalpha() and len(t) > 1]
    for k in range(n):
        if k < len(src):
            yield src[order[k]]
        else:
            s = src[rng.randrange(len(src))]
            p = perturbed(s, pool, rng)
            yield p if usable(p) else s


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="sentences")
    ap.add_argument("out", help="the file to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=("text", "jsonl", "parquet"), default="text")
    args = ap.parse_args(argv)
    t0 = time.time()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    gen = tqdm(sentences(args.n, args.seed), total=args.n, unit="sent", unit_scale=True, mininterval=2,
               desc=f"writing {out.name}")
    if args.format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        with pq.ParquetWriter(tmp, pa.schema([("text", pa.string())])) as w:
            batch = []
            for s in gen:
                batch.append(s)
                if len(batch) == 65536:
                    w.write_table(pa.table({"text": batch}))
                    batch = []
            if batch:
                w.write_table(pa.table({"text": batch}))
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for s in gen:
                f.write((json.dumps({"text": s}) if args.format == "jsonl" else s) + "\n")
    tmp.replace(out)
    print(f"{args.n:,} sentences -> {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
