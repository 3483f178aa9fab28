"""The node's runtime daemon (``workers.runtime.daemon``) seen from the node agent: find it, start it, stop it.

The daemon outlives the agent: it is started in a session of its own (no parent-death signal), so
SIGTERM or SIGKILL of the agent leaves it, and the containers it supervises, running; the next
agent finds it by its socket. Files under the node's data dir: ``runtime.sock`` (the daemon's
socket), ``runtime/`` (its state), ``runtime.log`` (its output) and ``runtime.pid`` (the pid of
the daemon this agent last started).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from pathlib import Path

from workers import detached

log = logging.getLogger(__name__)
MODULE = "workers.runtime.daemon"


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "runtime.sock"


def _client(sock: Path, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    from tasks.kubelet.runtime_client import RuntimeClient

    return RuntimeClient(str(sock), timeout=timeout)


def runtime_version(sock: Path) -> str:
    """The daemon's ``version()``; ``OSError`` (or the client's error) when it does not answer."""
    return str(_client(sock, timeout=5.0).version())


def answers(sock: Path, timeout: float = 2.0) -> bool:
    """True when something accepts connections on ``sock`` and answers ``version()``."""
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
    except OSError:
        return False
    try:
        runtime_version(sock)
    except ImportError:  # no client to ask with: accepting connections has to do
        return True
    except Exception:  # noqa: BLE001 - any failure to answer means "not usable"
        return False
    return True


def ensure_daemon(data_dir: str | Path, node: str, timeout: float = 20.0) -> int | None:
    """Start the runtime daemon for ``node`` unless its socket answers; wait until it does.

    Returns the pid of the daemon started here, or None when one was already running.
    ``RuntimeError`` (with the end of ``runtime.log``) if it exits or stays silent past ``timeout``.
    """
    data = Path(data_dir)
    sock = socket_path(data)
    if answers(sock):
        log.info("runtime daemon already answers on %s", sock)
        return None
    (data / "runtime").mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        MODULE,
        "--socket",
        str(sock),
        "--root",
        str(data / "runtime"),
        "--node",
        node,
    ]
    pid = detached.spawn(
        args, data / "runtime.log", data / "runtime.pid", lambda: answers(sock), "runtime daemon", timeout
    )
    log.info("runtime daemon %d answers on %s", pid, sock)
    return pid


def daemon_pid(data_dir: str | Path) -> int | None:
    """The pid in ``runtime.pid`` if that process is still the daemon of this data dir."""
    return detached.find(Path(data_dir) / "runtime.pid", MODULE, socket_path(data_dir))


def stop_daemon(data_dir: str | Path, grace: float = 10.0) -> bool:
    """Stop every container through the runtime, then SIGTERM (later SIGKILL) the daemon.

    What ``kubeq up`` does on exit; a lone ``kubeq node`` never calls it. True if a daemon was stopped.
    """
    sock = socket_path(data_dir)
    if answers(sock):
        with contextlib.suppress(Exception):
            runtime = _client(sock)
            for container in runtime.list_containers():
                with contextlib.suppress(Exception):
                    runtime.stop_container(container.id, 2.0)
            for sandbox in runtime.list_pod_sandboxes():
                with contextlib.suppress(Exception):
                    runtime.stop_pod_sandbox(sandbox.id)
    pid = daemon_pid(data_dir)
    if pid is None:
        return False
    detached.terminate(pid, grace)
    return True
