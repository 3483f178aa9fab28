"""What this machine is, as a Node shows it: capacity, addresses, nodeInfo, labels and conditions.

Pure reads of ``/proc``, ``/etc`` and the data dir's filesystem; no API calls. Allocatable is
capacity minus a small reservation like kubelet's ``--system-reserved`` + eviction threshold:
100m cpu (when the machine has more than one cpu), 100Mi memory + the 100Mi eviction threshold,
and 10 % of ephemeral storage; pods are not reserved.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.0-kubeq"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
ARCH = _ARCH.get(platform.machine().lower(), platform.machine().lower() or "amd64")
MEMORY_PRESSURE_BYTES = 100 * 1024 * 1024  # MemAvailable below this: MemoryPressure (kubelet's hard eviction)
DISK_PRESSURE_FREE = 0.10  # data dir's filesystem with less than this fraction free: DiskPressure
PID_PRESSURE_USED = 0.90  # more than this fraction of pid_max in use: PIDPressure
RESERVED_CPU_MILLIS = 100
RESERVED_MEMORY_KI = 200 * 1024


def timestamp(now: datetime) -> str:
    """RFC 3339 to the second (``metav1.Time``)."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def meminfo() -> dict[str, int]:
    """``/proc/meminfo`` as {field: KiB}; empty where it cannot be read."""
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0])
    except OSError:
        pass
    return values


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def disk(data_dir: str) -> tuple[int, int]:
    """(total bytes, bytes available to unprivileged users) of the filesystem holding ``data_dir``."""
    st = os.statvfs(data_dir)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def capacity(data_dir: str, max_pods: int) -> dict[str, str]:
    """cpu (count), memory (``<n>Ki``), ephemeral-storage (``<n>Ki`` of the data dir's fs), pods."""
    total, _ = disk(data_dir)
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{meminfo().get('MemTotal', 0)}Ki",
        "ephemeral-storage": f"{total // 1024}Ki",
        "pods": str(max_pods),
    }


def allocatable(cap: dict[str, str]) -> dict[str, str]:
    """``cap`` less the reservation the module docstring describes."""
    cpus = int(cap["cpu"])
    cpu = f"{cpus * 1000 - RESERVED_CPU_MILLIS}m" if cpus > 1 else cap["cpu"]
    mem_ki = int(cap["memory"].removesuffix("Ki"))
    storage_ki = int(cap["ephemeral-storage"].removesuffix("Ki"))
    return {
        "cpu": cpu,
        "memory": f"{max(mem_ki - RESERVED_MEMORY_KI, mem_ki // 2)}Ki",
        "ephemeral-storage": str(storage_ki * 1024 * 9 // 10),
        "pods": cap["pods"],
    }


def primary_ipv4() -> str:
    """The host's primary IPv4 address: the source address of its default route (no packet is sent).

    Falls back to the hostname's address, then 127.0.0.1.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # TEST-NET-1; connect() on UDP only picks a route
            address = s.getsockname()[0]
            if address and not address.startswith("0."):
                return address
        except OSError:
            pass
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def addresses(hostname: str) -> list[Obj]:
    return [{"type": "InternalIP", "address": primary_ipv4()}, {"type": "Hostname", "address": hostname}]


def os_image() -> str:
    """``PRETTY_NAME`` of ``/etc/os-release`` (``Linux`` when absent)."""
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip().strip('"')
    return platform.system() or "Linux"


def node_info(runtime_version: str) -> Obj:
    """``status.nodeInfo``; machineID/systemUUID/bootID only where the machine exposes them."""
    info: Obj = {
        "kernelVersion": platform.release(),
        "osImage": os_image(),
        "containerRuntimeVersion": runtime_version,
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": KUBELET_VERSION,
        "operatingSystem": "linux",
        "architecture": ARCH,
        "machineID": _read("/etc/machine-id"),
        "systemUUID": _read("/sys/class/dmi/id/product_uuid") or _read("/etc/machine-id"),
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
    }
    return info


def labels(name: str) -> dict[str, str]:
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": ARCH}


@dataclass
class Pressure:
    """Which pressures hold now, with the numbers behind them (for the condition messages)."""

    memory: bool
    disk: bool
    pids: bool
    mem_available_ki: int = 0
    disk_free_fraction: float = 1.0
    pids_used: int = 0
    pid_max: int = 0


def _pids_in_use() -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def pressure(data_dir: str) -> Pressure:
    """Measure memory, disk (of ``data_dir``) and pid pressure against the thresholds above."""
    mem = meminfo()
    available = mem.get("MemAvailable", mem.get("MemFree", 0))
    total, free = disk(data_dir)
    fraction = free / total if total else 1.0
    pid_max = int(_read("/proc/sys/kernel/pid_max") or 0)
    used = _pids_in_use()
    return Pressure(
        memory=bool(mem) and available * 1024 < MEMORY_PRESSURE_BYTES,
        disk=fraction < DISK_PRESSURE_FREE,
        pids=bool(pid_max) and used > pid_max * PID_PRESSURE_USED,
        mem_available_ki=available,
        disk_free_fraction=fraction,
        pids_used=used,
        pid_max=pid_max,
    )


_PRESSURE_TEXT = {
    # type: (reason when False, message when False, reason when True, message when True)
    "MemoryPressure": (
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    ),
    "DiskPressure": (
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
        "KubeletHasDiskPressure",
        "kubelet has disk pressure",
    ),
    "PIDPressure": (
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
        "KubeletHasInsufficientPID",
        "kubelet has insufficient PID available",
    ),
}


def conditions(now: datetime, measured: Pressure, previous: list[Obj], ready: bool = True) -> list[Obj]:
    """The four node conditions at ``now``: heartbeat ``now``; a condition keeps its
    ``lastTransitionTime`` from ``previous`` while its status is unchanged (else it moves to ``now``)."""
    beat = timestamp(now)
    before = {c.get("type"): c for c in previous}
    found = {"MemoryPressure": measured.memory, "DiskPressure": measured.disk, "PIDPressure": measured.pids}
    wanted: list[tuple[str, str, str, str]] = []
    for kind, on in found.items():
        ok_reason, ok_msg, bad_reason, bad_msg = _PRESSURE_TEXT[kind]
        wanted.append(
            (kind, "True" if on else "False", bad_reason if on else ok_reason, bad_msg if on else ok_msg)
        )
    if ready:
        wanted.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    else:
        wanted.append(("Ready", "False", "KubeletNotReady", "container runtime is down"))
    out = []
    for kind, status, reason, message in wanted:
        old = before.get(kind) or {}
        moved = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": beat,
                "lastTransitionTime": moved or beat,
            }
        )
    return out
