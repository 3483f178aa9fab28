"""Issue 6's done-when on ``kubeq up --nodes 2`` (namespaces isolation), once per proxy mode.

A ClusterIP Service in front of a 3-replica ``python3 -m http.server`` Deployment answers on its
ClusterIP from the host and from inside a pod, 300 requests reach all three pods, a pod whose readiness
probe starts failing stops getting traffic within 2 s, a NodePort answers on every node, a
LoadBalancer Service gets an ingress that answers, and ``<svc>.<ns>.svc.cluster.local`` resolves
through ``kubeq dns``. Each figure is printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import collections
import json
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.upcluster import Kube, apply, condition, launch_up, pods, wait
from workers.runtime import isolation

pytestmark = [
    pytest.mark.slow,  # two two-node clusters: `pytest -m slow` (CI runs it)
    pytest.mark.skipif(
        not isolation.available() or shutil.which("nft") is None,
        reason="needs root, network namespaces and nftables (the issue's two-node namespaces cluster)",
    ),
]
PORT = 8080
REPLICAS = 3


@pytest.fixture(scope="module", params=["nftables", "userspace"])
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    """A two-node namespaces cluster whose proxies run in the param's mode, with the web Deployment."""
    with launch_up("namespaces", KUBEQ_PROXY_MODE=request.param) as run:
        run.mode = request.param  # type: ignore[attr-defined]
        run.docroot = Path(tempfile.mkdtemp(prefix="kqsvc-", dir="/tmp"))  # type: ignore[attr-defined]
        apply(run, _deployment(run.docroot))  # type: ignore[attr-defined]
        wait(lambda: len([p for p in pods(run, "app=web") if condition(p, "Ready") == "True"]) == REPLICAS,
             120, f"{REPLICAS} ready web pods")  # fmt: skip
        yield run
        shutil.rmtree(run.docroot, ignore_errors=True)  # type: ignore[attr-defined]


def _deployment(docroot: Path) -> dict:
    """Each pod serves its own directory (its name in index.html); /ready gates its readiness."""
    script = (
        f"mkdir -p {docroot}/$POD_NAME && cd {docroot}/$POD_NAME && echo $POD_NAME > index.html "
        f"&& touch ready && exec python3 -m http.server {PORT}"
    )
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    probe = {"httpGet": {"path": "/ready", "port": PORT}, "periodSeconds": 1, "failureThreshold": 1}
    container = {"name": "web", "image": "python:3", "command": ["sh", "-c", script], "env": env}
    container |= {"ports": [{"name": "http", "containerPort": PORT}], "readinessProbe": probe}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }


def _service(name: str, kind: str = "ClusterIP") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }


