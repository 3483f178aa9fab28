"""``ProcessRuntime``: the CRI ``RuntimeService`` with host isolation, containers as process groups.

A sandbox is a record (and the pod's directory); a container is its command run in a new session
(process group = pid) with its env, working dir (or the pod dir), user/group (when root) and
limits (``workers.runtime.cgroups``); stdout/stderr go through FIFOs into a CRI log file under
``<pod_dir>/logs/<container>/<attempt>.log``. Every record is a JSON file under ``root_dir``: a
new runtime over the same root lists the same sandboxes and containers and re-adopts containers
whose process still runs (same pid and start time), watching them through /proc. The exit code of
a re-adopted container is not knowable; it exits as 137 / ``ContainerStatusUnknown``.

``on_change(status)`` is called (from runtime threads) whenever a container exits on its own or a
probe result flips; an exit that ``stop_container`` or ``remove_container`` asked for is not reported
(the caller knows: the kubelet's sync that stops a container writes its status itself). Mounts are recorded only: with host isolation a container sees volumes at their host
paths.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cluster import trace
from tasks.kubelet import cri
from tasks.kubelet.cri_codec import decode
from workers.runtime import isolation, procfs, spawn
from workers.runtime.cgroups import Limits
from workers.runtime.logs import DEFAULT_MAX_BYTES, LogWriter, Pump, make_fifo, open_reader, open_writer
from workers.runtime.probes import Prober
from workers.runtime.state import StateDir

VERSION = "kubeq-process://0.1.0"
POLL = 0.1  # seconds between /proc checks of re-adopted processes
UNKNOWN_EXIT = 137


@dataclass
class _Container:
    status: cri.ContainerStatus
    config: cri.ContainerConfig
    limits: Limits = field(default_factory=Limits)
    pid_start: int | None = None
    proc: subprocess.Popen | None = None
    exited: threading.Event = field(default_factory=threading.Event)
    pumps: list[Pump] = field(default_factory=list)
    writer: LogWriter | None = None
    prober: Prober | None = None
    stopping: bool = False  # stop_container asked for the exit: not reported to on_change

    def record(self) -> dict:
        return {
            "status": self.status,
            "config": self.config,
            "limits": self.limits,
            "pid_start": self.pid_start,
        }


def host_ip() -> str:
    """This machine's primary address (the route to the outside), else 127.0.0.1."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


