"""The API objects a hollow node writes: its Node, its Lease, and the statuses of the pods it "runs".

Pure functions of their arguments (and the clock passed in), so they are easy to test and reuse.
Addresses come from fake ranges and are never dialed: node ``i`` has InternalIP ``10.64.0.0 + i + 1``
and pod range ``10.128.0.0/9`` split into one ``/24`` per node.
"""

from __future__ import annotations

import hashlib
import ipaddress
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tasks.kubelet.status import merge_conditions

Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.0-kubeq.1"
RUNTIME_VERSION = "hollow://1.0"
ZONES = ("zone-a", "zone-b", "zone-c")
SUCCEED_ANNOTATION = "kubeq.io/hollow-succeed-after-seconds"
# with the annotation above: the exit code the pod's containers end with (non-zero: phase Failed)
EXIT_CODE_ANNOTATION = "kubeq.io/hollow-exit-code"
_NODE_IP_BASE = int(ipaddress.IPv4Address("10.64.0.0"))
_POD_IP_BASE = int(ipaddress.IPv4Address("10.128.0.0"))
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
ARCH = _ARCH.get(platform.machine().lower(), "amd64")


def timestamp(now: datetime) -> str:
    """RFC 3339 to the second (``metav1.Time``)."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """A ``Time`` or ``MicroTime`` string as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class NodeSpec:
    """One hollow node: its name, index (which fixes zone and addresses) and resources."""

    name: str
    index: int
    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110
    ephemeral_storage: str = "1Ti"
    pods_started: int = field(default=0, repr=False)  # counter for pod IPs

    @property
    def zone(self) -> str:
        return ZONES[self.index % len(ZONES)]

    @property
    def internal_ip(self) -> str:
        return str(ipaddress.IPv4Address(_NODE_IP_BASE + self.index + 1))

    @property
    def pod_cidr(self) -> str:
        return f"{ipaddress.IPv4Address(_POD_IP_BASE + self.index * 256)}/24"

    def next_pod_ip(self) -> str:
        """The next address of the node's pod range (cycles over .1 to .254)."""
        self.pods_started += 1
        host = (self.pods_started - 1) % 254 + 1
        return str(ipaddress.IPv4Address(_POD_IP_BASE + self.index * 256 + host))

    def capacity(self) -> dict[str, str]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": self.ephemeral_storage,
        }

    def labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": ARCH,
            "topology.kubernetes.io/zone": self.zone,
            "type": "hollow",
        }


def node_conditions(now: datetime, since: datetime) -> list[Obj]:
    """Ready=True and the three pressure conditions False, heartbeat ``now``, transition ``since``."""
    beat, moved = timestamp(now), timestamp(since)
    pressure = {
        "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    }
    conditions = [
        {
            "type": kind,
            "status": "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": beat,
            "lastTransitionTime": moved,
        }
        for kind, (reason, message) in pressure.items()
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status (hollow)",
            "lastHeartbeatTime": beat,
            "lastTransitionTime": moved,
        }
    )
    return conditions


