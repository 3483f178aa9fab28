"""The ``namespaces`` isolation level: one holder process per pod owns its PID, mount, UTS, IPC and
network namespaces; every container (and every exec) of the pod is started inside them.

``Namespaces(state_dir)`` is what ``ProcessRuntime`` uses: ``setup(sandbox_id, hostname,
resolv_conf)`` starts the holder (PID 1 of the pod: it reaps orphans; the hostname is the pod's;
``/`` is made rprivate and a fresh ``/proc`` is mounted, so nothing the pod mounts reaches the host;
a non-empty ``resolv_conf`` text is written beside the holder's record and bind-mounted over
``/etc/resolv.conf`` in the pod's mount namespace only) and wires
its network (``workers.runtime.netns``), returning a ``Holder`` with the pod IP; ``argv(holder,
...)`` is the command line that runs a container command inside; ``teardown`` kills the holder
(the kernel then kills everything left in the pod), removes the veth and frees the IP. Holders are
recorded under ``state_dir`` so a restarted daemon finds them again.

This file is also the in-between process (run as ``python -I isolation.py enter SPEC -- CMD``):
it joins the holder's namespaces, bind-mounts the container's volumes at their container paths
in the pod's mount namespace (once per path), forks the command (the fork is what lands it in the
pod's PID namespace), drops to the container's user and waits, exiting as the command did. It
ignores the termination signals the runtime sends to the whole process group, so the command
handles them itself. Stdlib only: it runs as a bare script.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
NAMESPACES = ("ipc", "uts", "net", "pid", "mnt")  # mnt last: it changes what paths mean
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    enc = [s.encode() if s is not None else None for s in (source, target, fstype)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), None), f"mount {target}")


@dataclass
class Holder:
    """A pod's namespace holder: its host pid (+ start time, to tell it from a reused pid) and IP."""

    sandbox_id: str
    pid: int
    pid_start: int | None
    hostname: str
    ip: str = ""


