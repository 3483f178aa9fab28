"""Resource limits for a container: a cgroup v2 child when the hierarchy is writable, else rlimits.

``Limits.setup()`` runs in the runtime before the process starts; ``Limits.enter()`` runs in the
child between fork and exec (it joins the cgroup or sets RLIMIT_AS, before dropping privileges).
With cgroups: ``memory.max``, ``pids.max``, ``cpu.max`` (period 100 ms) and OOM kills read from
``memory.events``. Without: RLIMIT_AS = the memory limit (allocations past it fail; the kernel
never OOM-kills, so ``oom_killed`` is always False).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "kubeq"
CPU_PERIOD = 100_000


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


@dataclass
class Limits:
    """One container's limits; ``cgroup`` is its cgroup directory once ``setup`` made one."""

    memory: int | None = None
    pids: int | None = None
    cpu_millis: int | None = None
    cgroup: str = ""

    def setup(self, name: str, use_cgroups: bool = True) -> None:
        """Make the container's cgroup (``name`` under the kubeq parent) if cgroups are usable."""
        parent = cgroup_v2_parent() if use_cgroups else None
        if parent is None:
            return
        path = os.path.join(parent, name)
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

    def enter(self) -> None:
        """In the child before exec: join the cgroup, or fall back to RLIMIT_AS for memory."""
        if self.cgroup:
            _write(os.path.join(self.cgroup, "cgroup.procs"), str(os.getpid()))
        elif self.memory:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.memory))

    def oom_killed(self) -> bool:
        """True when the kernel OOM-killed a process of the container's cgroup."""
        if not self.cgroup:
            return False
        for line in _read(os.path.join(self.cgroup, "memory.events")).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value or 0) > 0:
                return True
        return False

    def kill_all(self) -> None:
        """SIGKILL every process left in the cgroup (``cgroup.kill``, kernels >= 5.14)."""
        if self.cgroup and os.path.exists(os.path.join(self.cgroup, "cgroup.kill")):
            try:
                _write(os.path.join(self.cgroup, "cgroup.kill"), "1")
            except OSError:
                pass

    def remove(self) -> None:
        if self.cgroup:
            try:
                os.rmdir(self.cgroup)
            except OSError:
                pass
