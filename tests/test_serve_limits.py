"""`xarchkd serve` at its limits (issue 29.5, 29.11, 29.12): text over the length it tags is refused, not cut
mid-word; a lone surrogate or deeply nested JSON is a 400, not an empty reply; a port in use or out of range is
said before the models load; 200 concurrent clients on loopback are all answered, none reset."""
import http.client
import json
import socket
import threading

import pytest

from xarchkd.cli import main
from xarchkd.tools.serve import MAX_TEXT

from test_serve_requests import post, server  # noqa: F401  (the module's real server on a free port)


def test_text_over_the_limit_is_refused_not_cut_mid_word(server):  # noqa: F811
    """It used to be cut after 2,000 characters (mid-word) and answered 200 as if whole."""
    text = ("Angela Merkel visited Paris . " * 100)[:MAX_TEXT + 5]
    code, res = post(server, json.dumps({"text": text}).encode())
    assert code == 413 and f"{MAX_TEXT + 5:,} characters" in res["error"] and f"{MAX_TEXT:,}" in res["error"]
    code, res = post(server, json.dumps({"text": text[:MAX_TEXT]}).encode())
    assert code == 200 and " ".join(res["student"]["words"]) == " ".join(text[:MAX_TEXT].split())


@pytest.mark.parametrize("body, needle", [
    (b'{"text": "Paris \\ud800 ."}', "lone surrogate U+D800"),
    (b'{"text": "Paris", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
])
def test_a_lone_surrogate_or_deep_nesting_is_a_400_not_an_empty_reply(server, body, needle):  # noqa: F811
    code, res = post(server, body)
    assert code == 400 and needle in res["error"]
    assert post(server, b'{"text": "Bonn"}')[0] == 200


def test_a_port_in_use_or_out_of_range_is_said_before_the_models_load(tmp_path, capsys):
    """The models (here: folders that do not exist) are loaded only once the port is ours."""
    missing = str(tmp_path / "nope")
    assert main(["serve", "--teacher", missing, "--student", missing, "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "xarchkd: error: --port 70000: must be 0 to 65535"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["serve", "--teacher", missing, "--student", missing, "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"xarchkd: error: --port {port}: cannot listen on 127.0.0.1:{port} (") and "\n" not in err
    assert "in use" in err


def test_200_concurrent_clients_are_all_answered(server):  # noqa: F811
    """The listen backlog was 5: 10-28 of 50 concurrent connections were reset."""
    n, results = 200, []
    go = threading.Barrier(n)

    def client():
        go.wait()
        try:
            c = http.client.HTTPConnection("127.0.0.1", server, timeout=60)
            c.request("POST", "/api", body=b'{"text": "Angela Merkel visited Paris ."}')
            results.append(c.getresponse().status)
            c.close()
        except OSError as e:
            results.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * n, [r for r in results if r != 200][:5]
