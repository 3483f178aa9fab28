"""The ``namespaces`` isolation level: pods in their own PID/mount/UTS/network namespaces, with an IP.

Needs root, ``unshare`` and ``ip`` (skipped otherwise). Each test uses its own bridge and pod CIDR
and removes every holder, veth and bridge it made.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.kubelet import cri
from tests.runtime.conftest import exited, kill_all, run, wait_for
from workers.node.agent import resolve_isolation
from workers.runtime import isolation
from workers.runtime.netns import veth_name
from workers.runtime.process import ProcessRuntime

pytestmark = pytest.mark.skipif(not isolation.available(), reason="needs root, unshare and ip")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A bridge name and pod CIDR of this test only; the bridge is deleted afterwards."""
    n = os.getpid() % 250
    bridge, cidr = f"kqt{os.getpid()}"[:15], f"10.252.{n}.0/24"
    monkeypatch.setenv("KUBEQ_POD_BRIDGE", bridge)
    monkeypatch.setenv("KUBEQ_NODE_POD_CIDR", cidr)
    yield bridge, cidr
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    assert not link_exists(bridge)


@pytest.fixture
def nsrt(tmp_path: Path, net: tuple[str, str]) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(str(tmp_path / "root"), probes=False)
    try:
        yield rt
    finally:
        kill_all(rt)
        for sb in rt.list_pod_sandboxes():
            rt.remove_pod_sandbox(sb.id)
        rt.close()


def pod(rt: ProcessRuntime, tmp_path: Path, name: str) -> str:
    cfg = cri.SandboxConfig(f"uid-{name}", "default", name, f"{name}-host", str(tmp_path / "pods" / name))
    cfg.isolation = "namespaces"
    return rt.run_pod_sandbox(cfg)


def get(url: str, timeout: float = 2) -> str:
    with NO_PROXY.open(url, timeout=timeout) as resp:
        return resp.read().decode()


def test_two_pods_listen_on_the_same_port(nsrt: ProcessRuntime, tmp_path: Path, net: tuple[str, str]) -> None:
    bridge, cidr = net
    sids = [pod(nsrt, tmp_path, name) for name in ("a", "b")]
    ips = [nsrt.pod_sandbox_status(s).ip for s in sids]
    assert len(set(ips)) == 2 and all(ipaddress.ip_address(ip) in ipaddress.ip_network(cidr) for ip in ips)
    assert nsrt.run_pod_sandbox(nsrt.pod_sandbox_status(sids[0]).config) == sids[0]  # same pod, same sandbox
    for sid, name in zip(sids, ("a", "b"), strict=True):
        Path(nsrt.pod_sandbox_status(sid).config.pod_dir, "who.txt").write_text(name)
        run(nsrt, sid, ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"], name="web")

    def served(ip: str, timeout: float = 2) -> str:
        try:
            return get(f"http://{ip}:8000/who.txt", timeout)
        except OSError:
            return ""

    assert [wait_for(lambda ip=ip: served(ip), 10) for ip in ips] == ["a", "b"]
    assert link_exists(bridge) and all(link_exists(veth_name(s)) for s in sids)
    # stop/remove tears down the holder and the veth, and frees the address
    holder = nsrt.ns.get(sids[0])
    assert holder is not None and isolation.alive(holder)
    nsrt.stop_pod_sandbox(sids[0])
    assert not link_exists(veth_name(sids[0])) and not served(ips[0], 0.3)
    wait_for(lambda: not isolation.alive(holder), 5)
    nsrt.remove_pod_sandbox(sids[0])
    assert list(nsrt.ns.network.allocations().values()) == [ips[1]]
    assert served(ips[1]) == "b"  # the other pod is untouched


def test_the_view_from_inside(nsrt: ProcessRuntime, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "hello.txt").write_text("from the volume")
    data_existed = os.path.exists("/data")
    sid = pod(nsrt, tmp_path, "web")
    script = "hostname; cat /data/hello.txt; echo; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'"
    mounts = [cri.Mount(str(volume), "/data", read_only=True)]
    main = run(nsrt, sid, ["sh", "-c", script + "; exec sleep 30"], name="main", mounts=mounts)
    wait_for(lambda: Path(nsrt.container_status(main).log_path).exists(), 5)
    try:
        lines = [
            line.split(" ", 3)[3]
            for line in wait_for(
                lambda: (
                    len(Path(nsrt.container_status(main).log_path).read_text().splitlines()) >= 4
                    and Path(nsrt.container_status(main).log_path).read_text().splitlines()
                ),
                5,
            )
        ]
        assert lines[0] == "web-host" and lines[1] == "from the volume"
        assert "isolation.py hold" in lines[2]  # the pod's PID 1 is its holder, not the host's init
        assert int(lines[3]) < 10  # the pod sees its own few processes
        res = nsrt.exec_sync(main, ["sh", "-c", "hostname; echo $HOSTNAME; ls /data; touch /data/x"], 5)
        assert res.stdout.decode().split() == ["web-host", "web-host", "hello.txt"]
        assert res.exit_code != 0 and b"Read-only" in res.stderr  # mounted read-only
        pids = nsrt.exec_sync(main, ["sh", "-c", "echo $$"], 5).stdout.decode().strip()
        assert int(pids) < 20  # pids of the pod's own PID namespace
        assert not os.path.exists("/data/hello.txt")  # the mount stayed in the pod's namespace
        nsrt.stop_container(main, 5)
        assert exited(nsrt, main).exit_code == 143  # SIGTERM reached the command, its code came back
        with pytest.raises(FileNotFoundError):
            run(nsrt, sid, ["/no/such/binary"], name="missing")
    finally:
        nsrt.remove_pod_sandbox(sid)
        if not data_existed and os.path.isdir("/data"):
            os.rmdir("/data")  # the mount point the pod needed (created empty on the host)


def test_a_new_runtime_finds_the_pods_namespaces(tmp_path: Path, net: tuple[str, str]) -> None:
    first = ProcessRuntime(str(tmp_path / "root"), probes=False)
    sid = pod(first, tmp_path, "web")
    ip = first.pod_sandbox_status(sid).ip
    cid = run(first, sid, ["sleep", "30"], name="c")
    first.close()  # a daemon restart: the pod and its container keep running
    again = ProcessRuntime(str(tmp_path / "root"), probes=False)
    try:
        assert again.pod_sandbox_status(sid).ip == ip
        assert again.exec_sync(cid, ["hostname"], 5).stdout == b"web-host\n"
        again.remove_pod_sandbox(sid)
        assert again.ns.network.allocations() == {} and not link_exists(veth_name(sid))
    finally:
        kill_all(again)
        again.close()


def test_auto_picks_namespaces_where_it_can() -> None:
    assert resolve_isolation("auto") == "namespaces"
    assert resolve_isolation("host") == "host"
