"""``xarchkd bench``'s command line and settings: its options, ``BenchConfig`` (what to measure) and
``config_from_args``. Importing this module imports neither torch nor transformers (building the CLI's parser
stays cheap); the command itself is ``run.main_from_args``."""
from __future__ import annotations

from dataclasses import dataclass

DESCRIPTION = "CPU latency and size benchmark: teachers and students side by side, in one process."


def _csv(kind):
    def parse(s):
        return [kind(x) for x in s.split(",") if x.strip()]
    return parse


def _at_least_one(s):
    """An int >= 1, or argparse's one-line error."""
    import argparse
    n = int(s)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: must be at least 1")
    return n


def _length(x):
    """``"real"`` or a sub-word count, from a string or an int."""
    x = str(x).strip()
    return "real" if x == "real" else int(x)


@dataclass
class BenchConfig:
    """What to measure (defaults: the issue's full grid)."""
    threads: tuple = (1, 2)
    batch_sizes: tuple = (1, 32)
    lengths: tuple = ("real", 32, 128)   # "real" (CoNLL test sentences) or a sub-word count
    repeats: int = 30                    # timed calls per model and model-only setting
    warmup: int = 3
    turn: int = 10                       # consecutive timed calls per model before the next model's turn (1: every
                                         # call interleaved, the bench's method before 2026-12-03)
    e2e: int = 30                        # timed calls per model for end to end (real sentences); 0: none
    task: str = "ner"                    # "ner" (token classification) | "mlm" (masked-LM teachers and students)
    int8: bool = True
    export: bool = True
    onnx: bool = True                    # students exported to ONNX, run by ONNX Runtime in fp32 and int8
    memory: bool = True                  # measure peak RSS growth of a warm-up call
    eval_limit: int | None = None        # sentences of the split scored for F1; None = all, 0 = no F1
    data: str = "conll2003"
    split: str = "test"
    seed: int = 0

    def __post_init__(self):
        self.lengths = tuple(_length(x) for x in self.lengths)
        self.threads, self.batch_sizes = tuple(self.threads), tuple(self.batch_sizes)
        if self.turn < 1:
            raise ValueError(f"turn={self.turn}: must be at least 1 (calls per model in a row)")


def add_parser(sub, formatter_class) -> None:
    """Register ``xarchkd bench`` on the CLI's sub-parsers (``formatter_class``: the CLI's help formatter)."""
    p = sub.add_parser("bench", help="CPU latency / size benchmark of teachers and students, timed side by side",
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
    p.add_argument("--turn", type=_at_least_one, default=10,
                   help="consecutive calls per model before the next model's turn: its caches stay warm, as in a "
                        "process serving one model, and the turns rotate so drift hits every model (1: every call "
                        "interleaved)")
    p.add_argument("--quick", action="store_true", help="few repeats and a 200-sentence F1 subset")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="score F1 on the first N test sentences (0: no F1; default all, 200 with --quick)")
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True, help="add int8 dynamic-quantised students")
    p.add_argument("--export", action=argparse.BooleanOptionalAction, default=True, help="add TorchScript students")
    p.add_argument("--onnx", action=argparse.BooleanOptionalAction, default=True,
                   help="add ONNX Runtime fp32 and int8 students (exported as `xarchkd export` does; the export extra)")
    p.add_argument("--e2e-repeats", type=int, default=None,
                   help="timed text-in -> entities-out calls per model on real sentences (0: none; default = repeats)")
    p.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True, help="measure peak RSS growth")
    p.add_argument("--data", default="conll2003", help="resource name or folder with test.txt")
    p.add_argument("--seed", type=int, default=0, help="seed for the sentences drawn per call")
    p.add_argument("--task", choices=("ner", "mlm"), default="ner",
                   help="mlm: masked-LM teachers and MLM students (latency and size only; no F1, no e2e)")


def config_from_args(args) -> BenchConfig:
    """The ``BenchConfig`` the parsed options ask for (``--quick``: few repeats, a 200-sentence F1 subset)."""
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 30)
    return BenchConfig(threads=args.threads, batch_sizes=args.batch_sizes, lengths=args.lengths, repeats=repeats,
                       warmup=args.warmup if args.warmup is not None else (1 if args.quick else 3), turn=args.turn,
                       e2e=repeats if args.e2e_repeats is None else args.e2e_repeats, memory=args.memory,
                       int8=args.int8, export=args.export, onnx=args.onnx,
                       eval_limit=args.eval_limit if args.eval_limit is not None else (200 if args.quick else None),
                       data=args.data, seed=args.seed, task=args.task)
