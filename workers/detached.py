"""Daemons that outlive the node agent: started in a session of their own, found again by pid file.

``spawn`` starts ``args`` detached (no parent-death signal: SIGKILL of the agent leaves the daemon and
what it serves running), records its pid and waits until ``answers()``; ``find`` trusts a pid file only
while that process still runs ``module`` on ``sock``; ``terminate`` sends SIGTERM, then SIGKILL after
``grace`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def spawn(
    args: list[str], logfile: Path, pidfile: Path, answers: Callable[[], bool], what: str, timeout: float
) -> int:
    """Start the daemon, write ``pidfile`` and return its pid once it answers; ``RuntimeError``
    with the end of ``logfile`` when it exits or stays silent past ``timeout``."""
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    pidfile.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}: {tail(logfile)}")
        if answers():
            return proc.pid
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s: {tail(logfile)}")


def find(pidfile: Path, module: str, sock: Path) -> int | None:
    """The pid in ``pidfile`` if that process still runs ``python -m module`` with ``sock`` in its
    command line (a reused pid of another program is not ours)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if module.encode() in cmdline and str(sock).encode() in cmdline else None


def terminate(pid: int, grace: float) -> None:
    """SIGTERM ``pid``; SIGKILL it if it still lives after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (reaps it if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def tail(path: Path, size: int = 2000) -> str:
    """The last ``size`` bytes of ``path`` as text ("" when it cannot be read)."""
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return ""
