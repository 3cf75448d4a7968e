"""BIO-constrained Viterbi decoding against a brute-force search, and its use by students."""
import itertools

import pytest
import torch

from xarchkd.distill.decode import allowed_transitions, bio_viterbi, decode_tags

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def _valid(seq):
    start, trans = allowed_transitions(LABELS)
    return bool(start[seq[0]]) and all(bool(trans[a, b]) for a, b in zip(seq, seq[1:]))


def _brute(lp):
    best, arg = -float("inf"), None
    for seq in itertools.product(range(len(LABELS)), repeat=len(lp)):
        if _valid(seq):
            s = sum(float(lp[t, k]) for t, k in enumerate(seq))
            if s > best:
                best, arg = s, list(seq)
    return arg


def test_transitions_follow_iob2():
    start, trans = allowed_transitions(LABELS)
    assert start.tolist() == [True, True, False, True, False]
    assert trans[LABELS.index("B-LOC"), LABELS.index("I-LOC")]
    assert trans[LABELS.index("I-LOC"), LABELS.index("I-LOC")]
    assert not trans[LABELS.index("O"), LABELS.index("I-LOC")]
    assert not trans[LABELS.index("B-PER"), LABELS.index("I-LOC")]


def test_viterbi_equals_brute_force_on_ragged_batches():
    torch.manual_seed(0)
    logits = torch.randn(6, 5, len(LABELS)) * 3
    lengths = torch.tensor([5, 1, 3, 4, 2, 5])
    out = bio_viterbi(logits, lengths, LABELS)
    lp = torch.log_softmax(logits, -1)
    for b, n in enumerate(lengths.tolist()):
        assert out[b, :n].tolist() == _brute(lp[b, :n]), b
        assert out[b, n:].eq(0).all()


def test_bio_repairs_a_broken_entity_that_argmax_keeps():
    # argmax says "O I-PER I-PER": the constrained decode must start the entity with B-PER or drop it
    lg = torch.full((1, 3, len(LABELS)), -5.0)
    lg[0, 0, 0], lg[0, 0, 3] = 2.0, 1.5          # O, but B-PER close behind
    lg[0, 1, 4], lg[0, 2, 4] = 3.0, 3.0          # I-PER twice
    assert decode_tags(lg, [3], LABELS, "argmax") == [["O", "I-PER", "I-PER"]]
    assert decode_tags(lg, [3], LABELS, "bio") == [["B-PER", "I-PER", "I-PER"]]


def test_unknown_decode_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown decode"):
        decode_tags(torch.zeros(1, 1, len(LABELS)), [1], LABELS, "beam")
    with pytest.raises(ValueError, match="tag-transition scores"):
        decode_tags(torch.zeros(1, 1, len(LABELS)), [1], LABELS, "crf")


def test_a_row_that_continues_a_split_sentence_may_open_inside_an_entity():
    lg = torch.full((2, 2, len(LABELS)), -5.0)
    lg[:, 0, 4], lg[:, 1, 0] = 3.0, 3.0          # "I-PER O" in both rows
    tags = decode_tags(lg, [2, 2], LABELS, "bio", starts=[True, False])
    assert tags[0][0] != "I-PER"                 # a sentence cannot open with I-PER
    assert tags[1] == ["I-PER", "O"]             # the continuation of a split sentence can


def _scores(seed=0):
    from students.model import TagTransitions
    torch.manual_seed(seed)
    crf = TagTransitions(len(LABELS))
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 2)
    return crf


def _path_score(em, seq, crf):
    return float((crf.start[seq[0]] + sum(em[t, k] for t, k in enumerate(seq))
                  + sum(crf.trans[a, b] for a, b in zip(seq, seq[1:])) + crf.end[seq[-1]]).detach())


def test_crf_viterbi_is_the_best_valid_path_under_the_learned_scores():
    torch.manual_seed(1)
    crf = _scores()
    logits = torch.randn(5, 4, len(LABELS)) * 2
    lengths = torch.tensor([4, 1, 3, 2, 4])
    out = bio_viterbi(logits, lengths, LABELS, crf=crf)
    lp = torch.log_softmax(logits, -1)
    for b, n in enumerate(lengths.tolist()):
        paths = [s for s in itertools.product(range(len(LABELS)), repeat=n) if _valid(s)]
        best = max(paths, key=lambda s: _path_score(lp[b, :n], s, crf))
        assert out[b, :n].tolist() == list(best), b
    assert decode_tags(logits, lengths, LABELS, "crf", crf=crf)[0] == [LABELS[k] for k in out[0].tolist()]


def test_crf_nll_equals_the_log_partition_by_enumeration():
    from xarchkd.distill.loss import crf_nll
    crf = _scores(2)
    torch.manual_seed(3)
    em = torch.randn(3, 4, len(LABELS))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    gold = torch.tensor([[1, 2, 0, 3], [3, 4, -1, -1], [0, -1, 0, -1]])   # row 2 has a word without gold: skipped
    want = 0.0
    for b in (0, 1):
        n = int(mask[b].sum())
        scores = torch.tensor([_path_score(em[b, :n], s, crf)
                               for s in itertools.product(range(len(LABELS)), repeat=n)])
        want += float(torch.logsumexp(scores, 0)) - _path_score(em[b, :n], gold[b, :n].tolist(), crf)
    got = crf_nll(em, gold, mask, crf)
    assert abs(float(got.detach()) - want / 6) < 1e-4   # 6 gold positions in the two full rows
    got.backward()                                    # and it trains the transition scores
    assert crf.trans.grad.abs().sum() > 0 and crf.start.grad.abs().sum() > 0
