"""``xarchkd bench``: CPU latency and size of teachers and students side by side, in one process.

    xarchkd bench --teacher DIR --student DIR [--student DIR ...] --json OUT

Every model (each teacher; each student in fp32, int8 dynamic quantisation and TorchScript) is
loaded into this one process, and the timed calls are taken in *turns*: each model makes ``turn``
(default 10) consecutive calls, then the next model takes its turn, in an order rotated per round, so
background load hits all models alike and a speedup is a ratio taken side by side, while each model runs
with warm CPU caches as it would in a process serving it (``--turn 1`` interleaves every call: a
few-MB student then starts each call with the CPU caches a 436 MB teacher has just flushed; docs/results/speed.md
has a run of each on the same models, a day apart).

Settings: ``torch.set_num_threads`` in ``threads`` x batch sizes x lengths x mode.

- length ``"real"``: batches of real sentences drawn (seeded) from the CoNLL-2003 test split;
  an integer ``L``: windows of exactly ``L`` sub-words (with [CLS]/[SEP]) cut from the same text,
  every sub-word treated as a word.
- mode ``"model"``: the forward pass only (padded ids in, logits at word positions out);
  ``"e2e"`` (real sentences only): text in -> entities out, i.e. whitespace split, tokenisation
  (``encode_sentences``), padding, forward, the model's own decode (``predict.predict_tags``: argmax, or a
  student's BIO Viterbi), entity spans (``spans.entity_spans``).

Per model and setting: ``p50_ms``, ``p95_ms``, ``mean_ms``, ``sent_per_s`` (batch / mean latency),
``params``, ``size_mb`` (bytes on disk of the weights file as loaded/saved), ``peak_rss_mb`` and,
for students, ``speedup_p50`` (teacher p50 / student p50 for each teacher, same setting).

Memory: ``peak_rss_mb`` is the peak resident-set growth during one warm-up call (Linux:
``VmHWM - VmRSS`` after resetting the high-water mark through ``/proc/self/clear_refs``), i.e.
activation/workspace memory of that call; ``load_rss_mb`` is the RSS growth when the model was
loaded. Both are ``None`` where ``/proc`` is not available.

Quality: each model's F1 (seqeval, via ``metrics.evaluate_tags``) on the test split (or its first
``eval_limit`` sentences), so the cost of int8 / export is visible next to fp32 on the same sentences.
A teacher folder without a token-classification head (e.g. the ``mpnet-base`` encoder) gets a random
head: its latency is real, its F1 is reported as ``None`` (n/a).

Masked-LM models: with ``task="mlm"`` (``--task mlm``) teachers load as ``AutoModelForMaskedLM`` and
the students must be MLM students; all are timed as fill-mask (what ``xarchkd fill`` does): each row's
middle word becomes the mask token and only that position goes through the vocabulary-wide LM head
(the teacher through ``teacher.MaskedLogits``). No F1 and no end-to-end rows (their quality is the
run's top-k accuracy in ``results.json``).

The package, one job a module: ``options`` (the command line and ``BenchConfig``; torch-free, so building
the CLI's parser stays cheap; it imports no other module of the package), ``models`` (loading the entries), ``inputs`` (sentences, batches, the e2e
call), ``timing`` (timing in turns, memory, CPU share, machine), ``report`` (records, F1, speed-ups, the
table) and ``run`` (``run_bench`` and the command, ``main_from_args``): imports flow options, timing ->
models -> inputs -> report -> run. Their public names are importable from ``xarchkd.tools.bench`` too, loaded
on first use.
"""
import importlib

_LAZY = {
    "options": ("BenchConfig", "DESCRIPTION", "add_arguments", "add_parser", "config_from_args"),
    "models": ("CONLL_LABELS", "QUANTISABLE", "Entry", "teacher_entry", "student_entries", "student_name",
               "quantize", "quantized_summary", "export_student", "load_entries"),
    "inputs": ("Corpus", "model_batch", "fill_mask_batch", "tag_texts", "timed_calls"),
    "timing": ("MEMORY_METHOD", "BUSY_SHARE", "peak_rss_mb", "rss_mb", "rss_growth_mb", "time_setting", "num_threads", "cpu_share",
               "oversubscription_warnings", "machine_info"),
    "report": ("entry_f1", "model_records", "add_speedups", "summary_table"),
    "run": ("run_bench", "main_from_args"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'xarchkd.tools.bench' has no attribute {name!r}")
