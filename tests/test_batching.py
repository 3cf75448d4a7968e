"""Vectorised batching equals a plain per-row reference, bit for bit, on real CoNLL-2003 rows and real caches.

The references below are the straightforward loops (one tensor write per row) that the vectorised
padding and collates replaced; every tensor must match in shape, dtype and value.
"""
import numpy as np
import pytest
import torch

from xarchkd.data.batching import Ragged, flat_positions, length_batches, pad_ids, pad_words, ragged_index
from xarchkd.data.ner_data import read_conll
from xarchkd.data.disk_examples import NerExamples
from xarchkd.data.ner_data import NO_LABEL, encode_sentences
from xarchkd.teachers.cache import mlm_cache, ner_cache

from conftest import LABELS


# ---- references: one row at a time -------------------------------------------------------------------------
def ref_pad_ids(seqs, pad_id):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.as_tensor(np.asarray(s, dtype=np.int64))
        mask[i, :len(s)] = 1
    return ids, mask


def ref_pad_words(seqs, fill):
    W = max(1, max(len(s) for s in seqs))
    out = torch.full((len(seqs), W), fill, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(np.asarray(s, dtype=np.int64))
    return out


def ref_stack(arrs, width):
    out = torch.zeros(len(arrs), width, arrs[0].shape[-1])
    for i, a in enumerate(arrs):
        out[i, :len(a)] = torch.from_numpy(np.asarray(a, dtype=np.float32))
    return out


def ref_ner_collate(parts, pad_id, indices):
    index = [(p, r) for p, (rows, _) in enumerate(parts) for r in range(len(rows))]
    items = [index[i] for i in indices]
    rows = [(parts[p][0], r) for p, r in items]
    ids, mask = ref_pad_ids([rw.input_ids[r] for rw, r in rows], pad_id)
    positions = ref_pad_words([rw.word_pos[r] for rw, r in rows], 0)
    lens = [len(rw.word_pos[r]) for rw, r in rows]
    pos_mask = torch.arange(positions.shape[1])[None, :] < torch.as_tensor(lens)[:, None]
    batch = {"input_ids": ids, "attention_mask": mask, "positions": positions, "pos_mask": pos_mask,
             "gold": ref_pad_words([rw.labels[r] for rw, r in rows], NO_LABEL),
             "shapes": ref_pad_words([rw.shapes[r] for rw, r in rows], 0)}
    if all(c is not None for _, c in parts):
        batch["teacher_logits"] = ref_stack([parts[p][1].row("logits", r) for p, r in items], positions.shape[1])
        if all("hidden" in c.arrays for _, c in parts):
            batch["teacher_hidden"] = ref_stack([parts[p][1].row("hidden", r) for p, r in items], positions.shape[1])
    return batch


def ref_mlm_collate(m, cache, token_map, pad_id, idx):
    ids, mask = ref_pad_ids([m.input_ids[i] for i in idx], pad_id)
    positions = ref_pad_words([m.positions[i] for i in idx], 0)
    lens = torch.as_tensor([len(m.positions[i]) for i in idx])
    pos_mask = torch.arange(positions.shape[1])[None] < lens[:, None]
    gold = token_map[ref_pad_words([m.targets[i] for i in idx], 0)]
    gold[~pos_mask] = -1
    batch = {"input_ids": ids, "attention_mask": mask, "positions": positions, "pos_mask": pos_mask, "gold": gold}
    if cache is not None:
        k = cache.arrays["values"].shape[1]
        vals = torch.zeros(len(idx), positions.shape[1], k)
        inds = torch.zeros(len(idx), positions.shape[1], k, dtype=torch.long)
        for b, i in enumerate(idx):
            v, ix = cache.row("values", i), cache.row("indices", i)
            vals[b, :len(v)] = torch.from_numpy(np.asarray(v, dtype=np.float32))
            inds[b, :len(v)] = token_map[torch.from_numpy(np.asarray(ix, dtype=np.int64))]
        batch["teacher_logits"], batch["teacher_indices"] = vals, inds
    return batch


def assert_same_batch(got: dict, want: dict):
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert got[k].shape == want[k].shape, k
        assert torch.equal(got[k], want[k]), k


# ---- fixtures: real rows ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ner_rows(conll_small, tokenizer):
    out = {}
    for split in ("train", "valid"):
        ds = read_conll(conll_small / f"{split}.txt")
        # max_length 24 splits the longer sentences, so some rows are pieces of one sentence
        out[split] = encode_sentences(list(ds["words"]), list(ds["tags"]), tokenizer, LABELS, 24)
    return out


def test_ragged_index_matches_concatenated_aranges():
    starts, lengths = np.array([5, 0, 9, 2, 7]), np.array([3, 0, 1, 4, 0])
    want = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)])
    assert np.array_equal(ragged_index(starts, lengths), want)
    assert len(ragged_index([], [])) == 0 and len(ragged_index([4, 1], [0, 0])) == 0
    r = Ragged.of([np.array([1, 2], np.int32), np.array([], np.int32), np.array([3], np.int32)])
    flat, n = r.take([2, 1, 0])
    assert flat.tolist() == [3, 1, 2] and n.tolist() == [1, 0, 2] and flat.dtype == np.int64


