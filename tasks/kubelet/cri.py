"""The container runtime interface, shaped like Kubernetes' CRI (sandboxes, containers, exec, logs).

The kubelet tasks (``tasks/kubelet``) drive a runtime only through this interface, as Kubernetes'
kubelet drives containerd through the CRI API package. The node's supervisor daemon implements it
(``workers/runtime``: the ``process`` runtime) and the worker reaches the daemon through
``tasks/kubelet/runtime_client.py`` over a Unix socket, so containers live in the daemon and
survive worker restarts. Times are ``time.time()`` floats; ids are strings
the runtime makes. Every call is idempotent where CRI's is (stopping a stopped container is fine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# container states, as CRI names them
CREATED, RUNNING, EXITED, UNKNOWN = (
    "CONTAINER_CREATED",
    "CONTAINER_RUNNING",
    "CONTAINER_EXITED",
    "CONTAINER_UNKNOWN",
)
SANDBOX_READY, SANDBOX_NOTREADY = "SANDBOX_READY", "SANDBOX_NOTREADY"


@dataclass
class Mount:
    """A host path (a materialized volume) the container sees at ``container_path``."""

    host_path: str
    container_path: str
    read_only: bool = False


@dataclass
class Probe:
    """A probe the daemon runs (``kind``: exec | httpGet | tcpSocket), Kubernetes' timing fields."""

    kind: str
    command: list[str] = field(default_factory=list)  # exec
    host: str = "127.0.0.1"  # httpGet / tcpSocket
    port: int = 0
    path: str = "/"
    scheme: str = "HTTP"
    headers: dict[str, str] = field(default_factory=dict)
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass
class SandboxConfig:
    """A pod's sandbox: where its files live and how it is isolated."""

    pod_uid: str
    namespace: str
    name: str
    hostname: str
    pod_dir: str  # the runtime keeps volumes, logs and state under here
    isolation: str = "host"  # host | namespaces
    labels: dict[str, str] = field(default_factory=dict)
    dns_config: str = ""  # the pod's resolv.conf text (namespaces isolation); "": the host's


@dataclass
class ContainerConfig:
    """One container of a pod: the process to run and its surroundings."""

    name: str
    image: str
    command: list[str]  # command + args, resolved by the kubelet ($(VAR) expanded)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    run_as_user: int | None = None
    run_as_group: int | None = None
    memory_limit: int | None = None  # bytes
    cpu_limit_millis: int | None = None
    pids_limit: int | None = None
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None
    attempt: int = 0  # restart count this container instance is for
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    """What the runtime knows of a container instance."""

    id: str
    sandbox_id: str
    name: str
    image: str
    state: str
    attempt: int = 0
    pid: int | None = None
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int | None = None
    reason: str = ""  # Completed | Error | OOMKilled | ...
    message: str = ""
    log_path: str = ""
    ready: bool = False  # readiness probe (True when the container has none and runs)
    started: bool = False  # startup probe passed (True when it has none and runs)
    liveness_failed: bool = False  # the liveness probe failed past its threshold


@dataclass
class SandboxStatus:
    id: str
    config: SandboxConfig
    state: str
    ip: str = ""
    created_at: float = 0.0


def sandbox_of(sandbox: SandboxStatus, namespace: str | None, name: str | None) -> bool:
    """Whether ``sandbox`` belongs to pod ``namespace``/``name`` (None matches any)."""
    return (namespace is None or sandbox.config.namespace == namespace) and (
        name is None or sandbox.config.name == name
    )


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class RuntimeService(Protocol):
    """The calls the kubelet makes (CRI's RuntimeService, reduced to what kubeq needs)."""

    def version(self) -> str:
        """``<runtime>://<version>``, e.g. ``kubeq-process://0.1.0`` (the Node's containerRuntimeVersion)."""
        ...

    def run_pod_sandbox(self, config: SandboxConfig) -> str:
        """Make (or find, for the same pod uid) the pod's sandbox; returns its id."""
        ...

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill whatever still runs in the sandbox (containers are stopped first by the kubelet)."""
        ...

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Forget the sandbox and remove its files."""
        ...

    def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus: ...

    def list_pod_sandboxes(
        self, namespace: str | None = None, name: str | None = None
    ) -> list[SandboxStatus]:
        """Every sandbox, or (CRI's filter) only those of the pod ``namespace``/``name`` when given."""
        ...

    def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Prepare a container instance (not started); returns its id."""
        ...

    def start_container(self, container_id: str) -> None:
        """Start the process group; ``FileNotFoundError``/``PermissionError`` when it cannot run."""
        ...

    def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout`` seconds; returns once it is gone."""
        ...

    def remove_container(self, container_id: str) -> None: ...

    def container_status(self, container_id: str) -> ContainerStatus: ...

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run ``command`` beside the container (same env, cwd, isolation); its exit code and output."""
        ...
