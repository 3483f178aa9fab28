"""Fixtures of the runtime suites: a ProcessRuntime over a temp root, and a sandbox in it.

Every container a test leaves running is killed at teardown (by its process group).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasks.kubelet import cri
from workers.runtime.process import ProcessRuntime


def kill_all(runtime: object) -> None:
    for st in runtime.list_containers():  # type: ignore[attr-defined]
        if st.state == cri.RUNNING and st.pid:
            try:
                os.killpg(st.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def wait_for(pred: Callable[[], object], timeout: float = 5.0, interval: float = 0.05) -> object:
    """Poll ``pred`` until it is truthy; its value, or AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def sandbox_config(tmp_path: Path, name: str = "web") -> cri.SandboxConfig:
    return cri.SandboxConfig(f"uid-{name}", "default", name, name, str(tmp_path / "pods" / name))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(str(tmp_path / "root"))
    try:
        yield rt
    finally:
        kill_all(rt)
        rt.close()


@pytest.fixture
def sandbox(runtime: ProcessRuntime, tmp_path: Path) -> str:
    return runtime.run_pod_sandbox(sandbox_config(tmp_path))


def run(runtime: ProcessRuntime, sandbox: str, command: list[str], **kw: object) -> str:
    """Create and start a container; its id."""
    cid = runtime.create_container(sandbox, cri.ContainerConfig(kw.pop("name", "c"), "img", command, **kw))
    runtime.start_container(cid)
    return cid


def exited(runtime: object, cid: str, timeout: float = 5.0) -> cri.ContainerStatus:
    def done() -> cri.ContainerStatus | None:
        st = runtime.container_status(cid)  # type: ignore[attr-defined]
        return st if st.state == cri.EXITED else None

    return wait_for(done, timeout)  # type: ignore[return-value]
