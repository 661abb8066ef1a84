"""``http-request``: one HTTP call with httpx, parsed by content type, as Atomiton does.

A response with any status is a result (``success``/``ok`` false for non-2xx), as in Atomiton;
only a request that gets no response (bad URL, refused connection, timeout, too many redirects)
fails the node. Beyond Atomiton: PATCH/HEAD/OPTIONS, object bodies on every method that takes a
body, ``timeout``, ``followRedirects``, ``validateSSL`` and ``retries``: extra attempts after
network errors and 502/503/504/429 responses, waiting ``retryDelay`` ms, doubling each time
(a ``Retry-After`` header in seconds wins when it is longer).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from atomiton.library._compat import as_json_object, first_given, node_failure, primary
from atomiton.nodes import NodeContext, node

_TYPE = "http-request"
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_MAX_DELAY_S = 30.0
_TEXT_TYPES = ("text/", "application/xml", "application/xhtml", "application/javascript")


class HttpRequestOutput(TypedDict, total=False):
    result: Any
    status: int
    statusText: str
    headers: dict[str, str]
    success: bool
    ok: bool
    duration: int
    url: str
    attempts: int


@node(id="http-request", name="HTTP Request", category="io", icon="globe")
async def http_request(
    input: Any = None,
    url: str | None = None,
    method: Method | None = None,
    headers: dict[str, str] | str | None = None,
    body: Any = None,
    params: dict[str, Any] | None = None,
    auth: dict[str, str] | None = None,
    *,
    timeout: int = 30000,
    retries: int = 0,
    retryDelay: int = 1000,
    followRedirects: bool = True,
    validateSSL: bool = True,
    ctx: NodeContext,
) -> HttpRequestOutput:
    """Send an HTTP request; the response body is parsed by its content type."""
    import httpx

    value = primary(input)
    target = first_given(url, value if isinstance(value, str) else None)
    if not target:
        raise node_failure(_TYPE, "'url' is required", hint="set 'url' or connect a URL string")
    verb = (method or "GET").upper()
    request_headers = {
        str(k): str(v) for k, v in as_json_object(headers, node_type=_TYPE, name="headers").items()
    }
    request_headers.update(_auth_headers(auth))
    content, json_body = _body(verb, body)
    if json_body is not None and not any(k.lower() == "content-type" for k in request_headers):
        request_headers["Content-Type"] = "application/json"
        content = json_body
    if retries < 0:
        raise node_failure(_TYPE, f"retries must be 0 or more, got {retries}")

    started = time.monotonic()
    async with httpx.AsyncClient(
        follow_redirects=followRedirects,
        verify=validateSSL,
        timeout=timeout / 1000 if timeout > 0 else None,
    ) as client:
        try:
            address = httpx.URL(target)
            if params:  # appended to the URL's own query, as Atomiton's searchParams.append
                address = address.copy_merge_params(params)
            request = client.build_request(verb, address, headers=request_headers, content=content)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise node_failure(
                _TYPE, f"Invalid URL: {target} ({exc})", hint="use an http:// or https:// URL"
            ) from None
        attempt = 0
        while True:
            attempt += 1
            answered: Any = None
            try:
                response = await client.send(request)
                await response.aread()
            except httpx.TimeoutException:
                problem = f"request timed out after {timeout} ms"
            except httpx.TooManyRedirects:
                raise node_failure(
                    _TYPE,
                    f"{verb} {target}: too many redirects",
                    hint="check the URL, or set followRedirects: false to see the redirect",
                ) from None
            except httpx.UnsupportedProtocol as exc:
                raise node_failure(_TYPE, f"Invalid URL: {target} ({exc})") from None
            except httpx.TransportError as exc:
                problem = f"network error: {exc or type(exc).__name__}"
            else:
                if response.status_code not in _RETRY_STATUSES or attempt > retries:
                    break
                answered = response
                problem = f"status {response.status_code}"
            if attempt > retries:
                raise node_failure(
                    _TYPE,
                    f"{verb} {target}: {problem} (after {attempt} attempt(s))",
                    hint="check that the server is reachable; raise 'timeout' or 'retries'",
                )
            delay = _delay(retryDelay, attempt, answered)
            ctx.log(f"{verb} {target}: {problem}; retrying in {delay:.2f} s", "warning")
            await asyncio.sleep(delay)
    return {
        "result": _parse(response),
        "status": response.status_code,
        "statusText": response.reason_phrase,
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "success": response.is_success,
        "ok": response.is_success,
        "duration": round((time.monotonic() - started) * 1000),
        "url": str(response.url),
        "attempts": attempt,
    }


def _auth_headers(auth: Mapping[str, Any] | None) -> dict[str, str]:
    if not auth:
        return {}
    kind = str(auth.get("type", "")).lower()
    if kind == "basic":
        user, password = auth.get("username", ""), auth.get("password", "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if kind == "bearer":
        if not auth.get("token"):
            raise node_failure(_TYPE, "auth type 'bearer' needs a 'token'")
        return {"Authorization": f"Bearer {auth['token']}"}
    raise node_failure(
        _TYPE,
        f"unknown auth type {auth.get('type')!r}",
        hint='use {"type": "basic", "username": ..., "password": ...} or '
        '{"type": "bearer", "token": ...}',
    )


def _body(verb: str, body: Any) -> tuple[bytes | str | None, bytes | None]:
    """(raw content, JSON content): strings and bytes go as they are, other values as JSON."""
    body = primary(body)
    if body is None or verb in ("GET", "HEAD"):
        return None, None
    if isinstance(body, str | bytes):
        return body, None
    return None, json.dumps(body, ensure_ascii=False, default=str).encode()


def _delay(base_ms: int, attempt: int, response: Any) -> float:
    delay = max(base_ms, 0) / 1000 * 2 ** (attempt - 1)
    after = response.headers.get("retry-after") if response is not None else None
    if after and after.strip().isdigit():
        delay = max(delay, float(after))
    return float(min(delay, _MAX_DELAY_S))


def _parse(response: Any) -> Any:
    """JSON, text or base64 by content type (Atomiton's rule); unparseable JSON stays text, a
    response with no content type is text when it is UTF-8."""
    kind = response.headers.get("content-type", "").lower()
    if not response.content:
        return ""
    if "json" in kind:
        try:
            return response.json()
        except ValueError:
            return response.text
    if kind.startswith(_TEXT_TYPES):
        return response.text
    if not kind:
        try:
            return response.content.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return base64.b64encode(response.content).decode()
