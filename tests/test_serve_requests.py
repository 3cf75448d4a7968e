"""`xarchkd serve`'s API under bad requests (issue 14.7): each gets a 4xx status and a JSON error, a body
shorter than its Content-Length ends in the server's timeout, and the server keeps answering. The server is
the real one (make_server + Demo) on a real tiny teacher and student, on a free local port."""
import http.client
import json
import socket
import threading
import time

import pytest
import torch

from students import StudentConfig, StudentModel
from xarchkd.tools.serve import Demo, make_server

from conftest import LABELS


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_teacher, tokenizer):
    cfg = StudentConfig(block="cnn", vocab_size=len(tokenizer), embed_dim=8, hidden=8, layers=1, num_labels=9,
                        labels=LABELS, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("student")
    StudentModel(cfg).save_pretrained(folder)
    srv = make_server(Demo(str(tiny_teacher), str(folder)), port=0, timeout=1.0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def post(port, body: bytes, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/api", body=body, headers=headers or {})
    r = c.getresponse()
    out = r.status, json.loads(r.read() or b"null")
    c.close()
    return out


def test_a_good_request_gets_both_models(server):
    code, res = post(server, json.dumps({"text": "Angela Merkel visited Paris ."}).encode())
    assert code == 200 and res["teacher"]["words"] == res["student"]["words"] == ["Angela", "Merkel", "visited",
                                                                                 "Paris", "."]


@pytest.mark.parametrize("body, code, needle", [
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'"Paris"', 400, "must be a JSON object"),
    (b'{"text": 3}', 400, "must be a JSON object"),
    (b"{not json", 400, "is not JSON"),
    (b'{"text": "   "}', 400, "type a sentence"),
])
def test_a_bad_body_is_a_4xx_with_a_json_error(server, body, code, needle):
    """A JSON body that is not an object crashed the request (empty reply); every bad request answered 200."""
    got, res = post(server, body)
    assert got == code and needle in res["error"]


def test_a_body_shorter_than_its_content_length_is_answered_after_the_timeout(server):
    """A Content-Length larger than the body left a server thread waiting forever; now the read times out
    (1 s here) and the client gets 400, and the server still answers the next request."""
    with socket.create_connection(("127.0.0.1", server), timeout=30) as s:
        s.sendall(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"text\": ")
        t0 = time.time()
        reply = b""
        while chunk := s.recv(4096):        # the server answers, then closes the connection
            reply += chunk
        reply = reply.decode()
        assert time.time() - t0 < 20
    assert reply.startswith("HTTP/1.0 400") and "shorter than its Content-Length (100 bytes)" in reply
    assert post(server, b'{"text": "Bonn"}')[0] == 200
    assert post(server, b"{}", {"Content-Length": "-1"})[0] == 400
