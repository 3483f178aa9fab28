"""The node's HTTP endpoint (kubelet's port): container logs and exec, for the API server to proxy.

``serve_node_http(runtime_factory, host, port, data_dir)`` serves, in background threads:

- ``GET /containerLogs/{namespace}/{pod}/{container}`` with kubelet's query options ``tailLines``,
  ``follow``, ``previous``, ``timestamps``, ``sinceSeconds``, ``sinceTime``, ``limitBytes``: the
  container's CRI log file (``<RFC3339Nano> stdout|stderr F|P <text>``, rotated to ``<file>.1``) as
  plain text, read until the container exits when following.
- ``POST /exec/{namespace}/{pod}/{container}?command=a&command=b[&timeout=s]``: runs the command
  beside the container through ``RuntimeService.exec_sync``; replies
  ``{"exitCode": n, "stdout": <base64>, "stderr": <base64>}``.
- ``GET /healthz``.

Errors are ``Status`` JSON documents (400 for a container that cannot give logs, 404 for an unknown
pod or container). The container is found through the runtime (``list_pod_sandboxes`` +
``list_containers``), the newest instance by creation time; ``previous`` takes the one before it.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cluster import errors
from tasks.kubelet.cri import CREATED, RUNNING, ContainerStatus, RuntimeService

RuntimeFactory = Callable[[], RuntimeService]
_POLL = 0.1  # seconds between looks at a followed log file


# --- finding a container ------------------------------------------------------------------------


def pod_containers(runtime: RuntimeService, namespace: str, pod: str, name: str) -> list[ContainerStatus]:
    """Every instance of container ``name`` of pod ``namespace/pod`` the runtime knows, oldest first."""
    found: list[ContainerStatus] = []
    for sandbox in runtime.list_pod_sandboxes():
        if sandbox.config.namespace == namespace and sandbox.config.name == pod:
            found += [c for c in runtime.list_containers(sandbox.id) if c.name == name]
    return sorted(found, key=lambda c: (c.created_at, c.attempt))


def find_container(
    runtime: RuntimeService, namespace: str, pod: str, name: str, previous: bool = False
) -> ContainerStatus:
    """The current (or, with ``previous``, the previous) instance; ``NotFound``/``BadRequest`` when there is none."""
    instances = pod_containers(runtime, namespace, pod, name)
    if previous:
        if len(instances) < 2:
            raise errors.BadRequest(f'previous terminated container "{name}" in pod "{pod}" not found')
        return instances[-2]
    if not instances:
        raise errors.NotFound(f'container "{name}" in pod "{pod}" is not available')
    return instances[-1]


# --- reading CRI log files ----------------------------------------------------------------------


def parse_time(text: str) -> float:
    """An RFC 3339 time (any fraction digits, ``Z`` or an offset) as epoch seconds."""
    main, frac, zone = text, "", ""
    if text.endswith("Z"):
        main, zone = text[:-1], "+00:00"
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        main, zone = text[:-6], text[-6:]
    if "." in main:
        main, frac = main.split(".", 1)
    seconds = datetime.fromisoformat(main + zone).timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


class Record:
    """One CRI log line: its time (text and seconds), stream and content with its newline if full."""

    __slots__ = ("stamp", "when", "stream", "text")

    def __init__(self, stamp: str, when: float, stream: str, text: bytes) -> None:
        self.stamp, self.when, self.stream, self.text = stamp, when, stream, text


def parse_line(line: bytes) -> Record | None:
    """A record from a CRI log line (without its newline), None when it is not one."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp = parts[0].decode("ascii", "replace")
    try:
        when = parse_time(stamp)
    except ValueError:
        return None
    content = parts[3] if len(parts) == 4 else b""
    return Record(
        stamp, when, parts[1].decode("ascii", "replace"), content if parts[2] == b"P" else content + b"\n"
    )


def read_records(handle: Any, carry: bytearray) -> list[Record]:
    """The complete lines readable from ``handle`` now; a trailing partial line waits in ``carry``."""
    carry += handle.read()
    lines = carry.split(b"\n")
    carry[:] = lines.pop()
    return [r for r in map(parse_line, lines) if r is not None]


class LogOptions:
    """Kubelet's log query options, checked."""

    def __init__(self, query: dict[str, list[str]]) -> None:
        def first(name: str) -> str:
            return query.get(name, [""])[0]

        def number(name: str) -> int | None:
            value = first(name)
            if value == "":
                return None
            try:
                return int(value)
            except ValueError:
                raise errors.BadRequest(f'invalid value for "{name}": "{value}"') from None

        self.follow = first("follow") in ("1", "true", "True", "t")
        self.previous = first("previous") in ("1", "true", "True", "t")
        self.timestamps = first("timestamps") in ("1", "true", "True", "t")
        self.tail = number("tailLines")
        self.limit = number("limitBytes")
        since_seconds = number("sinceSeconds")
        self.since: float | None = None
        if since_seconds is not None:
            self.since = time.time() - since_seconds
        elif first("sinceTime"):
            try:
                self.since = parse_time(first("sinceTime"))
            except ValueError:
                bad = first("sinceTime")
                raise errors.BadRequest(f'invalid value for "sinceTime": "{bad}"') from None

    def render(self, record: Record) -> bytes:
        return (record.stamp.encode() + b" " + record.text) if self.timestamps else record.text


