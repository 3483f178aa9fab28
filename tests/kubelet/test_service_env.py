"""Service links in a container's environment, and a pod's resolv.conf in namespaces isolation."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from cluster import errors
from tasks.kubelet.env import resolve_env, service_env
from tasks.kubelet.resolvconf import parse
from tests.kubelet.test_sync import Harness, cond, h, node, rt  # noqa: F401  (fixtures)
from workers.runtime import isolation


def svc(name: str, ip: str, ports: list[dict], namespace: str = "shop", **spec: object) -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": ip, "ports": ports, **spec},
    }


KUBERNETES = svc("kubernetes", "10.96.0.1", [{"name": "https", "protocol": "TCP", "port": 443}], "default")
REDIS = svc(
    "redis-primary",
    "10.96.3.4",
    [{"name": "redis", "protocol": "TCP", "port": 6379}, {"name": "stats", "protocol": "UDP", "port": 8125}],
)


def pod(namespace: str = "shop", **spec: object) -> dict:
    return {
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {"containers": [{"name": "c"}], **spec},
    }


def test_service_links_name_every_port() -> None:
    env = service_env(pod(), [KUBERNETES, REDIS])
    assert {k: v for k, v in env.items() if k.startswith("REDIS_PRIMARY")} == {
        "REDIS_PRIMARY_SERVICE_HOST": "10.96.3.4",
        "REDIS_PRIMARY_SERVICE_PORT": "6379",
        "REDIS_PRIMARY_SERVICE_PORT_REDIS": "6379",
        "REDIS_PRIMARY_SERVICE_PORT_STATS": "8125",
        "REDIS_PRIMARY_PORT": "tcp://10.96.3.4:6379",
        "REDIS_PRIMARY_PORT_6379_TCP": "tcp://10.96.3.4:6379",
        "REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
        "REDIS_PRIMARY_PORT_6379_TCP_PORT": "6379",
        "REDIS_PRIMARY_PORT_6379_TCP_ADDR": "10.96.3.4",
        "REDIS_PRIMARY_PORT_8125_UDP": "udp://10.96.3.4:8125",
        "REDIS_PRIMARY_PORT_8125_UDP_PROTO": "udp",
        "REDIS_PRIMARY_PORT_8125_UDP_PORT": "8125",
        "REDIS_PRIMARY_PORT_8125_UDP_ADDR": "10.96.3.4",
    }
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"


def test_headless_external_other_namespaces_and_disabled_links_are_skipped() -> None:
    headless = svc("db", "None", [{"port": 5432}])
    external = {"metadata": {"name": "ext", "namespace": "shop"}, "spec": {"type": "ExternalName"}}
    elsewhere = svc("other", "10.96.9.9", [{"port": 80}], "elsewhere")
    env = service_env(pod(), [KUBERNETES, headless, external, elsewhere])
    assert {k.split("_")[0] for k in env} == {"KUBERNETES"}
    only_master = service_env(pod(enableServiceLinks=False), [KUBERNETES, REDIS])
    assert {k.split("_")[0] for k in only_master} == {"KUBERNETES"}


def test_ipv6_cluster_ip_is_bracketed_in_urls() -> None:
    env = service_env(pod(), [svc("v6", "fd00::10", [{"protocol": "TCP", "port": 80}])])
    assert env["V6_PORT"] == "tcp://[fd00::10]:80" and env["V6_PORT_80_TCP_ADDR"] == "fd00::10"


def test_explicit_env_wins_and_may_refer_to_links() -> None:
    p = pod()
    container = {
        "name": "c",
        "env": [
            {"name": "REDIS_PRIMARY_SERVICE_HOST", "value": "override"},
            {"name": "URL", "value": "redis://$(REDIS_PRIMARY_SERVICE_PORT_REDIS)"},
        ],
    }
    env = resolve_env(p, container, lambda *_: None, services=[KUBERNETES, REDIS])
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "override"
    assert env["URL"] == "redis://6379" and env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"


def wait_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text()


def test_kubelet_starts_containers_with_service_links(h: Harness, data_dir: Path) -> None:  # noqa: F811
    h.client.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "cache"},
            "spec": {"clusterIP": "10.96.44.5", "ports": [{"name": "redis", "port": 6379}]},
        },
        h.ns,
    )
    script = "import json, os; json.dump(dict(os.environ), open('volumes/scratch/env.json', 'w')); import time; time.sleep(300)"
    container = {"name": "app", "image": "python:3", "command": ["python3", "-c", script]}
    container["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    h.create("links", [container], volumes=[{"name": "scratch", "emptyDir": {}}])
    pod = h.sync_until("links", lambda p: cond(p, "Ready") == "True")
    env = json.loads(
        wait_file(data_dir / "pods" / pod["metadata"]["uid"] / "volumes" / "scratch" / "env.json")
    )
    assert env["CACHE_SERVICE_HOST"] == "10.96.44.5" and env["CACHE_PORT_6379_TCP"] == "tcp://10.96.44.5:6379"


@pytest.mark.skipif(
    not isolation.available(), reason="namespaces isolation needs root with unshare, nsenter and ip"
)
def test_namespaces_pod_gets_cluster_resolv_conf_host_keeps_its_own(
    h: Harness,  # noqa: F811
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBEQ_NODE_ISOLATION", "namespaces")
    monkeypatch.setenv("KUBEQ_NODE_POD_CIDR", f"10.244.{200 + uuid.uuid4().int % 50}.0/24")
    host_before = Path("/etc/resolv.conf").read_text()
    try:
        h.client.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                "spec": {
                    "clusterIP": "10.96.0.10",
                    "ports": [{"name": "dns", "protocol": "UDP", "port": 53}],
                },
            }
        )
    except errors.AlreadyExists:  # another test of this module's API server made it already
        pass
    script = "cat /etc/resolv.conf > /scratch/resolv; sleep 300"
    container = {"name": "app", "image": "busybox", "command": ["sh", "-c", script]}
    container["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    h.create("dnsy", [container], volumes=[{"name": "scratch", "emptyDir": {}}])
    pod = h.sync_until("dnsy", lambda p: cond(p, "Ready") == "True")
    seen = wait_file(data_dir / "pods" / pod["metadata"]["uid"] / "volumes" / "scratch" / "resolv")
    servers, searches, options = parse(seen)
    assert servers == ["10.96.0.10"] and "ndots:5" in options
    assert searches[:3] == [f"{h.ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert Path("/etc/resolv.conf").read_text() == host_before