def test_padding_helpers_equal_the_per_row_reference(ner_rows):
    rows = ner_rows["train"]
    for idx in length_batches([len(x) for x in rows.input_ids], 32, shuffle=True, seed=1)[:10]:
        ids = [rows.input_ids[i] for i in idx]
        for got, want in zip(pad_ids(ids, 7), ref_pad_ids(ids, 7)):
            assert got.dtype == want.dtype and torch.equal(got, want)
        for seqs, fill in (([rows.word_pos[i] for i in idx], 0), ([rows.labels[i] for i in idx], -100),
                           ([rows.shapes[i] for i in idx], 0)):
            got, want = pad_words(seqs, fill), ref_pad_words(seqs, fill)
            assert got.dtype == want.dtype and torch.equal(got, want)
        b, p = flat_positions([rows.word_pos[i] for i in idx])
        assert torch.equal(b, torch.cat([torch.full((len(rows.word_pos[i]),), j) for j, i in enumerate(idx)]))
        assert torch.equal(p, torch.cat([torch.as_tensor(rows.word_pos[i], dtype=torch.long) for i in idx]))
    # plain lists, an empty row (width 1, all fill), and a single row
    assert torch.equal(pad_words([[], [3, 4], [5]], -1), ref_pad_words([[], [3, 4], [5]], -1))
    assert torch.equal(pad_words([[]], 2), ref_pad_words([[]], 2))
    for got, want in zip(pad_ids([[101, 9, 102]], 0), ref_pad_ids([[101, 9, 102]], 0)):
        assert torch.equal(got, want)


def test_ner_collate_equals_reference_with_two_cached_parts(tmp_path, tiny_teacher, ner_rows):
    """Train rows plus a second part (like transfer rows) with its own cache; logits and hidden states."""
    parts = [(rows, ner_cache(str(tiny_teacher), rows, tmp_path, batch_size=32, hidden=True, progress=False))
             for rows in (ner_rows["train"], ner_rows["valid"])]
    assert len(ner_rows["train"]) > 300        # some sentences were split into several rows
    ex = NerExamples(parts, pad_id=0)
    batches = length_batches(ex.lengths, 32, shuffle=True, seed=3)
    batches.append(np.array([len(ex) - 1, 0, len(ner_rows["train"]), 5]))   # mixed parts, unsorted
    for idx in batches:
        got = ex.collate(idx.tolist())
        assert_same_batch(got, ref_ner_collate(parts, 0, idx.tolist()))
    assert got["teacher_hidden"].shape[-1] == 32 and got["teacher_logits"].shape[-1] == len(LABELS)
    # one part, no teacher (the no-KD twin)
    ex = NerExamples([(ner_rows["valid"], None)], pad_id=0)
    for idx in length_batches(ex.lengths, 16, shuffle=True, seed=0):
        got = ex.collate(idx.tolist())
        assert "teacher_logits" not in got
        assert_same_batch(got, ref_ner_collate([(ner_rows["valid"], None)], 0, idx.tolist()))


def test_mlm_collate_equals_reference(tmp_path, conll_small):
    from xarchkd.data.mlm_data import MlmExamples, corpus_sentences
    from xarchkd.data.mlm_data import mask_rows, text_rows
    from xarchkd.data.resources import fetch
    teacher = fetch("splade-tiny")
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(teacher))
    m = mask_rows(text_rows(corpus_sentences(str(conll_small))[:150], tok, 48), tok, seed=0)
    cache = mlm_cache(str(teacher), m, tmp_path, k=8, batch_size=32, progress=False)
    token_map = torch.randperm(len(tok))        # a pruned student's map: teacher id -> embedding row
    for c in (cache, None):
        ex = MlmExamples(m, c, token_map, tok.pad_token_id)
        for idx in length_batches(ex.lengths, 16, shuffle=True, seed=2):
            assert_same_batch(ex.collate(idx.tolist()), ref_mlm_collate(m, c, token_map, tok.pad_token_id, idx.tolist()))
