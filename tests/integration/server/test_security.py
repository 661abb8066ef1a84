"""Every refusal: token, Origin, Host, peer, sizes, binding, and the token file."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import TOKEN, Live, chain, start_server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.typing import Origin

from atomiton.server import ServerConfig, ServerConfigError, load_or_create_token

LOCAL_ORIGIN = Origin("http://127.0.0.1:5173")
HEALTH = {"type": "call", "id": "h1", "channel": "system", "command": "health"}


async def atomiton_call(url: str, frame: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    async with connect(url, **kwargs) as ws:
        await ws.send(json.dumps(frame))
        reply: dict[str, Any] = json.loads(await ws.recv())
        return reply


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nodes"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/runs/x"),
        ("GET", "/api/v1/flows"),
        ("POST", "/api/v1/runs"),
        ("POST", "/api/v1/validate"),
        ("POST", "/api/v1/runs/x/cancel"),
        ("PUT", "/api/v1/flows/x"),
        ("DELETE", "/api/v1/flows/x"),
    ],
)
def test_native_api_refuses_no_token_and_wrong_token(live: Live, method: str, path: str) -> None:
    for token in (None, "wrong-token-0123456789"):
        with live.client(token) as client:
            response = client.request(method, path, json={})
        assert response.status_code == 401, (token, response.text)
        assert "token" in response.json()["detail"]


def test_a_token_in_the_query_string_is_not_accepted_for_rest(live: Live) -> None:
    with live.client(None) as client:
        assert client.get(f"/api/v1/runs?token={TOKEN}").status_code == 401


async def test_event_websocket_refuses_no_token_and_wrong_token(live: Live) -> None:
    base = f"{live.ws}/api/v1/runs/x/events"
    for url in (base, f"{base}?token=wrong-token-0123456789"):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url):
                pass
        assert caught.value.response.status_code == 403
    async with connect(base, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        with pytest.raises(ConnectionClosedError):
            await ws.recv()  # accepted, then 4404: the run does not exist
        assert ws.close_code == 4404


async def test_atomiton_socket_accepts_a_loopback_origin(live: Live) -> None:
    reply = await atomiton_call(f"{live.ws}/", HEALTH, origin=LOCAL_ORIGIN)
    assert reply["result"]["status"] == "ok"
    localhost = f"ws://localhost:{live.ws.rsplit(':', 1)[1]}/"
    reply = await atomiton_call(localhost, HEALTH, origin=Origin("http://localhost:5173"))
    assert reply["result"]["status"] == "ok"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": LOCAL_ORIGIN, "host": "evil.example"},  # DNS rebinding: a foreign Host
        {},  # no Origin and no token: not a browser, so it must show the token
        {"origin": LOCAL_ORIGIN, "additional_headers": {"Authorization": "Bearer wrong-123456789"}},
    ],
    ids=["foreign-origin", "null-origin", "foreign-host", "no-origin", "wrong-token"],
)
async def test_atomiton_socket_refusals(live: Live, kwargs: dict[str, Any]) -> None:
    port = int(live.ws.rsplit(":", 1)[1])
    url = f"ws://{kwargs.pop('host', '127.0.0.1')}:{port}/"  # the Host header the server sees
    with pytest.raises(InvalidStatus) as caught:
        await atomiton_call(url, HEALTH, host="127.0.0.1", port=port, **kwargs)
    assert caught.value.response.status_code == 403


async def test_atomiton_socket_with_the_token_needs_no_origin(live: Live) -> None:
    reply = await atomiton_call(f"{live.ws}/?token={TOKEN}", HEALTH)
    assert reply["result"]["status"] == "ok"


def test_http_fallback_refusals(live: Live) -> None:
    url = f"{live.url}/api/system/health"
    assert httpx.post(url, headers={"Origin": LOCAL_ORIGIN}).json()["status"] == "ok"
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": LOCAL_ORIGIN, "Host": "evil.example"},
        {},
    ):
        response = httpx.post(url, headers=headers)
        assert response.status_code == 403, headers
    assert httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_no_wildcard_cors(live: Live) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    foreign = httpx.options(
        f"{live.url}/api/v1/runs", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in foreign.headers
    local = httpx.options(f"{live.url}/api/v1/runs", headers={"Origin": LOCAL_ORIGIN, **preflight})
    assert local.headers["access-control-allow-origin"] == LOCAL_ORIGIN


def test_oversize_request_bodies_are_refused(tmp_path: Path) -> None:
    thread, live = start_server(tmp_path, max_body_bytes=10_000)
    with thread, live.client() as api:
        big = {"blueprint": chain(2), "inputs": {"blob": "x" * 20_000}}
        assert api.post("/api/v1/runs", json=big).status_code == 413
        chunks = (b"x" * 4096 for _ in range(10))  # no Content-Length: counted while streaming
        streamed = api.post("/api/v1/validate", content=chunks)
        assert streamed.status_code == 413
        fallback = httpx.post(
            f"{live.url}/api/system/health", content=b"x" * 20_000, headers={"Origin": LOCAL_ORIGIN}
        )
        assert fallback.status_code == 413
        assert api.post("/api/v1/runs", json={"blueprint": chain(2)}).status_code == 202


async def test_oversize_websocket_messages_are_refused(tmp_path: Path) -> None:
    thread, live = start_server(tmp_path, max_message_bytes=10_000)
    with thread:
        async with connect(f"{live.ws}/", origin=LOCAL_ORIGIN) as ws:
            await ws.send(json.dumps({**HEALTH, "args": {"pad": "x" * 20_000}}))
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            assert ws.close_code == 1009
        url = f"{live.ws}/api/v1/runs/x/events?token={TOKEN}"
        async with connect(url) as ws:
            await ws.send("x" * 20_000)
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            assert ws.close_code in (1009, 4404)


def test_binding_beyond_loopback_needs_tls_or_an_explicit_flag() -> None:
    with pytest.raises(ServerConfigError, match="--tls-certfile"):
        ServerConfig(token=TOKEN, host="0.0.0.0")
    assert ServerConfig(token=TOKEN, host="0.0.0.0", tls=True).remote
    assert ServerConfig(token=TOKEN, host="0.0.0.0", allow_insecure_remote=True).remote
    assert not ServerConfig(token=TOKEN, host="::1").remote


def test_wildcards_and_short_tokens_are_refused() -> None:
    with pytest.raises(ServerConfigError, match="wildcard"):
        ServerConfig(token=TOKEN, allowed_origins=("*",))
    with pytest.raises(ServerConfigError, match="wildcard"):
        ServerConfig(token=TOKEN, allowed_hosts=("*.example.com",))
    with pytest.raises(ServerConfigError, match="16"):
        ServerConfig(token="short")


def test_configured_origins_and_hosts_are_allowed() -> None:
    config = ServerConfig(
        token=TOKEN, allowed_origins=("https://editor.example",), allowed_hosts=("box.lan",)
    )
    assert config.origin_allowed("https://editor.example/")
    assert not config.origin_allowed("https://editor.example.evil")
    assert config.host_allowed("box.lan:3001")
    assert config.host_allowed("[::1]:3001")
    assert not config.host_allowed("other.lan")


def test_token_file_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "config" / "token"
    token = load_or_create_token(path)
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token
    path.chmod(0o644)
    assert load_or_create_token(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