def node_status(spec: NodeSpec, now: datetime, since: datetime) -> Obj:
    """The full ``status`` of a hollow node."""
    digest = hashlib.sha256(spec.name.encode()).hexdigest()
    return {
        "capacity": spec.capacity(),
        "allocatable": spec.capacity(),
        "conditions": node_conditions(now, since),
        "addresses": [
            {"type": "InternalIP", "address": spec.internal_ip},
            {"type": "Hostname", "address": spec.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": digest[:32],
            "systemUUID": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
            "bootID": digest[32:64],
            "kernelVersion": "6.1.0-hollow",
            "osImage": "Hollow Linux (kubeq)",
            "containerRuntimeVersion": RUNTIME_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": ARCH,
        },
    }


def node_object(spec: NodeSpec, now: datetime) -> Obj:
    """A complete Node for ``spec`` as first registered (status included)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": spec.labels(), "annotations": {"kubeq.io/hollow": "true"}},
        "spec": {
            "podCIDR": spec.pod_cidr,
            "podCIDRs": [spec.pod_cidr],
            "providerID": f"hollow://{spec.name}",
        },
        "status": node_status(spec, now, now),
    }


def _image_id(image: str) -> str:
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _condition(kind: str, status: str, now: str, reason: str = "") -> Obj:
    cond = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    return cond


def running_status(pod: Obj, spec: NodeSpec, now: datetime) -> Obj:
    """The ``status`` of ``pod`` running on ``spec``'s node: every container started and ready."""
    old = pod.get("status") or {}
    at = timestamp(now)
    uid = pod["metadata"].get("uid", "")
    pod_ip = old.get("podIP") or spec.next_pod_ip()
    init = [
        {
            "name": c["name"],
            "ready": True,
            "started": False,
            "restartCount": 0,
            "image": c.get("image", ""),
            "imageID": _image_id(c.get("image", "")),
            "containerID": f"hollow://{uid}/{c['name']}",
            "state": {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": at,
                    "finishedAt": at,
                    "containerID": f"hollow://{uid}/{c['name']}",
                }
            },
        }
        for c in pod["spec"].get("initContainers") or []
    ]
    containers = [
        {
            "name": c["name"],
            "ready": True,
            "started": True,
            "restartCount": 0,
            "image": c.get("image", ""),
            "imageID": _image_id(c.get("image", "")),
            "containerID": f"hollow://{uid}/{c['name']}",
            "state": {"running": {"startedAt": at}},
            "lastState": {},
        }
        for c in pod["spec"].get("containers") or []
    ]
    wanted = [
        _condition(kind, "True", at)
        for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    status = {
        **old,
        "phase": "Running",
        "conditions": merge_conditions(old.get("conditions") or [], wanted),
        "hostIP": spec.internal_ip,
        "hostIPs": [{"ip": spec.internal_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": old.get("startTime") or at,
        "containerStatuses": containers,
    }
    if init:
        status["initContainerStatuses"] = init
    return status


def exit_code(pod: Obj) -> int:
    """The exit code ``pod`` asks its containers to end with (its annotation; 0 by default)."""
    raw = (pod["metadata"].get("annotations") or {}).get(EXIT_CODE_ANNOTATION, "0")
    try:
        return int(raw)
    except ValueError:
        return 0


def finished_status(pod: Obj, now: datetime) -> Obj:
    """The ``status`` of ``pod`` after every container exited with its ``exit_code`` (0: Succeeded)."""
    old = pod.get("status") or {}
    at = timestamp(now)
    code = exit_code(pod)
    finished = []
    for cs in old.get("containerStatuses") or []:
        running = (cs.get("state") or {}).get("running") or {}
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": running.get("startedAt", at),
            "finishedAt": at,
            "containerID": cs.get("containerID", ""),
        }
        finished.append({**cs, "ready": False, "started": False, "state": {"terminated": terminated}})
    reason = "PodCompleted" if code == 0 else "PodFailed"
    wanted = [
        _condition("PodReadyToStartContainers", "False", at),
        _condition("Ready", "False", at, reason),
        _condition("ContainersReady", "False", at, reason),
    ]
    return {
        **old,
        "phase": "Succeeded" if code == 0 else "Failed",
        "conditions": merge_conditions(old.get("conditions") or [], wanted),
        "containerStatuses": finished,
    }


def succeed_after(pod: Obj) -> float | None:
    """Seconds after start at which ``pod`` asks to succeed (its annotation), or None."""
    raw = (pod["metadata"].get("annotations") or {}).get(SUCCEED_ANNOTATION)
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def started_at(pod: Obj) -> datetime | None:
    """When the pod's first container started running, if it is running."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        running = (cs.get("state") or {}).get("running")
        if running and running.get("startedAt"):
            return parse_time(running["startedAt"])
    start = (pod.get("status") or {}).get("startTime")
    return parse_time(start) if start else None