def _get(kube: Kube, *args: str) -> dict:
    out = kube("get", *args, "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _fetch(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read().decode().strip()
    except OSError:
        return None


def _spread(url: str, count: int) -> collections.Counter:
    return collections.Counter(_fetch(url) for _ in range(count))


def _ensure_service(kube: Kube, name: str, kind: str = "ClusterIP") -> dict:
    apply(kube, _service(name, kind))
    return _get(kube, "service", name)


def test_cluster_ip_answers_from_the_host_and_spreads(kube: Kube) -> None:
    ip = _ensure_service(kube, "web")["spec"]["clusterIP"]
    url = f"http://{ip}/"
    names = {p["metadata"]["name"] for p in pods(kube, "app=web")}
    wait(lambda: _fetch(url) in names, 30, f"an answer on the ClusterIP {ip}")
    hits = _spread(url, 300)
    print(f"\n[{kube.mode}] 300 requests to {ip}: {dict(hits)}")  # type: ignore[attr-defined]
    assert set(hits) == names, hits


def test_cluster_ip_answers_from_inside_a_pod_by_name(kube: Kube) -> None:
    _ensure_service(kube, "web")
    client = sorted(p["metadata"]["name"] for p in pods(kube, "app=web"))[0]
    code = "import urllib.request as u; print(u.urlopen('http://web/', timeout=3).read().decode().strip())"

    def answer() -> str | None:
        out = kube("exec", client, "--", "python3", "-c", code)
        return out.stdout.strip() if out.returncode == 0 else None

    got = wait(answer, 30, "an answer on http://web/ from inside a pod (DNS search path + ClusterIP)")
    assert got in {p["metadata"]["name"] for p in pods(kube, "app=web")}
    fqdn = kube("exec", client, "--", "getent", "hosts", "web.default.svc.cluster.local")
    ip = _get(kube, "service", "web")["spec"]["clusterIP"]
    assert fqdn.returncode == 0 and fqdn.stdout.split()[0] == ip, (fqdn.stdout, fqdn.stderr)


def test_dns_resolves_through_kubeq_dns_from_the_host(kube: Kube) -> None:
    from dnslib import DNSRecord

    ip = _ensure_service(kube, "web")["spec"]["clusterIP"]
    dns = _get(kube, "service", "kube-dns", "-n", "kube-system")["spec"]["clusterIP"]
    reply = DNSRecord.parse(DNSRecord.question("web.default.svc.cluster.local").send(dns, 53, timeout=3))
    assert [str(r.rdata) for r in reply.rr] == [ip]


def test_not_ready_pod_stops_receiving_traffic_within_2s(kube: Kube) -> None:
    ip = _ensure_service(kube, "web")["spec"]["clusterIP"]
    url = f"http://{ip}/"
    wait(lambda: len(_spread(url, 30)) == REPLICAS, 30, "all three pods answering")
    victim = sorted(p["metadata"]["name"] for p in pods(kube, "app=web"))[-1]
    (kube.docroot / victim / "ready").unlink()  # type: ignore[attr-defined]
    started = time.monotonic()
    last_hit = started
    quiet_since = None
    while time.monotonic() - started < 15:
        now = time.monotonic()
        if _fetch(url) == victim:
            last_hit, quiet_since = now, None
        elif quiet_since is None:
            quiet_since = now
        if quiet_since is not None and now - quiet_since > 3:
            break
    not_ready = next(c for c in _get(kube, "pod", victim)["status"]["conditions"] if c["type"] == "Ready")
    print(f"\n[{kube.mode}] last request reached the failing pod {last_hit - started:.2f} s after its "  # type: ignore[attr-defined]
          f"readiness file was removed (probe period 1 s)")  # fmt: skip
    assert not_ready["status"] == "False"
    assert last_hit - started <= 3.0  # at most 1 s for the probe to notice, then 2 s for the traffic
    (kube.docroot / victim / "ready").touch()  # type: ignore[attr-defined]
    wait(lambda: len(_spread(url, 30)) == REPLICAS, 30, "the pod back in rotation")


def test_node_port_answers_on_every_node(kube: Kube) -> None:
    svc = _ensure_service(kube, "web-np", "NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    for node in _get(kube, "nodes")["items"]:
        address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        url = f"http://{address}:{node_port}/"
        assert wait(lambda url=url: _fetch(url), 30, f"an answer on {url}")


def test_load_balancer_gets_an_ingress_that_answers(kube: Kube) -> None:
    _ensure_service(kube, "web-lb", "LoadBalancer")
    svc = wait(
        lambda: (s := _get(kube, "service", "web-lb"))["status"].get("loadBalancer", {}).get("ingress") and s,
        60,
        "an ingress address on the LoadBalancer Service",
    )
    ingress = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    url = f"http://{ingress}/"
    assert wait(lambda: _fetch(url), 30, f"an answer on {url}")
    assert kube("delete", "service", "web-lb").returncode == 0


def test_nodes_show_their_proxy_mode(kube: Kube) -> None:
    modes = {n["metadata"]["annotations"].get("kubeq.io/proxy-mode") for n in _get(kube, "nodes")["items"]}
    assert modes == {kube.mode}  # type: ignore[attr-defined]
