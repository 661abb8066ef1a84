"""moto's S3-compatible server on a free loopback port, holding one bucket (the S3 tests)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import boto3
from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[str]:
    """The endpoint URL of a running server in which ``bucket`` exists; stopped on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()
