"""Fuzz fixtures: an ``--insecure`` API server process of this package's own, and raw HTTP helpers."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import APIServerProcess, launch_apiserver

NAMESPACE = "fuzz"


@dataclass
class Reply:
    code: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


@pytest.fixture(scope="package")
def fuzz_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    """An insecure API server for the fuzz suites, with namespace ``fuzz``."""
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("fuzz")) as server:
        host, port = address(server.url)
        reply = call(host, port, "POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        assert reply.code in (201, 409), reply.raw
        yield server


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def call(
    host: str,
    port: int,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Reply:
    """One request with ``http.client``; a non-bytes ``body`` is sent as JSON."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if body is not None and content_type:
            hdrs["Content-Type"] = content_type
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return Reply(resp.status, dict(resp.headers), resp.read())
    finally:
        conn.close()


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 60) -> Reply:
    """Send ``data`` as is on a fresh connection and read the reply until the server closes or it ends."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_reply(sock)


def read_reply(sock: socket.socket) -> Reply:
    """Parse one HTTP/1.1 reply (Content-Length, chunked or close-delimited) from ``sock``."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(rest) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Reply(code, headers, rest[:size])
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    if headers.get("transfer-encoding") == "chunked":
        rest = _unchunk(rest)
    return Reply(code, headers, rest)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
