"""The ``xarchkd`` command: subcommands over the Python API.

Errors a user can cause print one line and exit with status 2 (no traceback unless ``--debug``).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Print ``(default: X)`` beside an option, except where there is no default to print (None)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def _p(sub, name, help_, **kw):
    return sub.add_parser(name, help=help_, description=help_, formatter_class=_Defaults, **kw)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="xarchkd", description="Cross-architecture knowledge distillation: "
                                 "BERT-family teachers into small LSTM / SRU / SRU++ / CNN students.")
    ap.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = _p(sub, "recipes", "list the named recipes")

    p = _p(sub, "resources", "list or fetch the bundled offline resources")
    p.add_argument("names", nargs="*", help="resources to fetch (none: list them)")

    p = _p(sub, "run", "run a recipe end to end and write OUT/results.json")
    p.add_argument("recipe", help="recipe name (see `xarchkd recipes`)")
    p.add_argument("--out", default=None, help="run folder (default runs/<recipe>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3 (repeatable)")
    p.add_argument("--config", default=None, help="a TOML config over the recipe's (all of OUT/config.toml, or "
                   "only the keys to change); --set applies after it")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--upload", default=None, help="push checkpoints to s3://bucket/prefix")
    p.add_argument("--init-from", default=None, help="start the student's encoder from another student folder")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = _p(sub, "teacher", "fine-tune an encoder into a NER teacher (reused by fingerprint)")
    p.add_argument("--encoder", default="minilm-l6", help="resource name, folder or Hub id")
    p.add_argument("--data", default="conll2003", help="resource name or folder with train/valid/test .txt")
    p.add_argument("--epochs", type=int, default=5, help="training epochs; the best valid epoch is kept")
    p.add_argument("--min-steps", type=int, default=1000,
                   help="a small train split trains for more epochs, to at least this many optimizer steps (0: off)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (AdamW, 10%% warm-up, linear decay)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    p.add_argument("--max-length", type=int, default=128, help="sub-words per row; longer sentences are split")
    _scheme_option(p)
    p.add_argument("--out", default=None, help="output folder (default under $XARCHKD_HOME/teachers)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                   help="autocast precision on a GPU (refused on the CPU); not part of the teacher's fingerprint")

    p = _p(sub, "subset", "few labels, plenty of text: write OUT/train.txt (the first N train sentences), "
           "OUT/valid.txt and OUT/test.txt (copies), and OUT/rest.txt (the other train sentences, for "
           "data.transfer=conll:OUT/rest.txt, which reads their words only)")
    p.add_argument("n", type=int, help="labelled train sentences to keep (the first N)")
    p.add_argument("--data", default="conll2003", help="resource name or folder with train/valid/test .txt")
    _scheme_option(p)
    p.add_argument("--out", required=True, help="the new data folder")

    p = _p(sub, "cache", "build (or verify) the teacher-logits cache for a NER data split")
    p.add_argument("--teacher", required=True, help="token-classification teacher folder")
    p.add_argument("--data", default="conll2003", help="resource name or folder with train/valid/test .txt")
    p.add_argument("--split", default="train", choices=("train", "valid", "test"), help="which split's rows to cache")
    _scheme_option(p)
    p.add_argument("--max-length", type=int, default=128, help="sub-words per row; longer sentences are split")
    p.add_argument("--root", default=None, help="cache folder (default $XARCHKD_HOME/cache)")
    p.add_argument("--hidden", action="store_true", help="also store the teacher's last hidden states")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                   help="teacher autocast on a GPU (refused on the CPU); logits are stored fp16 either way")
    p.add_argument("--batch-size", type=int, default=64, help="rows per teacher batch (part of the batch plan, "
                   "not of the fingerprint: a different size rebuilds nothing that exists)")
    p.add_argument("--limit", type=int, default=0, help="cache the split's first N sentences only (0: all)")
    p.add_argument("--rows", default=None, help="cache a rows store made by `xarchkd corpus` (its folder) instead "
                   "of a split of --data")

    p = _p(sub, "corpus", "read a transfer corpus (text, JSON lines or parquet; a file or a folder) into an on-disk "
           "rows store, splitting and encoding in parallel (reused by fingerprint; data.transfer=corpus:PATH in a run)")
    p.add_argument("path", help="a .txt/.jsonl/.json/.parquet file, or a folder of one kind")
    p.add_argument("--teacher", required=True, help="teacher folder: its tokenizer and label names")
    p.add_argument("--field", default="text", help="the text field of JSON records or parquet rows")
    p.add_argument("--max-length", type=int, default=128, help="sub-words per row; longer sentences are split")
    p.add_argument("--limit", type=int, default=0, help="a seeded choice of N sentences (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seeds the choice of --limit sentences")
    p.add_argument("--num-proc", type=int, default=0, help="processes for splitting and encoding (0: every CPU, "
                   "or $XARCHKD_NUM_PROC)")
    p.add_argument("--root", default=None, help="where the store goes (default $XARCHKD_HOME/cache, beside the "
                   "teacher caches)")

    _model_commands(sub)

    p = _p(sub, "fill", "fill [MASK] tokens: teacher and student top-5 side by side, with scores and time")
    p.add_argument("text", help='text with [MASK], e.g. "Happy birthday to [MASK]!"')
    p.add_argument("--teacher", required=True, help="masked-LM teacher folder")
    p.add_argument("--student", default=None, help="MLM student folder")
    p.add_argument("-k", type=int, default=5, help="how many guesses per [MASK]")

    p = _p(sub, "serve", "a local web page: teacher and student side by side (NER entities or fill-mask top-5)")
    p.add_argument("--teacher", required=True, help="teacher folder (token classification or masked-LM)")
    p.add_argument("--student", required=True, help="student folder, or an `xarchkd export` folder (run by ONNX Runtime)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (local only by default)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")

    from .tools.bench import options as bench_options     # torch-free: the harness is imported when the command runs
    bench_options.add_parser(sub, _Defaults)
    return ap


def _model_commands(sub) -> None:
    """The parsers of ``eval`` and ``predict`` (a student or teacher folder, scored or tagging text)."""
    p = _p(sub, "eval", "score a student (or teacher) folder on a CoNLL split with seqeval")
    p.add_argument("model", help="student or teacher folder")
    p.add_argument("--data", default=None, help="resource name or folder with train/valid/test .txt (default: the "
                   "data the model was trained on, as its folder records; else conll2003)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="split to score")
    _scheme_option(p, None, " (default: the model's recorded scheme, else IOB2)")
    p.add_argument("--decode", choices=("argmax", "bio", "crf"), default=None,
                   help="a student's tag decoding (default: the one it was saved with; crf: a CRF student's only)")

    p = _p(sub, "predict", "tag sentences with a student or teacher (one sentence per line on stdin or args)")
    p.add_argument("model", help="student or teacher folder, or an exported student (`xarchkd export`: runs "
                   "with ONNX Runtime, no torch)")
    p.add_argument("--teacher", default=None, help="teacher folder (for a student: its tokenizer)")
    p.add_argument("--int8", action="store_true", help="an exported student: run its int8 graph")
    p.add_argument("text", nargs="*", help="sentences (default: read stdin)")

    p = _p(sub, "export", "write a NER student as OUT/model.onnx + tokenizer.json + labels, decode and word-shape "
           "rules (xarchkd_export.json, with checksums), for ONNX Runtime without torch (xarchkd_runtime)")
    p.add_argument("student", help="NER student folder")
    p.add_argument("out", help="the export folder (new, or an earlier export to replace)")
    p.add_argument("--int8", action="store_true", help="also OUT/model.int8.onnx (ONNX Runtime dynamic "
                   "quantisation, QInt8)")
    p.add_argument("--teacher", default=None, help="teacher folder (for a student saved without its tokenizer)")


def _scheme_option(p, default="AUTO", more="") -> None:
    p.add_argument("--scheme", default=default, type=str.upper, choices=("AUTO", "IOB2", "BIO", "IOB1", "BIOES"),
                   help="the data's tag scheme, detected from the files by default (IOB1, BIOES read into IOB2)" + more)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a job scheduler), raised where the process is, so it unwinds as Ctrl-C does:
    a teacher's ``.partial`` folder removed, the run's resume hint said (it used to end the process at once)."""


