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
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


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
    logfile = data / "runtime.log"
    args = [
        sys.executable,
        "-m",
        "workers.runtime.daemon",
        "--socket",
        str(sock),
        "--root",
        str(data / "runtime"),
        "--node",
        node,
    ]
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    (data / "runtime.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"runtime daemon exited with code {proc.returncode}: {_tail(logfile)}")
        if answers(sock):
            log.info("runtime daemon %d answers on %s", proc.pid, sock)
            return proc.pid
        time.sleep(0.1)
    raise RuntimeError(f"runtime daemon did not answer on {sock} within {timeout:.0f} s: {_tail(logfile)}")


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return ""


def daemon_pid(data_dir: str | Path) -> int | None:
    """The pid in ``runtime.pid`` if that process is still the daemon of this data dir."""
    data = Path(data_dir)
    try:
        pid = int((data / "runtime.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if b"workers.runtime.daemon" in cmdline and str(socket_path(data)).encode() in cmdline:
        return pid
    return None


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
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (reaps it if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
