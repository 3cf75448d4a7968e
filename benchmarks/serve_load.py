"""A bounded loopback load test of ``xarchkd serve``: N concurrent clients (200 by default) POST a sentence to
``/api`` on 127.0.0.1, each on a new connection, until a fixed number of requests is done or a time limit
passes; then the server is stopped. Prints p50/p99 latency, throughput and every error (a reset connection, a
non-200 status), as a line of JSON too.

    python benchmarks/serve_load.py                       # tiny random teacher + student made here
    python benchmarks/serve_load.py --teacher T --student S --clients 200 --requests 2000 --time-limit 60

Latency is from opening the connection to the last byte of the reply; the models answer one request at a
time, so under 200 clients it is mostly queueing. Other processes on the machine inflate it: the load average
is printed beside the numbers.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BODY = json.dumps({"text": "Angela Merkel met Emmanuel Macron in Paris on Monday ."}).encode()


def tiny_models(folder: Path) -> tuple[str, str]:
    """A random 2-layer BERT NER teacher and a CNN student on the minilm-l6 tokenizer (a bundled resource)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification
    from students import StudentConfig, StudentModel
    from xarchkd.data.resources import fetch
    labels = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    tok = AutoTokenizer.from_pretrained(str(fetch("minilm-l6", quiet=True)))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=len(labels),
                     id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    BertForTokenClassification(cfg).save_pretrained(folder / "teacher")
    tok.save_pretrained(folder / "teacher")
    StudentModel(StudentConfig(block="cnn", vocab_size=len(tok), embed_dim=16, hidden=16, layers=1,
                               num_labels=len(labels), labels=labels, pad_id=tok.pad_token_id,
                               unk_id=tok.unk_token_id)).save_pretrained(folder / "student")
    return str(folder / "teacher"), str(folder / "student")


def start_server(teacher: str, student: str, wait_s: float = 120.0) -> tuple[subprocess.Popen, int]:
    """``xarchkd serve --port 0`` on 127.0.0.1 and the port it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "xarchkd.cli", "serve", "--teacher", teacher, "--student",
                             student, "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, text=True)
    found = {}
    reader = threading.Thread(target=lambda: found.update(line=proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(wait_s)
    m = re.search(r"127\.0\.0\.1:(\d+)/", found.get("line") or "")
    if not m:
        proc.kill()
        raise SystemExit(f"the server did not start within {wait_s:.0f} s (it said {found.get('line')!r})")
    return proc, int(m.group(1))


def load(port: int, clients: int, requests: int, time_limit: float) -> dict:
    """``clients`` threads share ``requests`` requests, stopping at ``time_limit`` seconds whatever is left."""
    lat, errors, lock = [], [], threading.Lock()
    left = [requests]
    go = threading.Barrier(clients)
    deadline = [0.0]

    def client():
        go.wait()
        while time.perf_counter() < deadline[0]:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            t0 = time.perf_counter()
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=max(1.0, deadline[0] - t0 + 5))
                c.request("POST", "/api", body=BODY)
                r = c.getresponse()
                r.read()
                c.close()
                ok = r.status == 200
                err = None if ok else f"HTTP {r.status}"
            except OSError as e:
                err = type(e).__name__
            with lock:
                (errors.append(err) if err else lat.append(time.perf_counter() - t0))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    deadline[0] = t0 + time_limit
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 30)
    wall = time.perf_counter() - t0
    lat.sort()
    pct = lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None  # noqa: E731
    kinds = {}
    for e in errors:
        kinds[e] = kinds.get(e, 0) + 1
    return {"clients": clients, "requests_asked": requests, "answered_200": len(lat), "errors": len(errors),
            "error_kinds": kinds, "not_sent": max(0, left[0]), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(1000 * lat[-1], 1) if lat else None, "wall_s": round(wall, 1),
            "req_per_s": round(len(lat) / wall, 1), "loadavg_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", help="teacher folder (default: a tiny random one made here)")
    ap.add_argument("--student", help="student folder (default: a tiny random one made here)")
    ap.add_argument("--clients", type=int, default=200, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=2000, help="requests in all (fixed)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds before the clients stop")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teacher, student = (a.teacher, a.student) if a.teacher and a.student else tiny_models(Path(tmp))
        proc, port = start_server(teacher, student)
        try:
            res = load(port, a.clients, a.requests, a.time_limit)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{res['clients']} clients, {res['answered_200']}/{res['requests_asked']} answered 200 in "
          f"{res['wall_s']} s ({res['req_per_s']} req/s); latency p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, "
          f"max {res['max_ms']} ms; errors {res['errors']} {res['error_kinds'] or ''}; load average "
          f"{res['loadavg_1m']} on {res['cpus']} CPUs")
    print(json.dumps(res))
    return 0 if res["errors"] == 0 and res["not_sent"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
