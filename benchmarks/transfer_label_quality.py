"""How well does the teacher label the augmented transfer set? Its cached argmax against the tags the
augmentation implies (swapped spans keep their type, replaced/masked words their source tag).

    python benchmarks/transfer_label_quality.py --teacher ~/.cache/xarchkd/teachers/ner-minilm-l6-<fp> --factor 2

Re-creates exactly the transfer sentences a run with ``data.transfer=augment`` and this factor (and
seed and augmentation probabilities) trained on, and reads the teacher's logits from that run's cache
(built here, with teacher forwards, if no such run was made). Also scores the teacher on the
labelled train set it was fine-tuned on, from that set's cache.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from xarchkd.data.ner_data import load_splits
from xarchkd.data.ner_data import encode_sentences, join_sentences
from xarchkd.data.resources import home
from xarchkd.data.transfer import AugmentConfig, augment_copies, augment_sentences
from xarchkd.distill.metrics import ner_scores
from xarchkd.teachers.cache import ner_cache


def teacher_tags(cache, rows, labels):
    per_row = [[labels[k] for k in np.asarray(cache.row("logits", r)).argmax(-1)] for r in range(len(rows))]
    return join_sentences(rows.sent_id, per_row)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, help="the fine-tuned NER teacher folder")
    ap.add_argument("--factor", type=float, default=2.0, help="data.transfer_factor of the run")
    ap.add_argument("--seed", type=int, default=0, help="train.seed of the run")
    ap.add_argument("--data", default="conll2003")
    for f in ("p_mask", "p_replace", "p_swap", "p_ngram"):
        ap.add_argument(f"--{f.replace('_', '-')}", type=float, default=getattr(AugmentConfig(), f))
    ap.add_argument("--mlm", default="", help="data.augment.mlm of the run (masked-LM replacements)")
    ap.add_argument("--names", default="", help="data.augment.names of the run (a gazetteer for the swaps)")
    ap.add_argument("--p-names", type=float, default=0.0, help="data.augment.p_names of the run")
    a = ap.parse_args()
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.teacher)
    cfg = json.loads(open(f"{a.teacher}/config.json").read())
    labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    train = load_splits(a.data)["train"]
    words, tags = list(train["words"]), list(train["tags"])
    root = home() / "cache"
    out = {}
    rows = encode_sentences(words, tags, tok, labels, 128)
    out["labelled train (gold tags)"] = ner_scores(tags, teacher_tags(ner_cache(a.teacher, rows, root, progress=False),
                                                                      rows, labels))
    aug = AugmentConfig(p_mask=a.p_mask, p_replace=a.p_replace, p_swap=a.p_swap, p_ngram=a.p_ngram, mlm=a.mlm,
                        names=a.names, p_names=a.p_names)
    aug_words, implied, pred = [], [], []
    for k, n in enumerate(augment_copies(a.factor, len(words))):      # the run's copies, seeded and cached as it does
        pairs = augment_sentences(words, tags, n, a.seed if k == 0 else f"{a.seed}/{k}", aug, mask_token=tok.mask_token,
                                  with_tags=True)
        rows = encode_sentences([w for w, _ in pairs], None, tok, labels, 128)
        aug_words += [w for w, _ in pairs]
        implied += [t for _, t in pairs]
        pred += teacher_tags(ner_cache(a.teacher, rows, root, progress=False), rows, labels)
    out[f"augment x{a.factor:g} {aug} (implied tags)"] = ner_scores(implied, pred)
    masked = [i for i, w in enumerate(aug_words) if tok.mask_token in w]
    if masked:
        out["  ... sentences with a [MASK]"] = ner_scores([implied[i] for i in masked], [pred[i] for i in masked])
    print("| teacher labels on | sentences | entity F1 | precision | recall |\n|---|---|---|---|---|")
    for name, s in out.items():
        n = len(masked) if "MASK" in name else (len(aug_words) if "augment" in name else len(words))
        print(f"| {name} | {n:,} | {s['f1']:.4f} | {s['precision']:.4f} | {s['recall']:.4f} |")


if __name__ == "__main__":
    main()
