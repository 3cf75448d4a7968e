"""The options of ``xarchkd bench`` (``bench.py`` runs it). Kept apart so that building the CLI's parser
imports neither torch nor transformers: listing recipes or printing a config stays cheap."""
from __future__ import annotations

DESCRIPTION = "CPU latency and size benchmark: teachers and students side by side, in one process."


def _csv(kind):
    def parse(s):
        return [kind(x) for x in s.split(",") if x.strip()]
    return parse


def _length(x):
    """``"real"`` or a sub-word count, from a string or an int."""
    x = str(x).strip()
    return "real" if x == "real" else int(x)


def add_parser(sub, formatter_class) -> None:
    """Register ``xarchkd bench`` on the CLI's sub-parsers (``formatter_class``: the CLI's help formatter)."""
    p = sub.add_parser("bench", help="CPU latency / size benchmark of teachers and students, interleaved",
                       description=DESCRIPTION, formatter_class=formatter_class)
    add_arguments(p)


def add_arguments(p) -> None:
    import argparse
    p.add_argument("--teacher", action="append", default=[], help="teacher folder or resource name (repeatable)")
    p.add_argument("--student", action="append", default=[], help="student folder (repeatable)")
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument("--threads", type=_csv(int), default=[1, 2], help="torch thread counts, comma separated")
    p.add_argument("--batch-sizes", type=_csv(int), default=[1, 32], help="sentences per call, comma separated")
    p.add_argument("--lengths", type=_csv(_length), default=["real", 32, 128],
                   help="'real' (CoNLL test sentences) and/or fixed sub-word lengths")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per model and setting (default 30; 5 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="few repeats and a 200-sentence F1 subset")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="score F1 on the first N test sentences (0: no F1; default all, 200 with --quick)")
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True, help="add int8 dynamic-quantised students")
    p.add_argument("--export", action=argparse.BooleanOptionalAction, default=True, help="add TorchScript students")
    p.add_argument("--e2e-repeats", type=int, default=None,
                   help="timed text-in -> entities-out calls per model on real sentences (0: none; default = repeats)")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True, help="measure peak RSS growth")
    p.add_argument("--data", default="conll2003", help="resource name or folder with test.txt")
    p.add_argument("--seed", type=int, default=0, help="seed for the sentences drawn per call")
    p.add_argument("--task", choices=("ner", "mlm"), default="ner",
                   help="mlm: masked-LM teachers and MLM students (latency and size only; no F1, no e2e)")
