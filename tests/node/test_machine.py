"""What the node reports about this machine: capacity, allocatable, nodeInfo and conditions."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workers.node import machine


def test_capacity_is_this_machine(tmp_path: Path) -> None:
    cap = machine.capacity(str(tmp_path), max_pods=17)
    assert cap["cpu"] == str(os.cpu_count())
    total_ki = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    assert cap["memory"] == f"{total_ki}Ki"
    st = os.statvfs(tmp_path)
    assert cap["ephemeral-storage"] == f"{st.f_blocks * st.f_frsize // 1024}Ki"
    assert cap["pods"] == "17"


def test_allocatable_is_a_little_below_capacity(tmp_path: Path) -> None:
    cap = machine.capacity(str(tmp_path), 110)
    alloc = machine.allocatable(cap)
    assert alloc["pods"] == "110"
    assert int(alloc["memory"].removesuffix("Ki")) < int(cap["memory"].removesuffix("Ki"))
    assert int(alloc["ephemeral-storage"]) < int(cap["ephemeral-storage"].removesuffix("Ki")) * 1024
    cpus = os.cpu_count() or 1
    assert alloc["cpu"] == (f"{cpus * 1000 - 100}m" if cpus > 1 else str(cpus))


def test_node_info_names_os_kernel_and_runtime() -> None:
    info = machine.node_info("kubeq-process://0.1.0")
    assert info["kernelVersion"] == platform.release()
    assert info["containerRuntimeVersion"] == "kubeq-process://0.1.0"
    assert info["kubeletVersion"] == "v1.32.0-kubeq"
    assert info["operatingSystem"] == "linux"
    assert info["architecture"] in ("amd64", "arm64")
    if Path("/etc/os-release").exists():
        assert info["osImage"] and info["osImage"] in Path("/etc/os-release").read_text()
    if Path("/proc/sys/kernel/random/boot_id").exists():
        assert info["bootID"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_primary_address_is_a_local_ipv4() -> None:
    (internal, hostname) = machine.addresses("n1")
    assert internal["type"] == "InternalIP" and internal["address"].count(".") == 3
    assert hostname == {"type": "Hostname", "address": "n1"}


def test_conditions_keep_transition_time_while_unchanged(tmp_path: Path) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    calm = machine.Pressure(memory=False, disk=False, pids=False)
    first = machine.conditions(t0, calm, [])
    assert {c["type"]: c["status"] for c in first} == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    ready = next(c for c in first if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == ("KubeletReady", "kubelet is posting ready status")
    t1 = t0 + timedelta(seconds=10)
    second = machine.conditions(t1, machine.Pressure(memory=True, disk=False, pids=False), first)
    by_type = {c["type"]: c for c in second}
    assert by_type["Ready"]["lastHeartbeatTime"] == "2025-01-01T00:00:10Z"
    assert by_type["Ready"]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert by_type["MemoryPressure"]["status"] == "True"
    assert by_type["MemoryPressure"]["reason"] == "KubeletHasInsufficientMemory"
    assert by_type["MemoryPressure"]["lastTransitionTime"] == "2025-01-01T00:00:10Z"
    down = machine.conditions(t1, calm, first, ready=False)
    assert next(c for c in down if c["type"] == "Ready")["status"] == "False"


def test_this_machine_measures_without_error(tmp_path: Path) -> None:
    measured = machine.pressure(str(tmp_path))
    assert measured.pid_max > measured.pids_used > 0
    assert 0.0 <= measured.disk_free_fraction <= 1.0
