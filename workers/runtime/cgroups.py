"""Resource limits for a container: a cgroup (v2, else v1 per controller) when writable, else rlimits.

``Limits.setup()`` runs in the runtime before the process starts; ``Limits.enter()`` runs in the
child between fork and exec (it joins the cgroups or sets RLIMIT_AS, before dropping privileges).

- cgroup v2 (``/sys/fs/cgroup`` is the unified hierarchy, memory delegated): one child
  ``kubeq/<name>`` with ``memory.max``, ``pids.max``, ``cpu.max`` (period 100 ms); OOM kills are
  read from ``memory.events``.
- cgroup v1 (``/sys/fs/cgroup/{memory,pids,cpu}`` are separate hierarchies): one child
  ``kubeq/<name>`` per controller with ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``
  when swap accounting exists), ``pids.max``, ``cpu.cfs_quota_us``/``cpu.cfs_period_us``; OOM kills
  are read from ``memory.oom_control``'s ``oom_kill`` counter (``memory.failcnt`` on old kernels).
- neither: RLIMIT_AS = the memory limit (allocations past it fail; the kernel never OOM-kills, so
  ``oom_killed`` is always False).

``remove()`` deletes the container's cgroup directories once their processes are gone.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from dataclasses import dataclass, field

CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "kubeq"
CPU_PERIOD = 100_000
V1_CONTROLLERS = ("memory", "pids", "cpu")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def cgroup_v2_parent(root: str = CGROUP_ROOT) -> str | None:
    """The kubeq parent cgroup (made, with memory/pids/cpu delegated) or None if v2 is not usable."""
    controllers = _read(os.path.join(root, "cgroup.controllers")).split()
    if "memory" not in controllers:
        return None
    parent = os.path.join(root, PARENT)
    try:
        os.makedirs(parent, exist_ok=True)
        wanted = [c for c in ("memory", "pids", "cpu") if c in controllers]
        for cg in (root, parent):
            enabled = _read(os.path.join(cg, "cgroup.subtree_control")).split()
            missing = " ".join(f"+{c}" for c in wanted if c not in enabled)
            if missing:
                _write(os.path.join(cg, "cgroup.subtree_control"), missing)
    except OSError:
        return None
    return parent


def cgroup_v1_parents(root: str = CGROUP_ROOT) -> dict[str, str]:
    """Controller -> the kubeq parent cgroup in that v1 hierarchy, for each writable one (made)."""
    out: dict[str, str] = {}
    for ctrl in V1_CONTROLLERS:
        mount = os.path.join(root, ctrl)
        if not os.path.exists(os.path.join(mount, "tasks")):  # "tasks" exists only in v1 hierarchies
            continue
        parent = os.path.join(mount, PARENT)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError:
            continue
        if os.access(parent, os.W_OK):
            out[ctrl] = parent
    return out


def limits_enforced(root: str = CGROUP_ROOT) -> bool:
    """True when a memory limit is enforced by a cgroup (v2 or v1) so the kernel OOM-kills."""
    return cgroup_v2_parent(root) is not None or "memory" in cgroup_v1_parents(root)


@dataclass
class Limits:
    """One container's limits; ``cgroup`` (v2) or ``v1`` (one dir per controller) once ``setup`` ran."""

    memory: int | None = None
    pids: int | None = None
    cpu_millis: int | None = None
    cgroup: str = ""
    v1: list[str] = field(default_factory=list)

    def setup(self, name: str, use_cgroups: bool = True) -> None:
        """Make the container's cgroup(s) (``name`` under the kubeq parents) if cgroups are usable."""
        if not use_cgroups:
            return
        parent = cgroup_v2_parent()
        if parent is not None:
            self._setup_v2(os.path.join(parent, name))
        else:
            self._setup_v1(name)

    def _setup_v2(self, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
            if self.memory:
                _write(os.path.join(path, "memory.max"), str(self.memory))
                if os.path.exists(os.path.join(path, "memory.swap.max")):
                    _write(os.path.join(path, "memory.swap.max"), "0")
            if self.pids:
                _write(os.path.join(path, "pids.max"), str(self.pids))
            if self.cpu_millis:
                _write(os.path.join(path, "cpu.max"), f"{self.cpu_millis * CPU_PERIOD // 1000} {CPU_PERIOD}")
        except OSError:
            return
        self.cgroup = path

    def _setup_v1(self, name: str) -> None:
        made: list[str] = []
        for ctrl, parent in cgroup_v1_parents().items():
            path = os.path.join(parent, name)
            try:
                os.makedirs(path, exist_ok=True)
                made.append(path)
                if ctrl == "memory" and self.memory:
                    _write(os.path.join(path, "memory.limit_in_bytes"), str(self.memory))
                    swap = os.path.join(path, "memory.memsw.limit_in_bytes")
                    if os.path.exists(swap):  # memory+swap = memory: no swapping past the limit
                        _write(swap, str(self.memory))
                elif ctrl == "pids" and self.pids:
                    _write(os.path.join(path, "pids.max"), str(self.pids))
                elif ctrl == "cpu" and self.cpu_millis:
                    _write(os.path.join(path, "cpu.cfs_period_us"), str(CPU_PERIOD))
                    _write(os.path.join(path, "cpu.cfs_quota_us"), str(self.cpu_millis * CPU_PERIOD // 1000))
            except OSError:
                continue
        self.v1 = made

    def _v1_dir(self, ctrl: str) -> str:
        return next((p for p in self.v1 if os.path.basename(os.path.dirname(os.path.dirname(p))) == ctrl), "")

    def enter(self) -> None:
        """In the child before exec: join the cgroup(s); without a memory cgroup, RLIMIT_AS instead."""
        me = str(os.getpid())
        if self.cgroup:
            _write(os.path.join(self.cgroup, "cgroup.procs"), me)
        for path in self.v1:
            _write(os.path.join(path, "cgroup.procs"), me)
        if self.memory and not self.cgroup and not self._v1_dir("memory"):
            resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.memory))

    def oom_killed(self) -> bool:
        """True when the kernel OOM-killed a process of the container's cgroup."""
        if self.cgroup:
            return _counter(os.path.join(self.cgroup, "memory.events"), "oom_kill") > 0
        memory = self._v1_dir("memory")
        if not memory:
            return False
        control = _read(os.path.join(memory, "memory.oom_control"))
        if "oom_kill " in control:
            return _counter(os.path.join(memory, "memory.oom_control"), "oom_kill") > 0
        return int(_read(os.path.join(memory, "memory.failcnt")).strip() or 0) > 0

    def pids_in(self) -> set[int]:
        """The pids now in the container's cgroup(s)."""
        out: set[int] = set()
        for path in [self.cgroup] if self.cgroup else self.v1:
            out |= {int(p) for p in _read(os.path.join(path, "cgroup.procs")).split() if p.isdigit()}
        return out

    def kill_all(self) -> None:
        """SIGKILL every process left in the cgroup(s) (v2: ``cgroup.kill`` when the kernel has it)."""
        if self.cgroup and os.path.exists(os.path.join(self.cgroup, "cgroup.kill")):
            try:
                _write(os.path.join(self.cgroup, "cgroup.kill"), "1")
                return
            except OSError:
                pass
        for pid in self.pids_in():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def remove(self, wait: float = 2.0) -> None:
        """Delete the cgroup directories (killing what is left; retried while dying tasks leave)."""
        paths = [p for p in ([self.cgroup] if self.cgroup else []) + self.v1 if os.path.isdir(p)]
        if not paths:
            return
        if self.pids_in():
            self.kill_all()
        deadline = time.monotonic() + wait
        while paths:
            left = []
            for path in paths:
                try:
                    os.rmdir(path)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(path)
            paths = left
            if not paths or time.monotonic() > deadline:
                break
            time.sleep(0.05)


def _counter(path: str, key: str) -> int:
    """The value of ``key`` in a flat-keyed cgroup file (``memory.events``, ``memory.oom_control``)."""
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value.strip() or 0)
    return 0
