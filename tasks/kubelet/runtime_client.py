"""``RuntimeClient(socket_path)``: the ``RuntimeService`` of a runtime daemon, over its Unix socket.

Each call opens a connection, sends one ``cri_codec`` request line and reads the reply line, so a
client is safe to share between threads and survives daemon restarts. Errors raised by the
runtime come back as the same exception types (``FileNotFoundError``, ``PermissionError``,
``KeyError`` for unknown ids, ``TimeoutError``, ...); a daemon that does not answer raises
``ConnectionError``.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from tasks.kubelet import cri, cri_codec

DEFAULT_TIMEOUT = 30.0  # seconds for a call, beyond the call's own timeout


class RuntimeClient:
    def __init__(self, socket_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def call(self, method: str, extra_timeout: float = 0.0, **params: Any) -> Any:
        data = cri_codec.request(method, params)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout + max(extra_timeout, 0.0))
        try:
            try:
                _connect(sock, self.socket_path)
            except OSError as exc:
                raise ConnectionError(f"runtime daemon at {self.socket_path} does not answer: {exc}") from exc
            sock.sendall(data)
            with sock.makefile("rb") as f:
                line = f.readline()
        finally:
            sock.close()
        if not line:
            raise ConnectionError(f"runtime daemon at {self.socket_path} closed the connection")
        reply = json.loads(line)
        if "error" in reply:
            cri_codec.raise_error(reply["error"])
        return cri_codec.decode_result(method, reply.get("result"))

    def version(self) -> str:
        return self.call("version")

    def run_pod_sandbox(self, config: cri.SandboxConfig) -> str:
        return self.call("run_pod_sandbox", config=config)

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("stop_pod_sandbox", extra_timeout=30, sandbox_id=sandbox_id)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("remove_pod_sandbox", extra_timeout=30, sandbox_id=sandbox_id)

    def pod_sandbox_status(self, sandbox_id: str) -> cri.SandboxStatus:
        return self.call("pod_sandbox_status", sandbox_id=sandbox_id)

    def list_pod_sandboxes(
        self, namespace: str | None = None, name: str | None = None
    ) -> list[cri.SandboxStatus]:
        pod = {"namespace": namespace, "name": name} if namespace is not None or name is not None else {}
        return self.call("list_pod_sandboxes", **pod)

    def create_container(self, sandbox_id: str, config: cri.ContainerConfig) -> str:
        return self.call("create_container", sandbox_id=sandbox_id, config=config)

    def start_container(self, container_id: str) -> None:
        self.call("start_container", container_id=container_id)

    def stop_container(self, container_id: str, timeout: float) -> None:
        self.call(
            "stop_container", extra_timeout=float(timeout) + 10, container_id=container_id, timeout=timeout
        )

    def remove_container(self, container_id: str) -> None:
        self.call("remove_container", extra_timeout=10, container_id=container_id)

    def container_status(self, container_id: str) -> cri.ContainerStatus:
        return self.call("container_status", container_id=container_id)

    def list_containers(self, sandbox_id: str | None = None) -> list[cri.ContainerStatus]:
        return self.call("list_containers", sandbox_id=sandbox_id)

    def exec_sync(self, container_id: str, command: list[str], timeout: float) -> cri.ExecResult:
        return self.call(
            "exec_sync",
            extra_timeout=float(timeout or 0),
            container_id=container_id,
            command=command,
            timeout=timeout,
        )


def _connect(sock: socket.socket, path: str, tries: int = 20) -> None:
    """Connect, waiting out a full listen backlog (EAGAIN on a Unix socket) for up to ~1 s."""
    for attempt in range(tries):
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if attempt == tries - 1:
                raise
            time.sleep(0.05)
