"""The IPC bridge: ``atomiton serve``, an ASGI app for the Atomiton editor, a web page and
:class:`~atomiton.engines.remote.RemoteEngine`.

``create_app(config, engine)`` builds the app; ``ServerConfig`` holds the port, the token and
the allow-lists; ``load_or_create_token`` reads or makes the token file. See docs/server.md.
"""

from atomiton.server.app import create_app
from atomiton.server.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServerConfig,
    ServerConfigError,
    default_token_path,
    load_or_create_token,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServerConfig",
    "ServerConfigError",
    "create_app",
    "default_token_path",
    "load_or_create_token",
]