def _on_sigterm(pid: int):
    """The SIGTERM handler of process ``pid``: raise ``Terminated`` there, once (a second SIGTERM ends the process
    at once, as a second Ctrl-C would); a forked worker that inherited it (the processes of ``datasets``' ``map``,
    which their pool ends with SIGTERM) dies as SIGTERM's default would have it."""
    def handler(signum, frame):
        signal.signal(signum, signal.SIG_DFL)
        if os.getpid() != pid:
            os.kill(os.getpid(), signum)
            return
        raise Terminated
    return handler


def main(argv=None) -> int:
    """The ``xarchkd`` command: parse ``argv`` (default ``sys.argv[1:]``), run it, and return the exit status
    (0; 2 for a one-line error; 130 for Ctrl-C, 143 for SIGTERM, each unwinding the work in progress). On the main
    thread, where SIGTERM has its default action, SIGTERM is turned into ``Terminated`` while the command runs."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ap = build_parser()
    args = ap.parse_args(argv)
    handle = (threading.current_thread() is threading.main_thread()      # only there can a handler be set
              and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)     # a SIGTERM ignored by the parent stays so
    if handle:
        signal.signal(signal.SIGTERM, _on_sigterm(os.getpid()))
    try:
        return _main(args)
    finally:
        if handle:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main(args) -> int:
    from .errors import ONE_LINE
    try:
        return int(_dispatch(args) or 0)
    except ONE_LINE as e:
        if args.debug:
            raise
        print(f"xarchkd: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        term = isinstance(e, Terminated)
        print(f"xarchkd: {'stopped by SIGTERM' if term else 'interrupted'}{_resume_hint(args)}", file=sys.stderr)
        return 143 if term else 130
    except Exception as e:      # a full disk met where no save said what it keeps: still one line, no traceback
        from .disk import FULL, full_disk_errno
        code = full_disk_errno(e)
        if code is None or args.debug:
            raise
        where = getattr(e, "filename", None)
        hint = _resume_hint(args)
        print(f"xarchkd: error: {f'{where}: ' if where else ''}{FULL[code]} ({type(e).__name__}): free space and run "
              f"again{hint if hint.startswith(';') else ''}", file=sys.stderr)
        return 2


def _resume_hint(args) -> str:
    """What an interrupted ``xarchkd run`` can do next: ``--resume`` when its run folder has a checkpoint, else
    that there is nothing to resume (other commands: nothing)."""
    from pathlib import Path
    out = getattr(args, "run_out", None)
    if args.cmd != "run" or out is None:
        return ""
    here = Path(out).resolve()
    if (here / "checkpoints" / "last").is_dir():
        return (f"; continue the run with: xarchkd run {args.recipe} --config {here / 'config.toml'} --out {here} "
                "--resume")
    return (" before the run's first checkpoint (nothing to --resume; a teacher, cache or rows store finished "
            "before the interruption is reused by the next run)")


def _dispatch(args):
    if args.cmd == "recipes":
        from .recipe import recipes
        for name, r in sorted(recipes().items()):
            print(f"{name:24s} {r.description}")
    elif args.cmd == "resources":
        from .data.resources import RESOURCES, fetch, path
        if not args.names:
            for n, r in RESOURCES.items():
                state = "fetched" if (path(n) / r.marker).exists() else "not fetched"
                print(f"{n:22s} {r.kind:6s} {state:12s} {r.description}")
        for n in args.names:
            print(fetch(n))
    elif args.cmd == "run":
        return _run(args)
    elif args.cmd == "teacher":
        from .config import check_values
        check_values({"teacher.epochs": args.epochs, "teacher.lr": args.lr, "teacher.batch_size": args.batch_size,
                      "teacher.min_steps": args.min_steps, "data.max_length": args.max_length},
                     label=_TEACHER_OPTIONS.get)
        from .preflight import check_positions
        from .disk import check_writable
        from .data.resources import home
        check_writable(args.out or home(), "--out" if args.out else "XARCHKD_HOME")
        check_positions(args.encoder, args.max_length, label="--max-length")
        from .teachers.finetune import ner_teacher
        print(ner_teacher(args.encoder, args.data, out=args.out, epochs=args.epochs, lr=args.lr,
                          batch_size=args.batch_size, max_length=args.max_length,
                          mixed_precision=args.mixed_precision, scheme=args.scheme, min_steps=args.min_steps))
    elif args.cmd == "subset":
        from .data.subset import write_subset
        counts = write_subset(args.data, args.n, args.out, scheme=args.scheme)
        print(json.dumps({"out": args.out, "sentences": counts}))
    elif args.cmd == "cache":
        _cache(args)
    elif args.cmd == "corpus":
        _corpus(args)
    elif args.cmd == "eval":
        _eval(args)
    elif args.cmd == "predict":
        _predict(args)
    elif args.cmd == "export":
        from .tools.export import export_student
        m = export_student(args.student, args.out, int8=args.int8, tokenizer=args.teacher)
        print(json.dumps({"out": args.out, "files": sorted(m["files"]), "checks": m["checks"]}))
    elif args.cmd == "serve":
        from .tools.serve import serve
        serve(args.teacher, args.student, args.host, args.port)
    elif args.cmd == "fill":
        _fill(args)
    elif args.cmd == "bench":
        from .tools.bench.run import main_from_args
        return main_from_args(args)


_TEACHER_OPTIONS = {"teacher.epochs": "--epochs", "teacher.lr": "--lr", "teacher.batch_size": "--batch-size",
                    "teacher.min_steps": "--min-steps", "data.max_length": "--max-length"}


def _run(args):
    from pathlib import Path
    from .config import to_toml
    from .recipe import get_recipe, resolve_config
    recipe = get_recipe(args.recipe)
    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"out={args.out}")
    if args.upload:
        overrides.append(f"upload={args.upload}")
    if args.init_from:
        overrides.append(f"init_from={args.init_from}")
    cfg = resolve_config(args.recipe, overrides, config_file=args.config)
    args.run_out = cfg.run_folder()     # the runners' folder; for Ctrl-C's hint
    if args.print_config:
        print(to_toml(cfg), end="")
        return 0
    res = recipe.run(cfg, resume=args.resume, progress=not args.quiet)
    if not res:      # a non-main rank of a multi-process launch: the main process reports
        return 0
    _print_table(res)
    print(f"results: {Path(cfg.out) / 'results.json'}")


def _print_table(res: dict) -> None:
    t, s = res["teacher"], res["student"]
    metric = "f1" if res["task"] == "ner" else "top5"
    score = lambda v: "n/a" if v is None else f"{v:.4f}"     # noqa: E731  (0.0 is a score, not a gap)
    rows = [("model", "params", "MB", metric.upper()),
            (f"teacher {t.get('name', '')}", f"{t.get('params') or 0:,}", f"{t.get('size_mb') or 0:.1f}",
             score(t.get(metric))),
            (f"student {s['arch']}{'' if res.get('kd', True) else ' (no KD)'}", f"{s['params']:,}",
             f"{s['size_mb']:.1f}", score(s.get(metric)))]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
    print(f"train_seconds: {res['train_seconds']}")


def _cache(args):
    from pathlib import Path
    from .config import check_values
    check_values({"data.max_length": args.max_length}, label=lambda k: "--max-length")
    from .data.ner_data import load_splits
    from .data.ner_data import encode_sentences
    from .data.resources import home, resolve
    from .teachers.cache import ner_cache
    from .teachers.teacher import Teacher
    tpath = resolve(args.teacher)
    if args.rows:
        from .data.rowstore import open_store
        rows = open_store(os.path.expanduser(args.rows))    # before the teacher loads: a bad store fails at once
    teacher = Teacher.load(tpath, "ner", mixed_precision=args.mixed_precision)     # on the GPU if there is one
    if not args.rows:
        split = load_splits(args.data, args.scheme, need=(args.split,))[args.split]
        n = args.limit or len(split)
        rows = encode_sentences(list(split["words"][:n]), list(split["tags"][:n]), teacher.tokenizer,
                                teacher.labels, args.max_length, source=args.split)
    # under `accelerate launch` every process computes its share of the batches; the main one reports
    c = ner_cache(teacher, rows, Path(args.root) if args.root else home() / "cache", hidden=args.hidden,
                  batch_size=args.batch_size)
    from .teachers.shards import is_main_process
    if is_main_process():
        print(json.dumps({"path": str(c.path), "rows": len(c), "bytes": c.size_bytes, "build": c.manifest["build"],
                          "teacher_forwards_this_call": teacher.forward_count}, indent=2))


def _corpus(args):
    from pathlib import Path
    from .config import check_values
    check_values({"data.max_length": args.max_length}, label=lambda k: "--max-length")
    from .data.corpus import check_corpus, corpus_rows
    from .data.resources import home, resolve
    check_corpus(args.path, args.field)              # before the teacher folder is read
    tpath = resolve(args.teacher)
    cfg_file = Path(tpath) / "config.json"
    from .folder_config import config_labels
    try:
        labels = config_labels(json.loads(cfg_file.read_text()))
    except (OSError, ValueError, AttributeError) as e:
        from .errors import ConfigError
        raise ConfigError(f"--teacher {args.teacher}: cannot read {cfg_file} ({e})") from None
    store = corpus_rows(args.path, tpath, labels, Path(args.root) if args.root else home() / "cache",
                        args.max_length, n=args.limit or None, seed=args.seed, field=args.field,
                        num_proc=args.num_proc or None)
    m = store.manifest
    print(json.dumps({"path": str(store.path), "sentences": m["n_sentences"], "rows": m["n_rows"],
                      "tokens": m["n_tokens"], "words": m["n_words"], "bytes": store.size_bytes,
                      "source": m["source"], "build": m["build"]}, indent=2))


def _eval(args):
    from .data.ner_data import load_splits
    from .data.ner_data import encode_sentences
    from .data.resources import resolve
    from .distill.metrics import evaluate_tags
    from .distill.predict import predict_student
    from .errors import ConfigError, DataError
    from .load import load_model
    from .tasks.ner import trained_on
    kind, m, tok = load_model(args.model)
    labels = m.cfg.labels if kind == "student" else m.labels
    if args.decode and kind == "student":
        if args.decode == "crf" and m.crf is None:
            raise ConfigError(f"--decode crf: student {args.model} has no CRF scores (it was trained with "
                              f"decode={m.cfg.decode!r}); use --decode argmax or bio")
        m.cfg.decode = args.decode
    own = trained_on(resolve(args.model))
    data = args.data or (own["path"] if os.path.isdir(own.get("path", "")) else own.get("name", "conll2003"))
    split = load_splits(data, args.scheme or own.get("scheme", "auto"), need=(args.split,))[args.split]
    unknown = sorted({t for seq in split["tags"] for t in seq} - set(labels))
    if unknown:
        hint = (f"it was trained on {own.get('name')} ({own.get('path')}): pass --data {own.get('path')}" if own else
                "pass --data with the data it was trained on")
        raise DataError(f"{kind} {args.model} does not know the tags {unknown} in {args.split}.txt (it knows "
                        f"{', '.join(labels)}); {hint}", str(resolve(data)))
    rows = encode_sentences(list(split["words"]), list(split["tags"]), tok, labels, 128, source=args.split)
    pred = predict_student(m, rows) if kind == "student" else m.predict_tags(rows)
    res = evaluate_tags(pred, rows, list(split["tags"]))
    decode = {"decode": m.cfg.decode} if kind == "student" else {}
    print(json.dumps({"model": args.model, "data": str(data), "split": args.split, **decode, **res}, indent=2))


def _predict(args):
    from xarchkd_runtime.bundle import is_export
    words = _sentences(args)               # before any model loads: bad input fails at once
    if is_export(args.model):              # ONNX Runtime: imports no torch
        from xarchkd_runtime import Tagger
        tagger = Tagger(args.model, int8=args.int8)
        return _print_tags(words, tagger.tag_words(words))
    from .data.ner_data import encode_sentences, join_sentences
    from .distill.predict import predict_student
    from .load import load_model
    kind, m, tok = load_model(args.model, args.teacher)
    labels = m.cfg.labels if kind == "student" else m.labels
    rows = encode_sentences(words, None, tok, labels, 128)
    pred = predict_student(m, rows) if kind == "student" else m.predict_tags(rows, progress=False)
    _print_tags(words, join_sentences(rows.sent_id, pred))


def _sentences(args) -> list[list[str]]:
    """The sentences to tag, as word lists: the arguments, else stdin's non-blank lines (bytes that are not
    UTF-8 are an error naming the argument or line)."""
    from .data.input_text import check_argument, decode_lines
    if args.text:
        lines = [check_argument(t, f"argument {i}") for i, t in enumerate(args.text, start=1)]
    else:
        buf = getattr(sys.stdin, "buffer", None)
        lines = decode_lines(buf.read()) if buf is not None else sys.stdin.read().splitlines()
    return [l.split() for l in lines if l.strip()]


def _print_tags(words, tags) -> None:
    for ws, ts in zip(words, tags):
        print(" ".join(f"{w}/{t}" if t != "O" else w for w, t in zip(ws, ts)))


def _fill(args):
    from .distill.predict import fill_mask, student_fill_logits, teacher_fill_logits
    from .load import load_student, load_teacher
    t = load_teacher(args.teacher, "mlm")
    models = {"teacher": teacher_fill_logits(t)}
    if args.student:
        models["student"] = student_fill_logits(load_student(args.student, t.tokenizer, task="mlm")[0])
    for name, res in fill_mask(args.text, t.tokenizer, models, k=args.k, warmup=True).items():
        print(f"{name} ({res['ms']:.1f} ms)")
        for fills in res["fills"]:
            print("  " + "  ".join(f"{f['token']} {f['score']:.3f}" for f in fills))


if __name__ == "__main__":
    sys.exit(main())
