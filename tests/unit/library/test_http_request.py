"""http-request against a local test server on 127.0.0.1 (never another host)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from recording_context import RecordingContext

from atomiton.errors import NodeError
from atomiton.library.http_request import http_request

PNG = b"\x89PNG\r\n\x1a\n\x00\x00binary"


class _Handler(BaseHTTPRequestHandler):
    hits: Counter[str] = Counter()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, kind: str | None, **headers: str) -> None:
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        route = url.path
        self.hits[route] += 1
        if route == "/echo":
            echo = {
                "method": self.command,
                "query": parse_qs(url.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
            self._send(200, json.dumps(echo).encode(), "application/json; charset=utf-8")
        elif route == "/text":
            self._send(200, "plain ü".encode(), "text/plain; charset=utf-8")
        elif route == "/xml":
            self._send(200, b"<a>1</a>", "application/xml")
        elif route == "/binary":
            self._send(200, PNG, "image/png")
        elif route == "/untyped":
            self._send(200, b"no type", None)
        elif route == "/badjson":
            self._send(200, b"{oops", "application/json")
        elif route.startswith("/status/"):
            code = int(route.rsplit("/", 1)[1])
            self._send(code, b'{"error": "nope"}', "application/json")
        elif route == "/redirect":
            self._send(302, b"", None, Location="/echo?from=redirect")
        elif route == "/loop":
            self._send(302, b"", None, Location="/loop")
        elif route == "/slow":
            time.sleep(1.5)
            self._send(200, b"late", "text/plain")
        elif route.startswith("/flaky/"):  # /flaky/<key>/<failures>
            _, _, _key, failures = route.split("/")
            if self.hits[route] <= int(failures):
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, f"ok after {self.hits[route]}".encode(), "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _route


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timeout test hangs up on /slow; the late write then fails, as it should


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


async def test_get_json(server: str) -> None:
    out = await http_request(url=f"{server}/echo", ctx=RecordingContext())
    assert out["status"] == 200
    assert out["statusText"] == "OK"
    assert out["success"] is out["ok"] is True
    assert out["result"]["method"] == "GET"
    assert out["headers"]["content-type"].startswith("application/json")
    assert out["url"] == f"{server}/echo"
    assert out["attempts"] == 1
    assert out["duration"] >= 0


async def test_query_params_and_headers(server: str) -> None:
    out = await http_request(
        url=f"{server}/echo?a=1",
        params={"b": 2, "c": "x y"},
        headers='{"X-Token": "t1"}',
        ctx=RecordingContext(),
    )
    assert out["result"]["query"] == {"a": ["1"], "b": ["2"], "c": ["x y"]}
    assert out["result"]["headers"]["x-token"] == "t1"


async def test_object_body_is_json(server: str) -> None:
    out = await http_request(
        url=f"{server}/echo", method="POST", body={"n": 1}, ctx=RecordingContext()
    )
    echo = out["result"]
    assert echo["method"] == "POST"
    assert json.loads(echo["body"]) == {"n": 1}
    assert echo["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_methods_with_string_bodies(server: str, method: str) -> None:
    out = await http_request(
        url=f"{server}/echo",
        method=method,  # type: ignore[arg-type]
        body="raw text",
        headers={"Content-Type": "text/plain"},
        ctx=RecordingContext(),
    )
    assert out["result"]["method"] == method
    assert out["result"]["body"] == "raw text"
    assert out["result"]["headers"]["content-type"] == "text/plain"


async def test_head_and_options(server: str) -> None:
    head = await http_request(url=f"{server}/echo", method="HEAD", ctx=RecordingContext())
    assert head["status"] == 200
    assert head["result"] == ""
    options = await http_request(url=f"{server}/echo", method="OPTIONS", ctx=RecordingContext())
    assert options["result"]["method"] == "OPTIONS"


async def test_get_ignores_body(server: str) -> None:
    out = await http_request(url=f"{server}/echo", body={"x": 1}, ctx=RecordingContext())
    assert out["result"]["body"] is None


async def test_auth(server: str) -> None:
    basic = await http_request(
        url=f"{server}/echo",
        auth={"type": "basic", "username": "u", "password": "p"},
        ctx=RecordingContext(),
    )
    expected = "Basic " + base64.b64encode(b"u:p").decode()
    assert basic["result"]["headers"]["authorization"] == expected
    bearer = await http_request(
        url=f"{server}/echo", auth={"type": "bearer", "token": "abc"}, ctx=RecordingContext()
    )
    assert bearer["result"]["headers"]["authorization"] == "Bearer abc"
    with pytest.raises(NodeError, match="unknown auth type 'digest'"):
        await http_request(url=f"{server}/echo", auth={"type": "digest"}, ctx=RecordingContext())
    with pytest.raises(NodeError, match="needs a 'token'"):
        await http_request(url=f"{server}/echo", auth={"type": "bearer"}, ctx=RecordingContext())


async def test_response_parsing_by_content_type(server: str) -> None:
    ctx = RecordingContext()
    assert (await http_request(url=f"{server}/text", ctx=ctx))["result"] == "plain ü"
    assert (await http_request(url=f"{server}/xml", ctx=ctx))["result"] == "<a>1</a>"
    binary = await http_request(url=f"{server}/binary", ctx=ctx)
    assert base64.b64decode(binary["result"]) == PNG
    assert (await http_request(url=f"{server}/untyped", ctx=ctx))["result"] == "no type"
    assert (await http_request(url=f"{server}/badjson", ctx=ctx))["result"] == "{oops"


async def test_non_2xx_is_a_result_not_a_failure(server: str) -> None:
    out = await http_request(url=f"{server}/status/404", ctx=RecordingContext())
    assert out["status"] == 404
    assert out["statusText"] == "Not Found"
    assert out["success"] is False
    assert out["result"] == {"error": "nope"}


async def test_redirects_followed_or_not(server: str) -> None:
    followed = await http_request(url=f"{server}/redirect", ctx=RecordingContext())
    assert followed["status"] == 200
    assert followed["url"] == f"{server}/echo?from=redirect"
    kept = await http_request(
        url=f"{server}/redirect", followRedirects=False, ctx=RecordingContext()
    )
    assert kept["status"] == 302
    assert kept["headers"]["location"] == "/echo?from=redirect"
    with pytest.raises(NodeError, match="too many redirects"):
        await http_request(url=f"{server}/loop", ctx=RecordingContext())


async def test_timeout(server: str) -> None:
    with pytest.raises(NodeError, match=r"request timed out after 300 ms \(after 1 attempt"):
        await http_request(url=f"{server}/slow", timeout=300, ctx=RecordingContext())


async def test_retry_then_success(server: str) -> None:
    ctx = RecordingContext()
    out = await http_request(url=f"{server}/flaky/a/2", retries=3, retryDelay=10, ctx=ctx)
    assert out["status"] == 200
    assert out["result"] == "ok after 3"
    assert out["attempts"] == 3
    warnings = ctx.messages("warning")
    assert len(warnings) == 2
    assert "status 503; retrying in 0.01 s" in warnings[0]
    assert "retrying in 0.02 s" in warnings[1]  # the delay doubles


async def test_retries_exhausted_returns_the_last_response(server: str) -> None:
    out = await http_request(
        url=f"{server}/flaky/b/5", retries=1, retryDelay=1, ctx=RecordingContext()
    )
    assert out["status"] == 503
    assert out["success"] is False
    assert out["attempts"] == 2


async def test_no_retry_without_retries(server: str) -> None:
    out = await http_request(url=f"{server}/flaky/c/1", ctx=RecordingContext())
    assert out["status"] == 503
    assert out["attempts"] == 1


async def test_connection_refused_retries_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = RecordingContext()
    with pytest.raises(NodeError, match=r"network error.*\(after 3 attempt\(s\)\)"):
        await http_request(url=f"http://127.0.0.1:{port}/", retries=2, retryDelay=1, ctx=ctx)
    assert len(ctx.messages("warning")) == 2


async def test_invalid_urls() -> None:
    ctx = RecordingContext()
    with pytest.raises(NodeError, match=r"\[http-request\] Invalid URL: ftp://x"):
        await http_request(url="ftp://x/file", ctx=ctx)
    with pytest.raises(NodeError, match="Invalid URL: not a url"):
        await http_request(url="not a url", ctx=ctx)
    with pytest.raises(NodeError, match="'url' is required"):
        await http_request(ctx=ctx)
    with pytest.raises(NodeError, match="retries must be 0 or more"):
        await http_request(url="http://127.0.0.1:1/", retries=-1, ctx=ctx)


async def test_url_from_input(server: str) -> None:
    upstream = {"result": f"{server}/text", "success": True}
    out = await http_request(input=upstream, ctx=RecordingContext())
    assert out["result"] == "plain ü"
