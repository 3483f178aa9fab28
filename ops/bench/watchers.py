"""Watch-client processes for ``ops.bench.watch``: many streaming watches read with ``selectors``.

``watcher_process`` (the target of a spawned process) opens ``count`` raw-socket watches, de-chunks
them and timestamps every event line on receipt; the parent talks to it over a pipe with ``ask``:
``("count",)`` for the events so far, ``("stop", acks)`` for the results (see ``_results``).
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

_SEQ_RE = re.compile(rb'"bench\.kubeq\.io/seq":"(\d+)"')
_SENT_RE = re.compile(rb'"bench\.kubeq\.io/sent":"([0-9.]+)"')


class _Stream:
    """One watch socket: de-chunks the body and keeps (seq, sent, received) per event line."""

    __slots__ = ("sock", "raw", "body", "events", "chunk_left", "bytes")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.raw = b""  # undecoded chunked bytes
        self.body = b""  # de-chunked bytes not yet ending in a newline
        self.events: list[tuple[int, float, float]] = []
        self.chunk_left = 0  # bytes of the current chunk still to come (+2 for its CRLF)
        self.bytes = 0

    def feed(self, data: bytes, now: float) -> None:
        self.bytes += len(data)
        raw = self.raw + data
        pos, out = 0, []
        while pos < len(raw):
            if self.chunk_left > 2:  # chunk data
                take = raw[pos : pos + self.chunk_left - 2]
                out.append(take)
                pos += len(take)
                self.chunk_left -= len(take)
            elif self.chunk_left:  # the CRLF after the data
                skip = min(self.chunk_left, len(raw) - pos)
                pos += skip
                self.chunk_left -= skip
            else:
                end = raw.find(b"\r\n", pos)
                if end < 0:
                    break
                size = int(raw[pos:end].split(b";")[0] or b"0", 16)
                pos = end + 2
                self.chunk_left = size + 2 if size else 0
        self.raw = raw[pos:]
        *lines, self.body = (self.body + b"".join(out)).split(b"\n")
        for line in lines:
            seq, sent = _SEQ_RE.search(line), _SENT_RE.search(line)
            if seq and sent:
                self.events.append((int(seq.group(1)), float(sent.group(1)), now))


def _open(host: str, port: int, path: str) -> tuple[socket.socket, bytes]:
    """A socket with a watch request sent and the 200 response's headers read, and the body bytes
    read with them; RuntimeError for any other response."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError(f"watch closed before its headers: {head[:200]!r}")
        head += data
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise RuntimeError(f"watch refused: {head[:300]!r}")
    if b"chunked" not in head.lower():
        raise RuntimeError("watch response is not chunked")
    return sock, head.split(b"\r\n\r\n", 1)[1]


def watcher_process(host: str, port: int, path: str, count: int, pipe: Connection) -> None:
    """Open ``count`` watches, report ("ready", n), then read until told ("stop", acks); reply with results.

    ``("count",)`` asks for the events received so far. Results: see ``_results``.
    """
    streams: list[_Stream] = []
    try:
        for _ in range(count):
            sock, rest = _open(host, port, path)
            stream = _Stream(sock)
            if rest:
                stream.feed(rest, time.monotonic())
            sock.setblocking(False)
            streams.append(stream)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        pipe.send(("failed", repr(exc)))
        return
    pipe.send(("ready", len(streams)))
    sel = selectors.DefaultSelector()
    for stream in streams:
        sel.register(stream.sock, selectors.EVENT_READ, stream)
    sel.register(pipe, selectors.EVENT_READ, None)
    closed = 0
    clock = time.monotonic
    while True:
        for key, _ in sel.select():
            stream = key.data
            if stream is None:
                message = pipe.recv()
                if message[0] == "count":
                    pipe.send(("count", sum(len(s.events) for s in streams), closed))
                    continue
                pipe.send(("results", _results(streams, message[1], closed)))
                for s in streams:
                    s.sock.close()
                return
            try:
                data = stream.sock.recv(262144)
            except BlockingIOError:
                continue
            now = clock()
            if not data:
                sel.unregister(stream.sock)
                closed += 1
                continue
            stream.feed(data, now)


def _results(streams: list[_Stream], acks: dict[int, float], closed: int) -> dict[str, Any]:
    """Latencies (ms) from sent and from acknowledged, and per-watcher completeness against ``acks``."""
    from_sent: list[float] = []
    from_ack: list[float] = []
    missing = duplicates = complete = 0
    first = last = None
    for stream in streams:
        seen: set[int] = set()
        for seq, sent, at in stream.events:
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            from_sent.append((at - sent) * 1000.0)
            if seq in acks:
                from_ack.append(max(at - acks[seq], 0.0) * 1000.0)
            first = at if first is None else min(first, at)
            last = at if last is None else max(last, at)
        lost = len(acks.keys() - seen)
        missing += lost
        complete += lost == 0
    return {
        "from_sent": from_sent,
        "from_ack": from_ack,
        "missing": missing,
        "duplicates": duplicates,
        "complete": complete,
        "closed": closed,
        "first": first,
        "last": last,
        "bytes": sum(s.bytes for s in streams),
    }


def ask(pipes: list[Connection], message: tuple[Any, ...], expect: str, timeout: float) -> list[tuple]:
    replies = []
    for pipe in pipes:
        pipe.send(message)
    for pipe in pipes:
        if not pipe.poll(timeout):
            raise RuntimeError(f"a watcher process did not answer {message[0]!r}")
        reply = pipe.recv()
        if reply[0] != expect:
            raise RuntimeError(f"watcher process: {reply!r}")
        replies.append(reply)
    return replies