def available() -> bool:
    """True when this host can run pods in namespaces: root, ``unshare`` and ``ip`` work."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip") and shutil.which("nsenter")):
        return False
    try:
        probe = ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "true"]
        if subprocess.run(probe, capture_output=True, timeout=10).returncode != 0:
            return False
        return subprocess.run(["ip", "link", "show"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def alive(holder: Holder) -> bool:
    start = _start_time(holder.pid)
    return start is not None and (holder.pid_start is None or start == holder.pid_start)


class Namespaces:
    """The pods' holders and network; see the module docstring."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        os.makedirs(state_dir, exist_ok=True)
        self._network = None

    @property
    def network(self):  # type: ignore[no-untyped-def]  # the bare-script mode cannot import netns
        if self._network is None:
            from workers.runtime.netns import PodNetwork

            self._network = PodNetwork(os.path.join(self.state_dir, "net"))
        return self._network

    def _path(self, sandbox_id: str) -> str:
        return os.path.join(self.state_dir, f"{sandbox_id}.json")

    def get(self, sandbox_id: str) -> Holder | None:
        """The sandbox's holder as recorded (alive or not), or None."""
        try:
            with open(self._path(sandbox_id)) as f:
                return Holder(**json.load(f))
        except (OSError, ValueError, TypeError):
            return None

    def _resolv_path(self, sandbox_id: str) -> str:
        return os.path.join(self.state_dir, f"{sandbox_id}.resolv.conf")

    def setup(self, sandbox_id: str, hostname: str, resolv_conf: str = "") -> Holder:
        """Start the pod's holder and network (or return the live one already recorded)."""
        old = self.get(sandbox_id)
        if old is not None and alive(old):
            return old
        hold = [sys.executable, "-I", os.path.abspath(__file__), "hold", hostname[:64]]
        if resolv_conf:
            with open(self._resolv_path(sandbox_id), "w") as f:
                f.write(resolv_conf)
            os.chmod(self._resolv_path(sandbox_id), 0o644)
            hold.append(self._resolv_path(sandbox_id))
        proc = subprocess.Popen(
            hold,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True, close_fds=True,
        )  # fmt: skip
        assert proc.stdout is not None
        words = proc.stdout.read().decode().split()  # the holder's host pid and "ready", any order
        proc.wait()
        pids = [int(w) for w in words if w.isdigit()]
        if "ready" not in words or len(pids) != 1:
            raise RuntimeError(f"pod namespace holder failed to start: {' '.join(words)}")
        pid = pids[0]
        holder = Holder(sandbox_id, pid, _start_time(pid), hostname)
        self._save(holder)
        try:
            holder.ip = self.network.attach(sandbox_id, pid)
        except Exception:
            self.teardown(sandbox_id)
            raise
        self._save(holder)
        return holder

    def _save(self, holder: Holder) -> None:
        tmp = self._path(holder.sandbox_id) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(holder), f)
        os.replace(tmp, self._path(holder.sandbox_id))

    def teardown(self, sandbox_id: str) -> None:
        """Kill the holder (and so the pod's processes), remove its veth (which takes the pod's end
        with it), free its IP. Idempotent."""
        holder = self.get(sandbox_id)
        if holder is not None and alive(holder):
            try:  # the kernel kills the rest of the pod; not waited for (it can take a second)
                os.kill(holder.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.network.detach(sandbox_id)
        for path in (self._path(sandbox_id), self._resolv_path(sandbox_id)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def argv(
    holder: Holder,
    command: list[str],
    env: dict[str, str],
    working_dir: str,
    mounts: list[tuple[str, str, bool]],
    uid: int | None,
    gid: int | None,
) -> list[str]:
    """The command line running ``command`` in the holder's namespaces. ``FileNotFoundError`` now
    when the program cannot be found (the host's filesystem is the pod's, volumes aside)."""
    prog = command[0] if command else ""
    under_mount = any(prog.startswith(dst.rstrip("/") + "/") for _, dst, _ in mounts)
    if not under_mount and not (shutil.which(prog, path=env.get("PATH")) if prog else None):
        raise FileNotFoundError(2, f"executable not found: {prog!r}", prog)
    spec = {"pid": holder.pid, "wd": working_dir or "/", "mounts": mounts, "uid": uid, "gid": gid}
    return [sys.executable, "-I", os.path.abspath(__file__), "enter", json.dumps(spec), "--", *command]


LOOPBACK = ("", "127.0.0.1", "localhost", "::1")


def retarget_probes(config: Any, ip: str) -> Any:
    """A copy of a ``ContainerConfig`` whose httpGet/tcpSocket probes aimed at loopback aim at
    ``ip`` (the pod's): the host's loopback is not the pod's."""
    changes = {}
    for name in ("liveness", "readiness", "startup"):
        probe = getattr(config, name)
        if probe is not None and probe.kind != "exec" and probe.host in LOOPBACK and ip:
            changes[name] = replace(probe, host=ip)
    return replace(config, **changes) if changes else config


# ---- the bare-script side: holder and in-between process ---------------------------------------


def _hold(hostname: str, resolv_conf: str = "") -> None:
    """Unshare, fork PID 1 of the pod, print its host pid; the child prints "ready" and reaps.
    ``resolv_conf``: a file to bind over ``/etc/resolv.conf`` (when the host has one to cover)."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET), "unshare")
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        os._exit(0)
    try:
        _check(_libc.sethostname(hostname.encode(), len(hostname.encode())), "sethostname")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if resolv_conf and os.path.exists("/etc/resolv.conf"):
            _mount(resolv_conf, "/etc/resolv.conf", None, MS_BIND)
    except OSError as exc:
        print(f"error {exc}", flush=True)
        os._exit(1)
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.SIG_IGN)

    def reap(*_: object) -> None:
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    return
            except ChildProcessError:
                return

    signal.signal(signal.SIGCHLD, reap)
    while True:
        signal.pause()


def _enter(spec: dict, command: list[str]) -> None:
    fds = [os.open(f"/proc/{spec['pid']}/ns/{ns}", os.O_RDONLY) for ns in NAMESPACES]
    for fd, ns in zip(fds, NAMESPACES, strict=True):
        _check(_libc.setns(fd, 0), f"setns {ns}")
        os.close(fd)
    for src, dst, read_only in spec["mounts"]:
        if os.path.ismount(dst):
            continue  # an earlier container (or attempt) of the pod mounted it already
        os.makedirs(dst, exist_ok=True)
        _mount(src, dst, None, MS_BIND | MS_REC)
        if read_only:
            _mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_IGN)  # the process group gets them; the command decides
    child = os.fork()
    if child == 0:
        try:
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.chdir(spec["wd"])
            if spec["uid"] is not None or spec["gid"] is not None:
                os.setgroups([])
                if spec["gid"] is not None:
                    os.setgid(spec["gid"])
                if spec["uid"] is not None:
                    os.setuid(spec["uid"])
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"kubeq: cannot run {command[0]!r}: {exc}\n".encode())
            os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):  # a shell's convention: 128 + the signal (SIGKILL -> 137), as kubelets report
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main(args: list[str]) -> None:
    if args[:1] == ["hold"]:
        _hold(args[1], args[2] if len(args) > 2 else "")
    elif args[:1] == ["enter"] and args[2:3] == ["--"]:
        _enter(json.loads(args[1]), args[3:])
    else:
        sys.exit("usage: isolation.py hold HOSTNAME [RESOLV_CONF] | enter SPEC -- COMMAND...")


if __name__ == "__main__":
    main(sys.argv[1:])
