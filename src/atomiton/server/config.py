"""Server configuration and the security rules it implies.

The server can run shell commands, so nothing runs for a caller the server does not trust:

- the native API (``/api/v1``) wants the server's token on every request: the header
  ``Authorization: Bearer <token>``, or ``?token=`` on a WebSocket (browsers cannot set headers
  there). The token is generated once and kept in ``<user config dir>/token`` with mode 0600;
- the Atomiton-protocol endpoints (WebSocket ``/`` and ``POST /api/{channel}/{command}``) serve
  a client that sends no token. Without a token they accept only a loopback peer whose ``Host``
  and ``Origin`` are on the allow-lists (loopback names and origins, plus what is configured);
  a caller that presents the token is accepted like a native client;
- no wildcard anywhere: ``*`` is refused as an origin or host;
- binding to a non-loopback address needs TLS, or the explicit ``allow_insecure_remote``.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001  # the Atomiton browser client's default: ws://localhost:3001
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class ServerConfigError(ValueError):
    """A configuration the server refuses to start with; the message says what to change."""


def default_token_path() -> Path:
    return Path(platformdirs.user_config_dir("atomiton")) / "token"


def load_or_create_token(path: Path | None = None) -> str:
    """The server token: read from ``path``, or generated and written there with mode 0600."""
    path = path or default_token_path()
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a token others can read is no secret
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    path.chmod(0o600)
    return token


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a ``Host`` header: ``[::1]:3001`` -> ``::1``, ``a.b:80`` -> ``a.b``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class ServerConfig:
    token: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    flows_dir: Path = Path("flows")
    allowed_origins: tuple[str, ...] = ()
    """Origins allowed besides loopback ones (``http://localhost:<any port>`` and the like)."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names allowed besides loopback names and the bind address."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    tls: bool = False
    allow_insecure_remote: bool = False

    def __post_init__(self) -> None:
        if len(self.token) < 16:
            raise ServerConfigError("the server token must be at least 16 characters long")
        for value in (*self.allowed_origins, *self.allowed_hosts):
            if "*" in value:
                raise ServerConfigError(
                    f"wildcards are not allowed in allow-lists (got {value!r}); "
                    "name each origin or host the server should accept"
                )
        if not is_loopback(self.host) and not self.tls and not self.allow_insecure_remote:
            raise ServerConfigError(
                f"binding to {self.host!r} exposes the engine beyond this machine without "
                "encryption; give --tls-certfile and --tls-keyfile, or pass "
                "--allow-insecure-remote if the network is trusted"
            )

    @property
    def remote(self) -> bool:
        return not is_loopback(self.host)

    def token_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8"), self.token.encode("utf-8")
        )

    def origin_allowed(self, origin: str) -> bool:
        origin = normalise_origin(origin)
        if origin in {normalise_origin(o) for o in self.allowed_origins}:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_NAMES

    def host_allowed(self, header: str) -> bool:
        name = host_name(header)
        allowed = {h.lower() for h in self.allowed_hosts}
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):
            allowed.add(self.host.lower())
        return name in allowed or (name in LOOPBACK_NAMES or is_loopback(name))