class ProcessRuntime:
    """RuntimeService over real processes; ``close()`` detaches (containers keep running)."""

    def __init__(
        self,
        root_dir: str,
        on_change: Callable[[cri.ContainerStatus], None] | None = None,
        log_max_bytes: int = DEFAULT_MAX_BYTES,
        use_cgroups: bool = True,
        probes: bool = True,
    ) -> None:
        self.state = StateDir(root_dir)
        self.ns = isolation.Namespaces(os.path.join(self.state.root, "isolation"))  # namespaces level
        self.on_change = on_change
        self.log_max_bytes = log_max_bytes
        self.use_cgroups = use_cgroups
        self.run_probes = probes
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._sandboxes: dict[str, cri.SandboxStatus] = {}
        self._containers: dict[str, _Container] = {}
        self._adopted: set[str] = set()
        self._load()
        threading.Thread(target=self._watch_adopted, daemon=True, name="runtime-watch").start()

    # -- lifecycle of the runtime itself ---------------------------------------------------------

    def _load(self) -> None:
        for sid, rec in self.state.load_all("sandboxes").items():
            self._sandboxes[sid] = decode(cri.SandboxStatus, rec["status"])
        for cid, rec in self.state.load_all("containers").items():
            c = _Container(
                status=decode(cri.ContainerStatus, rec["status"]),
                config=decode(cri.ContainerConfig, rec["config"]),
                limits=decode(Limits, rec.get("limits") or {}),
                pid_start=rec.get("pid_start"),
            )
            self._containers[cid] = c
            if c.status.state != cri.RUNNING:
                continue
            if c.status.pid and procfs.alive(c.status.pid, c.pid_start):
                c.writer = LogWriter(c.status.log_path, self.log_max_bytes)
                self._start_pumps(cid, c)
                self._adopted.add(cid)
                self._start_probes(cid, c)
            else:
                self._finish(cid, c, UNKNOWN_EXIT, "ContainerStatusUnknown", notify=False)

    def close(self) -> None:
        """Stop watching (threads end); running containers are left running for a later runtime."""
        self._closed.set()
        with self._lock:
            for c in self._containers.values():
                if c.prober:
                    c.prober.stop()
                for p in c.pumps:
                    p.stop()

    def child_pids(self) -> set[int]:
        """Pids this runtime waits for itself (a reaper must leave them alone)."""
        with self._lock:
            return {c.proc.pid for c in self._containers.values() if c.proc is not None}

    # -- sandboxes --------------------------------------------------------------------------------

    def version(self) -> str:
        return VERSION

    def run_pod_sandbox(self, config: cri.SandboxConfig) -> str:
        with self._lock:
            for sb in self._sandboxes.values():
                if sb.config.pod_uid == config.pod_uid and sb.state == cri.SANDBOX_READY:
                    return sb.id
            sid = uuid.uuid4().hex
            os.makedirs(config.pod_dir, exist_ok=True)
            ip = host_ip()
            if config.isolation == "namespaces":  # a holder owns the pod's namespaces; the pod gets an IP
                ip = self.ns.setup(sid, config.hostname or config.name, config.dns_config).ip
            sb = cri.SandboxStatus(sid, config, cri.SANDBOX_READY, ip=ip, created_at=time.time())
            self._sandboxes[sid] = sb
            self.state.save("sandboxes", sid, {"status": sb})
            return sid

    def _sandbox(self, sandbox_id: str) -> cri.SandboxStatus:
        try:
            return self._sandboxes[sandbox_id]
        except KeyError:
            raise KeyError(f"sandbox {sandbox_id} not found") from None

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sb = self._sandbox(sandbox_id)
        for st in self.list_containers(sandbox_id):
            self.stop_container(st.id, 0)
        if sb.config.isolation == "namespaces":
            self.ns.teardown(sandbox_id)
        with self._lock:
            sb.state = cri.SANDBOX_NOTREADY
            self.state.save("sandboxes", sandbox_id, {"status": sb})

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove its containers, its record and the pod directory (a no-op for an unknown id)."""
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return
        for st in self.list_containers(sandbox_id):
            self.remove_container(st.id)
        if sb.config.isolation == "namespaces":
            self.ns.teardown(sandbox_id)
        with self._lock:
            self._sandboxes.pop(sandbox_id, None)
            self.state.delete("sandboxes", sandbox_id)
        if sb.config.pod_dir and os.path.abspath(sb.config.pod_dir) != "/":
            shutil.rmtree(sb.config.pod_dir, ignore_errors=True)

    def pod_sandbox_status(self, sandbox_id: str) -> cri.SandboxStatus:
        with self._lock:
            return replace(self._sandbox(sandbox_id))

    def list_pod_sandboxes(
        self, namespace: str | None = None, name: str | None = None
    ) -> list[cri.SandboxStatus]:
        with self._lock:
            return [replace(sb) for sb in self._sandboxes.values() if cri.sandbox_of(sb, namespace, name)]

    # -- containers -------------------------------------------------------------------------------

    def _container(self, container_id: str) -> _Container:
        try:
            return self._containers[container_id]
        except KeyError:
            raise KeyError(f"container {container_id} not found") from None

    def create_container(self, sandbox_id: str, config: cri.ContainerConfig) -> str:
        with self._lock:
            sb = self._sandbox(sandbox_id)
            cid = uuid.uuid4().hex
            log_path = os.path.join(sb.config.pod_dir, "logs", config.name, f"{config.attempt}.log")
            status = cri.ContainerStatus(
                cid, sandbox_id, config.name, config.image, cri.CREATED, attempt=config.attempt,
                created_at=time.time(), log_path=log_path,
            )  # fmt: skip
            c = _Container(
                status, config, Limits(config.memory_limit, config.pids_limit, config.cpu_limit_millis)
            )
            self._containers[cid] = c
            self.state.save("containers", cid, c.record())
            return cid

    def start_container(self, container_id: str) -> None:
        with self._lock:
            c = self._container(container_id)
            if c.status.state != cri.CREATED:
                raise ValueError(f"container {container_id} is {c.status.state}, not created")
            c.limits.setup(container_id, self.use_cgroups)
            c.writer = LogWriter(c.status.log_path, self.log_max_bytes)
            fifos = [self.state.fifo(container_id, s) for s in ("stdout", "stderr")]
            for path in fifos:
                make_fifo(path)
            readers = [open_reader(p) for p in fifos]
            writers = [open_writer(p) for p in fifos]
            try:
                sandbox = self._sandboxes.get(c.status.sandbox_id)
                c.proc = spawn.start(
                    c.config, sandbox, c.limits, writers[0], writers[1], self._holder(sandbox)
                )
            except (OSError, subprocess.SubprocessError) as exc:
                for fd in readers:
                    os.close(fd)
                c.writer.close()
                c.limits.remove()
                self._finish(container_id, c, 128, "StartError", message=str(exc), notify=False)
                raise
            finally:
                for fd in writers:
                    os.close(fd)
            c.pid_start = procfs.start_time(c.proc.pid)
            c.status.pid, c.status.started_at, c.status.state = c.proc.pid, time.time(), cri.RUNNING
            trace.mark(sandbox.config.pod_uid if sandbox else None, "process_started", c.status.started_at)
            c.status.ready = c.config.readiness is None
            c.status.started = c.config.startup is None
            self._start_pumps(container_id, c, readers)
            self.state.save("containers", container_id, c.record())
            threading.Thread(target=self._wait, args=(container_id, c), daemon=True).start()
            self._start_probes(container_id, c)

    def _start_pumps(self, cid: str, c: _Container, fds: list[int] | None = None) -> None:
        fds = fds or [open_reader(self.state.fifo(cid, s)) for s in ("stdout", "stderr")]
        assert c.writer is not None
        c.pumps = [Pump(fd, s, c.writer) for fd, s in zip(fds, ("stdout", "stderr"), strict=True)]
        for p in c.pumps:
            p.start()

    def _start_probes(self, cid: str, c: _Container) -> None:
        sb = self._sandboxes.get(c.status.sandbox_id)
        cfg = c.config
        if sb is not None and sb.config.isolation == "namespaces":  # loopback probes go to the pod IP
            cfg = isolation.retarget_probes(cfg, sb.ip)
        if self.run_probes and (cfg.liveness or cfg.readiness or cfg.startup):
            c.prober = Prober(
                cfg, lambda cmd, t: self.exec_sync(cid, cmd, t), lambda k, v: self._probed(cid, k, v)
            )
            c.prober.start()

    def _probed(self, cid: str, key: str, value: bool) -> None:
        with self._lock:
            c = self._containers.get(cid)
            if c is None or c.status.state != cri.RUNNING or getattr(c.status, key) == value:
                return
            setattr(c.status, key, value)
            self.state.save("containers", cid, c.record())
            status = replace(c.status)
        self._notify(status)

    def _wait(self, cid: str, c: _Container) -> None:
        assert c.proc is not None
        code = c.proc.wait()
        if self._closed.is_set():
            return
        code = spawn.exit_code(code)
        self._reap_group(c)
        reason = "OOMKilled" if c.limits.oom_killed() else ("Completed" if code == 0 else "Error")
        self._finish(cid, c, code, reason)

    def _watch_adopted(self) -> None:
        while not self._closed.wait(POLL):
            with self._lock:
                gone = [cid for cid in self._adopted if not self._alive(self._containers[cid])]
            for cid in gone:
                c = self._containers[cid]
                self._adopted.discard(cid)
                self._reap_group(c)
                reason = "OOMKilled" if c.limits.oom_killed() else "ContainerStatusUnknown"
                self._finish(cid, c, UNKNOWN_EXIT, reason)

    @staticmethod
    def _alive(c: _Container) -> bool:
        return procfs.alive(c.status.pid or 0, c.pid_start)

    def _reap_group(self, c: _Container) -> None:
        """Kill what the container left in its process group / cgroup; let its logs drain."""
        if c.status.pid:
            try:
                os.killpg(c.status.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        c.limits.kill_all()
        for p in c.pumps:
            p.join(2)

    def _finish(
        self, cid: str, c: _Container, code: int, reason: str, message: str = "", notify: bool = True
    ) -> None:
        with self._lock:
            if c.prober:
                c.prober.stop()
            st = c.status
            st.state, st.exit_code, st.reason, st.message = cri.EXITED, code, reason, message
            st.finished_at, st.ready = time.time(), False
            if c.writer:
                c.writer.close()
            c.limits.remove()
            if cid in self._containers:
                self.state.save("containers", cid, c.record())
            status = replace(st)
        c.exited.set()
        if notify and not c.stopping:
            self._notify(status)

    def _notify(self, status: cri.ContainerStatus) -> None:
        if self.on_change is not None and not self._closed.is_set():
            self.on_change(status)

    def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._container(container_id)
        if c.status.state != cri.RUNNING or c.status.pid is None:
            return
        pgid = c.status.pid
        c.stopping = True
        for sig, wait in ((signal.SIGTERM, max(float(timeout), 0.0)), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            if c.exited.wait(wait):
                return

    def remove_container(self, container_id: str) -> None:
        """Stop it at once if it runs, then forget it and remove its log files (unknown id: no-op)."""
        c = self._containers.get(container_id)
        if c is None:
            return
        self.stop_container(container_id, 0)
        with self._lock:
            self._containers.pop(container_id, None)
            self._adopted.discard(container_id)
            self.state.delete("containers", container_id)
        for path in (c.status.log_path, c.status.log_path + ".1", *self._fifos(container_id)):
            try:
                os.unlink(path)
            except (FileNotFoundError, IsADirectoryError):
                pass

    def _fifos(self, cid: str) -> list[str]:
        return [self.state.fifo(cid, s) for s in ("stdout", "stderr")]

    def container_status(self, container_id: str) -> cri.ContainerStatus:
        with self._lock:
            return replace(self._container(container_id).status)

    def list_containers(self, sandbox_id: str | None = None) -> list[cri.ContainerStatus]:
        with self._lock:
            return [
                replace(c.status)
                for c in self._containers.values()
                if sandbox_id is None or c.status.sandbox_id == sandbox_id
            ]

    def exec_sync(self, container_id: str, command: list[str], timeout: float) -> cri.ExecResult:
        """Run ``command`` with the container's env, cwd, user and cgroup; ``TimeoutError`` past
        ``timeout`` seconds (the command's process group is killed)."""
        c = self._container(container_id)
        if c.status.state != cri.RUNNING:
            raise ValueError(f"container {container_id} is not running")
        sb = self._sandboxes.get(c.status.sandbox_id)
        return spawn.run_sync(c.config, sb, c.limits, command, timeout, self._holder(sb))

    def _holder(self, sb: cri.SandboxStatus | None) -> isolation.Holder | None:
        """The namespace holder of a ``namespaces`` sandbox (``ProcessLookupError`` when it is gone)."""
        if sb is None or sb.config.isolation != "namespaces":
            return None
        holder = self.ns.get(sb.id)
        if holder is None or not isolation.alive(holder):
            raise ProcessLookupError(f"sandbox {sb.id} has no live namespaces (stopped?)")
        return holder
