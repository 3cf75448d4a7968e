"""Where a NER student loses its F1: recall of test entities by how new their words are to training.

    python benchmarks/unseen_entities.py runs/lstm/student [--split test] [--data conll2003] [--decode bio]
    python benchmarks/unseen_entities.py runs/teachers/mpnet-ner        # a teacher folder: its argmax tags

Each gold entity of the split falls in one group: ``all words seen`` (every word occurs in the train
split), ``new word, seen sub-words`` (a word never seen, made of sub-words that were) and ``unseen
sub-word`` (some sub-word never occurs in train: a pruned student reads it as [UNK]). An entity counts
as recalled when the student predicts exactly its span and type (decoded as the student's config says).
"""
from __future__ import annotations

import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("student", help="a student folder (with its tokenizer, as a run saves it) or a NER teacher folder")
    ap.add_argument("--split", default="test", choices=("valid", "test"))
    ap.add_argument("--data", default="conll2003")
    ap.add_argument("--decode", choices=("argmax", "bio"), help="override the student's decode")
    a = ap.parse_args()
    from xarchkd.data.ner_data import load_splits
    from xarchkd.data.ner_data import encode_sentences, join_sentences
    from xarchkd_runtime.spans import entity_spans
    from xarchkd.distill.predict import predict_student
    from xarchkd.load import load_model

    kind, model, tok = load_model(a.student)
    labels = model.cfg.labels if kind == "student" else model.labels
    if kind == "student":
        model.cfg.decode = a.decode or model.cfg.decode
    splits = load_splits(a.data)
    train = encode_sentences(list(splits["train"]["words"]), list(splits["train"]["tags"]), tok, labels)
    seen_ids = set(np.concatenate(train.input_ids).tolist())
    seen_words = {w for s in splits["train"]["words"] for w in s}
    words, tags = list(splits[a.split]["words"]), list(splits[a.split]["tags"])
    rows = encode_sentences(words, tags, tok, labels)
    pred = join_sentences(rows.sent_id, predict_student(model, rows) if kind == "student" else
                          model.predict_tags(rows, progress=False))
    groups = {"all words seen": [0, 0], "new word, seen sub-words": [0, 0], "unseen sub-word": [0, 0]}
    for ws, gold, guess in zip(words, tags, pred):
        found = set(entity_spans(guess))
        for start, end, typ in entity_spans(gold):
            ids = tok(ws[start:end], is_split_into_words=True, add_special_tokens=False)["input_ids"]
            if any(i not in seen_ids for i in ids):
                g = groups["unseen sub-word"]
            elif any(w not in seen_words for w in ws[start:end]):
                g = groups["new word, seen sub-words"]
            else:
                g = groups["all words seen"]
            g[0] += 1
            g[1] += (start, end, typ) in found
    total = sum(n for n, _ in groups.values())
    decode = model.cfg.decode if kind == "student" else "argmax"
    print(f"| {a.split} entities ({a.student}, decode={decode}) | count | share | recall |\n|---|---|---|---|")
    for name, (n, hit) in groups.items():
        print(f"| {name} | {n:,} | {n / total:.1%} | {hit / max(n, 1):.4f} |")


if __name__ == "__main__":
    main()
