"""How a container's processes are made: env, working dir, user/group and limits, in a new session.

The container's main process and every ``exec_sync`` command share these surroundings, so a
command run "in" a container sees what the container sees (host isolation: same filesystem).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

from tasks.kubelet import cri
from workers.runtime import isolation
from workers.runtime.cgroups import Limits


def exit_code(returncode: int) -> int:
    """Popen's return code as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def environment(config: cri.ContainerConfig, sandbox: cri.SandboxStatus | None) -> dict[str, str]:
    """PATH (the runtime's), HOME and HOSTNAME (the pod's), then the container's own variables."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": "/root"}
    if sandbox:
        env["HOSTNAME"] = sandbox.config.hostname or sandbox.config.name
    env.update(config.env)
    return env


def working_dir(config: cri.ContainerConfig, sandbox: cri.SandboxStatus | None) -> str:
    return config.working_dir or (sandbox.config.pod_dir if sandbox else "/")


def preexec(limits: Limits, config: cri.ContainerConfig) -> Callable[[], None]:
    """The child's steps before exec: enter the limits, then drop to the user/group (when root)."""
    uid, gid = config.run_as_user, config.run_as_group
    as_root = os.geteuid() == 0

    def enter() -> None:
        limits.enter()
        if as_root and (uid is not None or gid is not None):
            os.setgroups([])
            if gid is not None:
                os.setgid(gid)
            if uid is not None:
                os.setuid(uid)

    return enter


def start(
    config: cri.ContainerConfig,
    sandbox: cri.SandboxStatus | None,
    limits: Limits,
    stdout: int,
    stderr: int,
    holder: isolation.Holder | None = None,
) -> subprocess.Popen:
    """The container's main process, its own session and process group (pgid = pid); inside
    ``holder``'s namespaces when given (``isolation.argv``: the pid is the in-between process)."""
    argv, cwd, pre = _in(holder, config, sandbox, limits, config.command)
    return subprocess.Popen(
        argv, env=environment(config, sandbox), cwd=cwd,
        stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
        preexec_fn=pre, close_fds=True,
    )  # fmt: skip


def _in(
    holder: isolation.Holder | None,
    config: cri.ContainerConfig,
    sandbox: cri.SandboxStatus | None,
    limits: Limits,
    command: list[str],
) -> tuple[list[str], str, Callable[[], None]]:
    """argv, host cwd and preexec for ``command``: as is, or through the pod's namespaces (where the
    in-between process mounts the volumes and drops to the user after joining them)."""
    if holder is None:
        return command, working_dir(config, sandbox), preexec(limits, config)
    mounts = [(m.host_path, m.container_path, m.read_only) for m in config.mounts if m.container_path]
    argv = isolation.argv(
        holder, command, environment(config, sandbox), working_dir(config, sandbox), mounts,
        config.run_as_user, config.run_as_group,
    )  # fmt: skip
    return argv, "/", limits.enter


def run_sync(
    config: cri.ContainerConfig,
    sandbox: cri.SandboxStatus | None,
    limits: Limits,
    command: list[str],
    timeout: float,
    holder: isolation.Holder | None = None,
) -> cri.ExecResult:
    """Run ``command`` beside the container (in ``holder``'s namespaces when given); ``TimeoutError``
    (its group killed) past ``timeout`` s."""
    argv, cwd, pre = _in(holder, config, sandbox, limits, command)
    proc = subprocess.Popen(
        argv, env=environment(config, sandbox), cwd=cwd,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=pre,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout if timeout and timeout > 0 else None)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TimeoutError(f"command {command!r} timed out after {timeout}s") from None
    return cri.ExecResult(exit_code(proc.returncode), out, err)
