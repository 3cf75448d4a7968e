"""``xarchkd serve``: a local web page with teacher and student side by side (the seed thesis's demo).

NER students: the user types a sentence and sees each model's entities highlighted, with its
latency. MLM students: text with [MASK] shows each model's top-5 fills with scores. Standard
library HTTP server only; it binds to 127.0.0.1 by default.
"""
from __future__ import annotations

import errno
import html
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>xarchkd: teacher vs student</title>
<style>body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;color:#222}
textarea{width:100%;font-size:1.1em}button{font-size:1.1em;margin:.5em 0}
.model{border:1px solid #ccc;border-radius:6px;padding:.8em;margin:.6em 0}.model h3{margin:.1em 0 .4em}
mark{padding:0 .2em;border-radius:3px}.PER{background:#ffd6a5}.ORG{background:#bde0fe}.LOC{background:#caffbf}
.MISC{background:#e4c1f9}.tag{font-size:.7em;vertical-align:super;color:#555}.ms{color:#666;font-size:.9em}
</style></head><body><h2>xarchkd &mdash; teacher vs student (__TASK__)</h2>
<p>__HELP__</p><textarea id="text" rows="3">__EXAMPLE__</textarea><br><button id="go">Run both</button>
<div class="model" id="teacher"><h3>Teacher: __TNAME__</h3><div class="out"></div></div>
<div class="model" id="student"><h3>Student: __SNAME__</h3><div class="out"></div></div>
<script>
function esc(s){return s.replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
function render(r){
  if(r.entities!==undefined){let out=[],i=0;for(const e of r.entities){while(i<e.start)out.push(esc(r.words[i++]));
    out.push('<mark class="'+e.type+'">'+esc(r.words.slice(e.start,e.end).join(' '))+'<span class="tag">'+e.type+'</span></mark>');i=e.end}
    while(i<r.words.length)out.push(esc(r.words[i++]));return out.join(' ')+' <span class="ms">'+r.ms.toFixed(1)+' ms</span>'}
  return r.fills.map(f=>f.map(c=>esc(c.token)+' <small>'+c.score.toFixed(3)+'</small>').join(' &middot; ')).join('<br>')
    +' <span class="ms">'+r.ms.toFixed(1)+' ms</span>'}
document.getElementById('go').onclick=async()=>{
  const r=await fetch('/api',{method:'POST',body:JSON.stringify({text:document.getElementById('text').value})});
  const j=await r.json();
  for(const k of ['teacher','student']){document.querySelector('#'+k+' .out').innerHTML=j.error?esc(j.error):render(j[k])}
  document.body.dataset.done=(+document.body.dataset.done||0)+1};
</script></body></html>"""


class Demo:
    """Loaded teacher + student and the two ways to run them."""

    def __init__(self, teacher: str, student: str):
        from ..load import load_student, load_teacher
        from xarchkd_runtime.bundle import is_export
        sp = Path(student)
        run = sp.parent.name if sp.name == "student" else sp.name
        if is_export(student):         # an `xarchkd export` folder: the student runs in ONNX Runtime (NER only)
            from xarchkd_runtime import Tagger
            self.student, self.tagger, self.task = None, Tagger(student), "ner"
            m = self.tagger.bundle.manifest
            what = f"{m['block']}, {m['source']['params'] / 1e6:.1f}M params, ONNX Runtime ({run})"
        else:
            self.student, self.tagger = load_student(student, tokenizer=teacher)[0], None  # teacher's tokenizer if none
            self.task = self.student.cfg.task
            what = f"{self.student.cfg.block}, {self.student.num_parameters() / 1e6:.1f}M params ({run})"
        # on the CPU like the student, so the page's side-by-side milliseconds compare like with like
        self.teacher = load_teacher(teacher, self.task, device="cpu")
        self.tok = self.teacher.tokenizer
        tname = self.teacher.info.get("encoder")
        self.names = (f"{tname} (fine-tuned)" if tname else Path(teacher).name, what)
        self.labels = self.tagger.labels if self.tagger else self.student.cfg.labels

    def ner(self, text: str) -> dict:
        from ..data.ner_data import encode_sentences, join_sentences
        from xarchkd_runtime.spans import entity_spans
        from ..data.text import words as split_words
        from ..distill.predict import predict_student
        ws = split_words(text)
        if not ws:
            return {"error": "type a sentence"}
        rows = encode_sentences([ws], None, self.tok, self.labels, 128)
        student = (lambda: self.tagger.tag_words([ws])[0]) if self.tagger else \
            (lambda: join_sentences(rows.sent_id, predict_student(self.student, rows))[0])
        out = {}
        for name, fn in (("teacher", lambda: join_sentences(rows.sent_id, self.teacher.predict_tags(rows,
                                                                                                    progress=False))[0]),
                         ("student", student)):
            t0 = time.perf_counter()
            tags = fn()
            out[name] = {"words": ws, "tags": tags, "ms": (time.perf_counter() - t0) * 1000,
                         "entities": [{"start": s, "end": e, "type": t} for s, e, t in entity_spans(tags)]}
        return out

    def fill(self, text: str) -> dict:
        from ..distill.predict import fill_mask, student_fill_logits, teacher_fill_logits
        from ..errors import XarchkdError
        try:
            return fill_mask(text, self.tok, {"teacher": teacher_fill_logits(self.teacher),
                                              "student": student_fill_logits(self.student)})
        except XarchkdError as e:
            return {"error": str(e)}

    def page(self) -> str:
        ner = self.task == "ner"
        return (PAGE.replace("__TASK__", "NER" if ner else "fill-mask")
                .replace("__HELP__", "Type a sentence; entities are highlighted." if ner else
                         f"Type text with {html.escape(self.tok.mask_token)}; each model's top-5 fills are shown.")
                .replace("__EXAMPLE__", "Angela Merkel met Emmanuel Macron in Paris on Monday ." if ner else
                         f"The capital of France is {self.tok.mask_token} .")
                .replace("__TNAME__", html.escape(self.names[0])).replace("__SNAME__", html.escape(self.names[1])))


MAX_BODY = 1 << 20        # bytes a request body may have (a sentence is a few hundred)
MAX_TEXT = 2000           # characters of text one request may have tagged (longer is refused, never cut)
BACKLOG = 1024            # connections the kernel queues before the server accepts them (the OS caps it)


class BadRequest(Exception):
    """A request the API refuses: ``code`` is its HTTP status, the message goes back as ``{"error": ...}``."""

    def __init__(self, message: str, code: int = 400):
        super().__init__(message)
        self.code = code


def read_json_body(rfile, headers) -> dict:
    """The request's JSON object body, or ``BadRequest``: a missing or bad Content-Length, a body over
    ``MAX_BODY`` bytes, a body shorter than its Content-Length (the socket's timeout ends the wait), not
    JSON (or nested too deeply to read), or JSON that is not an object with a string ``text`` of Unicode text
    (no lone surrogate) and at most ``MAX_TEXT`` characters (413: refused whole, never cut)."""
    raw = headers.get("Content-Length")
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise BadRequest("a POST needs a Content-Length header with the body's size in bytes", 411) from None
    if n < 0:
        raise BadRequest(f"Content-Length {n} is negative")
    if n > MAX_BODY:
        raise BadRequest(f"the body is {n} bytes; at most {MAX_BODY} are read", 413)
    try:
        body = rfile.read(n)
    except (TimeoutError, OSError):
        body = None
    if body is None or len(body) < n:
        raise BadRequest(f"the body is shorter than its Content-Length ({n} bytes)")
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not JSON ({e})") from None
    except RecursionError:
        raise BadRequest("the body's JSON is nested too deeply to read") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text", ""), str):
        raise BadRequest('the body must be a JSON object like {"text": "Angela Merkel visited Paris ."}')
    from ..data.input_text import unencodable
    text = obj.get("text", "")
    if (why := unencodable(text)) is not None:
        raise BadRequest(why)
    if len(text) > MAX_TEXT:
        raise BadRequest(f"the text is {len(text):,} characters; at most {MAX_TEXT:,} are tagged at once: send it "
                         "in parts", 413)
    return obj


class Server(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog of ``BACKLOG`` (http.server's 5 reset connections under
    a few dozen concurrent clients). ``demo`` is set once the models are loaded; the models run one request at
    a time (``lock``), so concurrent requests queue instead of sharing the CPU's threads."""
    request_queue_size = BACKLOG
    daemon_threads = True
    demo = None
    lock = threading.Lock()


def make_server(demo: Demo | None, host: str = "127.0.0.1", port: int = 8000, timeout: float = 10.0) -> Server:
    """The demo's HTTP server, bound and listening but not started (``demo`` may be set on it later, as
    ``server.demo``). A connection that sends nothing for ``timeout`` seconds (e.g. a body shorter than its
    Content-Length) is answered 400 and closed, never left waiting; every refused request gets a 4xx status and
    ``{"error": ...}``, an unexpected failure a 500 and its one-line reason."""
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code, body: bytes, ctype):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path in ("/", "/index.html"):
                self._send(200, self.server.demo.page().encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self):
            if self.path != "/api":
                return self._send(404, b"not found", "text/plain")
            demo = self.server.demo
            try:
                text = read_json_body(self.rfile, self.headers).get("text", "")
                with self.server.lock:
                    res = demo.ner(text) if demo.task == "ner" else demo.fill(text)
                code = 400 if "error" in res else 200
            except BadRequest as e:
                res, code = {"error": f"bad request: {e}"}, e.code
                self.close_connection = True     # what is left of a refused body is not read
            except Exception as e:               # noqa: BLE001  (a reply, never an empty one)
                res, code = {"error": f"internal error: {type(e).__name__}: {e}"}, 500
            self._send(code, json.dumps(res).encode(), "application/json")

        def log_message(self, *args):
            pass

    Handler.timeout = timeout        # StreamRequestHandler puts it on the socket: a stalled read ends
    server = Server((host, port), Handler)
    server.demo = demo
    return server


def listen(host: str, port: int, timeout: float = 10.0) -> Server:
    """``make_server`` without its demo yet, or ``ConfigError`` naming the port: out of range, in use, or an
    address this machine cannot listen on (checked before the models load, which takes seconds)."""
    from ..errors import ConfigError
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: must be 0 to 65535")
    try:
        return make_server(None, host, port, timeout)
    except (OSError, OverflowError) as e:
        in_use = getattr(e, "errno", None) == errno.EADDRINUSE
        why = "in use by another program" if in_use else getattr(e, "strerror", None) or e
        raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({why}; pick another --port, or 0 for a "
                          "free one)") from None


def serve(teacher: str, student: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Listen on ``host:port`` (checked first), load the teacher and student, and answer until Ctrl-C."""
    server = listen(host, port)
    try:
        server.demo = Demo(teacher, student)
        print(f"[xarchkd] serving on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