def stream_logs(
    path: str, options: LogOptions, running: Callable[[], bool], stopped: threading.Event
) -> Iterator[bytes]:
    """The log's lines as ``options`` ask; when following, new lines until ``running()`` is false."""
    budget = options.limit

    def emit(records: list[Record]) -> Iterator[bytes]:
        nonlocal budget
        for record in records:
            if options.since is not None and record.when < options.since:
                continue
            data = options.render(record)
            if budget is not None:
                data = data[:budget]
                budget -= len(data)
            if data:
                yield data

    def exhausted() -> bool:
        return budget is not None and budget <= 0

    initial: list[Record] = []
    if os.path.exists(path + ".1"):
        with open(path + ".1", "rb") as old:
            initial = read_records(old, bytearray())
    carry = bytearray()
    try:
        handle = open(path, "rb")  # noqa: SIM115 - held open across rotations while following
    except FileNotFoundError:
        handle = None
    try:
        if handle is not None:
            initial += read_records(handle, carry)
        if options.since is not None:
            initial = [r for r in initial if r.when >= options.since]
        if options.tail is not None:
            initial = list(collections.deque(initial, maxlen=max(options.tail, 0)))
        yield from emit(initial)
        while options.follow and not exhausted() and not stopped.is_set():
            alive = running()
            if handle is not None:
                yield from emit(read_records(handle, carry))
            handle = _reopen_if_rotated(path, handle, carry)
            if handle is not None:
                yield from emit(read_records(handle, carry))
            if not alive:
                return
            time.sleep(_POLL)
    finally:
        if handle is not None:
            handle.close()


def _reopen_if_rotated(path: str, handle: Any, carry: bytearray) -> Any:
    """The open log, or the new file when the runtime rotated it (the old one read to its end)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return handle
    if handle is not None:
        mine = os.fstat(handle.fileno())
        if (mine.st_ino, mine.st_dev) == (
            current.st_ino,
            current.st_dev,
        ) and current.st_size >= handle.tell():
            return handle
        handle.close()
    carry.clear()
    return open(path, "rb")  # noqa: SIM115


# --- the HTTP server ----------------------------------------------------------------------------


class NodeHTTPServer(ThreadingHTTPServer):
    """The node endpoint; ``stop()`` ends it (and any followed log stream)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime_factory: RuntimeFactory, data_dir: str) -> None:
        super().__init__(address, _Handler)
        self.runtime_factory, self.data_dir = runtime_factory, data_dir
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, name="node-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.stopped.set()
        self.shutdown()
        self.server_close()


def serve_node_http(runtime_factory: RuntimeFactory, host: str, port: int, data_dir: str) -> NodeHTTPServer:
    """Start the node endpoint on ``host:port`` (port 0: any free port) in a background thread."""
    server = NodeHTTPServer((host, port), runtime_factory, data_dir)
    server.thread.start()
    return server


class _Handler(BaseHTTPRequestHandler):
    server: NodeHTTPServer
    protocol_version = "HTTP/1.0"  # a stream ends when the connection closes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            if method == "GET" and parts == ["healthz"]:
                self._reply(200, "text/plain", b"ok")
            elif method == "GET" and len(parts) == 4 and parts[0] == "containerLogs":
                self._logs(parts[1], parts[2], parts[3], LogOptions(query))
            elif method == "POST" and len(parts) == 4 and parts[0] == "exec":
                self._exec(parts[1], parts[2], parts[3], query)
            else:
                raise errors.NotFound("the server could not find the requested resource")
        except errors.StatusError as exc:
            self._reply(exc.code, "application/json", json.dumps(exc.to_status()).encode())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # the runtime failed: say so
            error = errors.InternalError(f"{type(exc).__name__}: {exc}")
            self._reply(500, "application/json", json.dumps(error.to_status()).encode())

    def _reply(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _logs(self, namespace: str, pod: str, name: str, options: LogOptions) -> None:
        runtime = self.server.runtime_factory()
        container = find_container(runtime, namespace, pod, name, options.previous)
        if not container.log_path:
            raise errors.BadRequest(f'container "{name}" in pod "{pod}" has no log')

        def running() -> bool:
            try:
                return runtime.container_status(container.id).state in (RUNNING, CREATED)
            except Exception:
                return False

        chunks = stream_logs(container.log_path, options, running, self.server.stopped)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in chunks:
                self._send(chunk)
        finally:
            chunks.close()

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _exec(self, namespace: str, pod: str, name: str, query: dict[str, list[str]]) -> None:
        command = query.get("command", [])
        if not command:
            raise errors.BadRequest("you must specify at least one command for the container")
        timeout = float(query.get("timeout", ["600"])[0] or 600)
        runtime = self.server.runtime_factory()
        container = find_container(runtime, namespace, pod, name)
        if container.state != RUNNING:
            raise errors.BadRequest(f'container not found ("{name}")')
        result = runtime.exec_sync(container.id, command, timeout)
        body = {
            "exitCode": result.exit_code,
            "stdout": base64.b64encode(result.stdout).decode(),
            "stderr": base64.b64encode(result.stderr).decode(),
        }
        self._reply(200, "application/json", json.dumps(body).encode())
