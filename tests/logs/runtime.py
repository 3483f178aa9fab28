"""A small RuntimeService for these tests: real subprocesses writing CRI-format log files.

It stands in for the node's process runtime (``workers/runtime``) so the node server and the API
server's proxy can be tested end to end on real processes and real log files.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

from tasks.kubelet.cri import (
    CREATED,
    EXITED,
    RUNNING,
    SANDBOX_READY,
    ContainerConfig,
    ContainerStatus,
    ExecResult,
    SandboxConfig,
    SandboxStatus,
    sandbox_of,
)


def cri_time(when: float) -> str:
    """RFC 3339 with nanoseconds, as the CRI log format writes it."""
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{int((when % 1) * 1e9):09d}Z"


def cri_line(when: float, stream: str, text: str, tag: str = "F") -> str:
    return f"{cri_time(when)} {stream} {tag} {text}\n"


class SubprocessRuntime:
    """Sandboxes are records; a container is ``command`` run as a subprocess, output to its log."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.sandboxes: dict[str, SandboxStatus] = {}
        self.containers: dict[str, ContainerStatus] = {}
        self.commands: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def version(self) -> str:
        return "kubeq-test://0.1"

    def run_pod_sandbox(self, config: SandboxConfig) -> str:
        sandbox_id = uuid.uuid4().hex[:12]
        self.sandboxes[sandbox_id] = SandboxStatus(
            sandbox_id, config, SANDBOX_READY, "127.0.0.1", time.time()
        )
        return sandbox_id

    def list_pod_sandboxes(
        self, namespace: str | None = None, name: str | None = None
    ) -> list[SandboxStatus]:
        return [sb for sb in self.sandboxes.values() if sandbox_of(sb, namespace, name)]

    def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        container_id = uuid.uuid4().hex[:12]
        log_dir = os.path.join(self.root, sandbox_id, config.name)
        os.makedirs(log_dir, exist_ok=True)
        self.containers[container_id] = ContainerStatus(
            id=container_id,
            sandbox_id=sandbox_id,
            name=config.name,
            image=config.image,
            state=CREATED,
            attempt=config.attempt,
            created_at=time.time(),
            log_path=os.path.join(log_dir, f"{config.attempt}.log"),
        )
        self.commands[container_id] = config.command
        return container_id

    def start_container(self, container_id: str) -> None:
        status = self.containers[container_id]
        proc = subprocess.Popen(self.commands[container_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        status.state, status.pid, status.started_at = RUNNING, proc.pid, time.time()
        log = open(status.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the last pump

        def pump(stream_name: str, pipe: object) -> None:
            for raw in iter(pipe.readline, b""):  # type: ignore[attr-defined]
                with self.lock:
                    log.write(cri_line(time.time(), stream_name, raw.decode().rstrip("\n")))
                    log.flush()

        pumps = [
            threading.Thread(target=pump, args=("stdout", proc.stdout), daemon=True),
            threading.Thread(target=pump, args=("stderr", proc.stderr), daemon=True),
        ]
        for thread in pumps:
            thread.start()

        def reap() -> None:
            code = proc.wait()
            for thread in pumps:
                thread.join()
            log.close()
            status.exit_code, status.finished_at, status.state = code, time.time(), EXITED

        threading.Thread(target=reap, daemon=True).start()

    def container_status(self, container_id: str) -> ContainerStatus:
        return self.containers[container_id]

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c for c in self.containers.values() if sandbox_id in (None, c.sandbox_id)]

    def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        done = subprocess.run(command, capture_output=True, timeout=timeout)
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def start(self, sandbox_id: str, name: str, command: list[str], attempt: int = 0) -> str:
        """Create and start a container (a test convenience)."""
        config = ContainerConfig(name=name, image="busybox", command=command, attempt=attempt)
        container_id = self.create_container(sandbox_id, config)
        self.start_container(container_id)
        return container_id

    def wait_exited(self, container_id: str, timeout: float = 10) -> None:
        deadline = time.time() + timeout
        while self.containers[container_id].state != EXITED:
            assert time.time() < deadline, "container did not exit"
            time.sleep(0.02)
