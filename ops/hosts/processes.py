"""Processes of the multi-host harness: started detached inside a host, recorded, stopped by pid.

``start(host, name, argv, env, log_dir, cwd)`` runs ``argv`` in host ``host``'s network namespace in
a session of its own (so it outlives ``python -m ops.hosts up``), output to ``<log_dir>/<name>.log``,
and returns a ``Proc`` record. ``stop(procs)`` sends SIGTERM, then SIGKILL after the grace period,
but only to pids that are still the recorded process: same start time (a reused pid is left alone;
command lines are no guide, Celery and Redis rewrite their titles).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ops.hosts import network
from workers.detached import alive


@dataclass
class Proc:
    """One started process: its role, the host it runs in, its pid and start time."""

    name: str
    host: int
    pid: int
    started: int  # its start time in clock ticks after boot (/proc/<pid>/stat field 22)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def start(host: int, name: str, argv: list[str], env: dict[str, str], log_dir: Path, cwd: str) -> Proc:
    """Start ``argv`` in host ``host`` (see the module docstring)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as out:
        child = subprocess.Popen(
            network.in_namespace(host, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    return Proc(name=name, host=host, pid=child.pid, started=start_time(child.pid))


def start_time(pid: int) -> int:
    """When ``pid`` started (clock ticks after boot); 0 when it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def cmdline(pid: int) -> list[str]:
    """The command line of ``pid`` (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [w.decode(errors="replace") for w in raw.split(b"\0") if w]


def running(proc: Proc) -> bool:
    """True while ``proc``'s pid is alive and is still the process that was started."""
    return alive(proc.pid) and start_time(proc.pid) == proc.started


def kill_all(pids: list[int], grace: float) -> None:
    """SIGTERM every pid, wait up to ``grace`` seconds for all to end, SIGKILL the rest."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)


def stop(procs: list[Proc], grace: float = 5.0) -> None:
    """Stop the recorded processes that still run (together, within one grace period)."""
    kill_all([p.pid for p in procs if running(p)], grace)


def pids_mentioning(text: str) -> list[int]:
    """Pids (other than this one) whose command line holds ``text`` (the harness's directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            if any(text in word for word in cmdline(int(entry))):
                found.append(int(entry))
    return found
