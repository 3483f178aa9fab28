"""The userspace proxy daemon seen from the node agent: start it, ask it, stop it; the backend on top.

``UserspaceBackend(data_dir, node)`` implements ``tasks.proxy.backend.ProxyBackend``: ``apply`` sends
the state to the daemon on ``<data_dir>/proxy.sock`` and returns its summary; when the daemon does not
answer it is started again (``ensure_daemon``) and the state sent once more. The daemon outlives the
agent (its own session, like the runtime daemon); ``stop_daemon`` is what ``kubeq up`` calls on exit.
Files: ``proxy.sock``, ``proxy.sock.state.json`` (the last state), ``proxy.log``, ``proxy.pid``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from tasks.proxy.model import ProxyState
from workers import detached
from workers.proxy.wire import to_wire

log = logging.getLogger(__name__)
MODULE = "workers.proxy.daemon"


class DaemonError(RuntimeError):
    """The daemon answered, but with ``ok: false``."""


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "proxy.sock"


def request(sock: str | Path, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request and return the reply; ``OSError`` when the daemon is away, ``DaemonError``
    when it refuses."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("the proxy daemon closed the connection without answering")
            data += chunk
    reply = json.loads(data)
    if not reply.get("ok"):
        raise DaemonError(reply.get("error") or "the proxy daemon refused the request")
    return reply


def answers(sock: str | Path, timeout: float = 2.0) -> bool:
    try:
        request(sock, {"op": "ping"}, timeout)
    except (OSError, ValueError, DaemonError):
        return False
    return True


def ensure_daemon(
    data_dir: str | Path, node: str = "", service_range: str | None = None, timeout: float = 15.0
) -> int | None:
    """Start the daemon unless ``<data_dir>/proxy.sock`` answers; wait until it does. ``service_range``:
    the ClusterIP range it makes local (default: ``$KUBEQ_SERVICE_CLUSTER_IP_RANGE`` or 10.96.0.0/16).

    Returns the pid started here (None if one was running); ``RuntimeError`` with the end of
    ``proxy.log`` if it exits or stays silent past ``timeout``.
    """
    data = Path(data_dir)
    sock = socket_path(data)
    if answers(sock):
        return None
    data.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", MODULE, "--socket", str(sock), "--node", node]
    if service_range:
        args += ["--service-range", service_range]
    pid = detached.spawn(
        args, data / "proxy.log", data / "proxy.pid", lambda: answers(sock), "proxy daemon", timeout
    )
    log.info("proxy daemon %d answers on %s", pid, sock)
    return pid


def daemon_pid(data_dir: str | Path) -> int | None:
    """The pid in ``proxy.pid`` if that process is still this data dir's proxy daemon."""
    return detached.find(Path(data_dir) / "proxy.pid", MODULE, socket_path(data_dir))


def stop_daemon(data_dir: str | Path, grace: float = 5.0) -> bool:
    """SIGTERM (later SIGKILL) the daemon of ``data_dir``; True if one was stopped."""
    pid = daemon_pid(data_dir)
    if pid is None:
        return False
    detached.terminate(pid, grace)
    return True


class UserspaceBackend:
    """``ProxyBackend`` through the forwarder daemon of ``data_dir`` (see the module docstring)."""

    mode = "userspace"

    def __init__(self, data_dir: str | Path, node: str = "", service_range: str | None = None) -> None:
        self.data_dir, self.node, self.service_range = Path(data_dir), node, service_range
        self.sock = socket_path(self.data_dir)

    def apply(self, state: ProxyState) -> dict:
        message = {"op": "apply", "state": to_wire(state)}
        try:
            return request(self.sock, message)["summary"]
        except OSError as exc:
            log.warning("proxy daemon on %s does not answer (%s); starting it", self.sock, exc)
        ensure_daemon(self.data_dir, self.node, self.service_range)
        return request(self.sock, message)["summary"]

    def cleanup(self) -> None:
        with contextlib.suppress(OSError):
            request(self.sock, {"op": "cleanup"})

    def status(self) -> dict[str, Any]:
        """The daemon's open and failed listeners (``{"listeners": [..], "failed": [..]}``)."""
        return request(self.sock, {"op": "status"})
