"""Fixtures: a real server on an ephemeral loopback port, and a client with its token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_support import Live, start_server


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    thread, server = start_server(tmp_path)
    with thread:
        yield server


@pytest.fixture
def api(live: Live) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client
