"""Facts about processes read from /proc: liveness (zombies count as gone), start times, children.

A pid alone may be reused; ``(pid, start_time)`` names one process for good, which is how a
runtime restarted over its old state tells its containers from strangers.
"""

from __future__ import annotations

import os


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such process."""
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def alive(pid: int, started: int | None = None) -> bool:
    """True while ``pid`` runs (not a zombie) and, when given, started at ``started``."""
    fields = _stat(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def zombie_children(parent: int) -> list[int]:
    """Pids of ``parent``'s children that have exited and wait to be reaped."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields and fields[0] == "Z" and int(fields[1]) == parent:
                out.append(int(name))
    return out
