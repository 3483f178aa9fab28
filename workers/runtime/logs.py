"""Container logs in the CRI file format, fed from FIFOs by reader threads, rotated by size.

Each line of the file is ``<RFC3339Nano time> <stdout|stderr> <F|P> <text>``: ``F`` ends a line,
``P`` is a part of a line longer than ``MAX_LINE`` bytes (the rest follows). When the file passes
``max_bytes`` it becomes ``<path>.1`` (the one rotated file kept) and a new file starts.

A container's stdout/stderr are FIFOs under the runtime's root, opened read-write by the container
(so it never gets SIGPIPE while no runtime reads) and read-only by the runtime; a restarted
runtime re-opens them and goes on reading where the pipe stands.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time

MAX_LINE = 16 * 1024
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def rfc3339nano(t: float | None = None) -> str:
    ns = time.time_ns() if t is None else int(t * 1e9)
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class LogWriter:
    """Appends CRI log lines to ``path`` (thread-safe), rotating at ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115  (kept open across writes)

    def write(self, stream: str, text: bytes, partial: bool = False) -> None:
        line = f"{rfc3339nano()} {stream} {'P' if partial else 'F'} ".encode() + text + b"\n"
        with self._lock:
            if self._file.closed:
                return
            if self._file.tell() + len(line) > self.max_bytes and self._file.tell() > 0:
                self._file.close()
                os.replace(self.path, self.path + ".1")
                self._file = open(self.path, "ab")  # noqa: SIM115
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def make_fifo(path: str) -> None:
    if not os.path.exists(path):
        os.mkfifo(path, 0o600)


def open_reader(path: str) -> int:
    """A non-blocking read end of the FIFO (never blocks, even with no writer yet)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def open_writer(path: str) -> int:
    """The container's end: read-write, so writes never raise EPIPE while nobody reads."""
    return os.open(path, os.O_RDWR)


class Pump(threading.Thread):
    """Copies one FIFO into a ``LogWriter`` line by line until EOF (every writer closed) or ``stop``."""

    def __init__(self, fd: int, stream: str, writer: LogWriter) -> None:
        super().__init__(daemon=True, name=f"log-{stream}")
        self.fd, self.stream, self.writer = fd, stream, writer
        self._halt = threading.Event()
        self._buf = b""

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if not ready:
                    continue
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EINTR):
                        continue
                    break
                if not chunk:
                    break
                self._feed(chunk)
            if self._buf and not self._halt.is_set():
                self.writer.write(self.stream, self._buf)
        finally:
            os.close(self.fd)

    def _feed(self, chunk: bytes) -> None:
        self._buf += chunk
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            line, self._buf = self._buf[:nl], self._buf[nl + 1 :]
            while len(line) > MAX_LINE:
                self.writer.write(self.stream, line[:MAX_LINE], partial=True)
                line = line[MAX_LINE:]
            self.writer.write(self.stream, line)
        while len(self._buf) > MAX_LINE:
            self.writer.write(self.stream, self._buf[:MAX_LINE], partial=True)
            self._buf = self._buf[MAX_LINE:]
