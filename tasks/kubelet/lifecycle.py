"""Starting, restarting and stopping a pod's containers through the RuntimeService.

``crashloop_delay(attempt, ran_for)``: the CrashLoopBackOff wait before restart number
``attempt + 1`` (``KUBEQ_CRASHLOOP_BASE_SECONDS``, default 10 s, doubling up to 300 s; a container
that ran 10 minutes starts afresh). ``container_config`` turns a spec container into a runtime
``ContainerConfig``. ``stop_all`` stops containers in parallel within a grace period, running
their preStop hooks first.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster.api.validation.quantity import parse_quantity
from tasks.kubelet.cri import RUNNING, ContainerConfig, ContainerStatus, Mount, Probe, RuntimeService

Obj = dict[str, Any]
MAX_BACKOFF = 300.0
RESET_AFTER = 600.0  # a container that ran this long restarts without waiting
log = logging.getLogger("kubeq.kubelet")


def backoff_base() -> float:
    raw = os.environ.get("KUBEQ_CRASHLOOP_BASE_SECONDS")
    return float(raw) if raw else 10.0


def crashloop_delay(attempt: int, ran_for: float = 0.0) -> float:
    """Seconds to wait after instance ``attempt`` exited before starting the next one."""
    base = backoff_base()
    if ran_for >= RESET_AFTER:
        return base
    return min(MAX_BACKOFF, base * 2 ** min(attempt, 32))


def probe(spec: Obj | None, ports: list[Obj] | None = None, host: str = "127.0.0.1") -> Probe | None:
    """A spec probe (exec/httpGet/tcpSocket) as a runtime ``Probe``; None when absent or unsupported.

    A named port is looked up in ``ports`` (the container's ``ports``; None when no such name);
    httpGet/tcpSocket go to the probe's own ``host``, else ``host`` (the pod's address).
    """
    if not spec:
        return None
    timing = {
        "initial_delay_seconds": int(spec.get("initialDelaySeconds", 0)),
        "period_seconds": int(spec.get("periodSeconds", 10)),
        "timeout_seconds": int(spec.get("timeoutSeconds", 1)),
        "success_threshold": int(spec.get("successThreshold", 1)),
        "failure_threshold": int(spec.get("failureThreshold", 3)),
    }
    if spec.get("exec"):
        return Probe("exec", command=list(spec["exec"].get("command") or []), **timing)
    for kind in ("httpGet", "tcpSocket"):
        if spec.get(kind):
            action = spec[kind]
            port = action.get("port", 0)
            if not str(port).isdigit():
                named = {p.get("name"): p.get("containerPort") for p in ports or [] if p.get("name")}
                port = named.get(port)
                if port is None:
                    return None
            headers = {h["name"]: h.get("value", "") for h in action.get("httpHeaders") or []}
            return Probe(
                kind,
                host=action.get("host") or host,
                port=int(port),
                path=action.get("path", "/"),
                scheme=action.get("scheme", "HTTP"),
                headers=headers,
                **timing,
            )
    return None


def _limit(container: Obj, resource: str) -> Any:
    return ((container.get("resources") or {}).get("limits") or {}).get(resource)


def container_config(
    pod: Obj,
    container: Obj,
    command: list[str],
    env: dict[str, str],
    mounts: list[Mount],
    attempt: int,
    probe_host: str = "127.0.0.1",
) -> ContainerConfig:
    """The runtime's view of spec ``container`` (instance ``attempt``); probes go to ``probe_host``."""
    security = {
        **((pod.get("spec") or {}).get("securityContext") or {}),
        **(container.get("securityContext") or {}),
    }
    memory = _limit(container, "memory")
    cpu = _limit(container, "cpu")
    md = pod["metadata"]
    ports = container.get("ports") or []
    return ContainerConfig(
        name=container["name"],
        image=container.get("image", ""),
        command=command,
        env=env,
        working_dir=container.get("workingDir", ""),
        mounts=mounts,
        run_as_user=security.get("runAsUser"),
        run_as_group=security.get("runAsGroup"),
        memory_limit=int(parse_quantity(memory)) if memory else None,
        cpu_limit_millis=int(parse_quantity(cpu) * 1000) if cpu else None,
        liveness=probe(container.get("livenessProbe"), ports, probe_host),
        readiness=probe(container.get("readinessProbe"), ports, probe_host),
        startup=probe(container.get("startupProbe"), ports, probe_host),
        attempt=attempt,
        labels={
            "io.kubernetes.pod.name": md["name"],
            "io.kubernetes.pod.namespace": md.get("namespace", ""),
            "io.kubernetes.pod.uid": md.get("uid", ""),
            "io.kubernetes.container.name": container["name"],
        },
    )


def grace_period(pod: Obj) -> float:
    """The deletion's grace period, else the pod's terminationGracePeriodSeconds, else 30 s."""
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    for value in (md.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds")):
        if value is not None:
            return float(value)
    return 30.0


POST_START_TIMEOUT = 30.0  # seconds a postStart exec hook may run before it counts as failed


def post_start_command(container: Obj) -> list[str]:
    """The container's postStart exec hook command (empty when it has none)."""
    hook = ((container.get("lifecycle") or {}).get("postStart") or {}).get("exec") or {}
    return list(hook.get("command") or [])


def pre_stop_command(pod: Obj, name: str) -> list[str]:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == name:
            return list(
                (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
            )
    return []


def stop_all(
    rt: RuntimeService,
    containers: list[ContainerStatus],
    grace: float,
    pod: Obj | None = None,
    on_kill: Callable[[ContainerStatus], None] | None = None,
) -> None:
    """Stop every running container of ``containers`` at once, each within ``grace`` seconds.

    A container's preStop exec hook (from ``pod``) runs first and counts against its grace period.
    """
    running = [c for c in containers if c.state == RUNNING]
    if not running:
        return

    def stop(cs: ContainerStatus) -> None:
        deadline = time.monotonic() + grace
        if on_kill:
            on_kill(cs)
        hook = pre_stop_command(pod, cs.name) if pod else []
        if hook and grace > 0:
            try:
                rt.exec_sync(cs.id, hook, timeout=grace)
            except Exception:  # a failing hook does not keep the container alive
                log.warning("preStop hook of %s failed", cs.name, exc_info=True)
        rt.stop_container(cs.id, max(0.0, deadline - time.monotonic()))

    with ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
        list(pool.map(stop, running))


def remove_sandbox(rt: RuntimeService, sandbox_id: str, grace: float = 1.0) -> None:
    """Stop and remove every container of the sandbox, then the sandbox itself."""
    containers = rt.list_containers(sandbox_id)
    stop_all(rt, containers, grace)
    for cs in containers:
        rt.remove_container(cs.id)
    rt.stop_pod_sandbox(sandbox_id)
    rt.remove_pod_sandbox(sandbox_id)
