"""``ops.hosts`` on 3 hosts (control plane + 2 nodes in network namespaces), as root.

Both nodes come up Ready with their own host address and pod CIDR; a Deployment spreads over them;
a pod on host-1 reaches a pod on host-2 by pod IP and through a ClusterIP Service; cutting host-2's
link makes its node NotReady within the grace period; ``down`` leaves no namespace, veth or bridge.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cluster import kubeconfig
from ops import hosts
from ops.hosts import network, processes
from tests.figures import report
from tests.node.upcluster import wait

GRACE = 10  # KUBEQ_NODE_MONITOR_GRACE_PERIOD for this suite
MONITOR = 5  # the node lifecycle controller lists Leases this often
ENV = {"KUBEQ_NODE_MONITOR_GRACE_PERIOD": str(GRACE), "KUBEQ_NODE_STATUS_SECONDS": "2"}


def _can_make_hosts() -> bool:
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nsenter")):
        return False
    return subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.slow,  # a three-host cluster: `pytest -m slow` (CI runs it)
    pytest.mark.skipif(not _can_make_hosts(), reason="needs root, ip netns and nsenter"),
]
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


class Hosts:
    """The running cluster and a kubectl against it."""

    def __init__(self, cluster: hosts.Cluster, cache: str) -> None:
        self.cluster = cluster
        self.base = ["kubectl", f"--kubeconfig={cluster.kubeconfig}", f"--cache-dir={cache}"]

    def kubectl(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *argv], input=stdin, capture_output=True, text=True, timeout=30)

    def apply(self, manifest: dict[str, Any]) -> None:
        out = self.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
        assert out.returncode == 0, out.stderr

    def get(self, *argv: str) -> Any:
        out = self.kubectl("get", *argv, "-o", "json")
        return json.loads(out.stdout) if out.returncode == 0 else None


@pytest.fixture(scope="module")
def cluster() -> Iterator[Hosts]:
    directory = tempfile.mkdtemp(prefix="kqhosts-", dir="/tmp")
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        started = hosts.up(3, directory)
        yield Hosts(started, os.path.join(directory, "kubectl-cache"))
    finally:
        hosts.down(directory)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(directory, ignore_errors=True)


def ready(obj: dict[str, Any]) -> str | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conds if c["type"] == "Ready"), None)


def server_pod(name: str, node: str, port: int = 8080) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3",
                    "command": ["python3", "-m", "http.server", str(port)],
                    "ports": [{"containerPort": port}],
                    "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
                }
            ],
        },
    }


FETCH = """
import sys, time, urllib.request
for url in sys.argv[1:]:
    for attempt in range(30):
        try:
            print(url, urllib.request.urlopen(url, timeout=2).status)
            break
        except OSError as exc:
            print(url, exc)
            time.sleep(1)
    else:
        sys.exit(1)
"""


def fetch_from(kube: Hosts, name: str, node: str, *urls: str) -> dict[str, Any]:
    """Run a pod on ``node`` that GETs each of ``urls`` (retrying); the pod once it has finished."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {"name": "c", "image": "python:3", "command": ["python3", "-c", FETCH, *urls]}
                ],
            },
        }
    )

    def finished() -> dict[str, Any] | None:
        pod = kube.get("pod", name)
        return pod if pod and pod["status"].get("phase") in ("Succeeded", "Failed") else None

    return wait(finished, 60, f"pod {name} to finish")


@pytest.fixture(scope="module")
def web2(cluster: Hosts) -> dict[str, Any]:
    """A ready HTTP server pod on host-2, behind the ClusterIP Service ``web2``."""
    cluster.apply(server_pod("web2", "host-2"))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web2"},
            "spec": {"selector": {"app": "web2"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    return wait(lambda: (p := cluster.get("pod", "web2")) and ready(p) == "True" and p, 60, "web2 Ready")


def test_up_leaves_an_existing_network_alone(tmp_path: Any) -> None:
    network.create(2)
    try:
        with pytest.raises(RuntimeError, match="exist already"):
            hosts.up(3, str(tmp_path))
        assert network.namespaces() == ["kqh-0", "kqh-1"]
        assert network.link_exists("kqhbr0")
    finally:
        network.destroy()
    assert network.namespaces() == []


def test_both_nodes_ready_with_their_host_address_and_pod_cidr(cluster: Hosts) -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes")["items"]}
    assert sorted(nodes) == ["host-1", "host-2"]
    for i, name in ((1, "host-1"), (2, "host-2")):
        assert ready(nodes[name]) == "True"
        internal = [a["address"] for a in nodes[name]["status"]["addresses"] if a["type"] == "InternalIP"]
        assert internal == [network.address(i)]
    cidrs = wait(
        lambda: (
            all(n["spec"].get("podCIDR") for n in cluster.get("nodes")["items"])
            and [n["spec"]["podCIDR"] for n in cluster.get("nodes")["items"]]
        ),
        30,
        "pod CIDRs",
    )
    assert len(set(cidrs)) == 2


def test_deployment_spreads_over_both_hosts(cluster: Hosts) -> None:
    template = server_pod("spread", "")
    del template["spec"]["nodeName"]
    template["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}},
        }
    ]
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "spread"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "spread"}},
                "template": {"metadata": template["metadata"], "spec": template["spec"]},
            },
        }
    )

    def running_nodes() -> list[str] | None:
        pods = (cluster.get("pods", "-l", "app=spread") or {}).get("items") or []
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return sorted(p["spec"]["nodeName"] for p in running) if len(running) == 2 else None

    assert wait(running_nodes, 60, "2 running replicas") == ["host-1", "host-2"]


def test_pod_on_host1_reaches_pod_on_host2_by_pod_ip(cluster: Hosts, web2: dict[str, Any]) -> None:
    ip = web2["status"]["podIP"]
    pod = fetch_from(cluster, "by-ip", "host-1", f"http://{ip}:8080/")
    assert pod["status"]["phase"] == "Succeeded", cluster.kubectl("logs", "by-ip").stdout
    assert pod["status"]["podIP"] != ip


def test_cluster_ip_service_answers_from_the_other_host(cluster: Hosts, web2: dict[str, Any]) -> None:
    # By ClusterIP, then by name: the DNS server runs on host 0, which routes its answers to host-1's pods.
    service = cluster.get("service", "web2")
    by_ip, by_name = f"http://{service['spec']['clusterIP']}:80/", "http://web2.default.svc.cluster.local/"
    pod = fetch_from(cluster, "by-service", "host-1", by_ip, by_name)
    assert pod["status"]["phase"] == "Succeeded", cluster.kubectl("logs", "by-service").stdout


def test_nodes_joined_with_their_own_approved_certificates(cluster: Hosts) -> None:
    out = cluster.kubectl("get", "csr", "-o", "json")
    assert out.returncode == 0, out.stderr
    by_node: dict[str, list[dict[str, Any]]] = {}
    for item in json.loads(out.stdout)["items"]:
        by_node.setdefault(item["metadata"]["name"].rsplit("-", 1)[0], []).append(item)
    for node in cluster.cluster.nodes:
        csrs = by_node.get(f"node-csr-{node}") or []
        assert len(csrs) == 1, f"{node}: {sorted(by_node)}"
        status = csrs[0].get("status") or {}
        assert [c["type"] for c in status.get("conditions") or []] == ["Approved"]
        assert status.get("certificate"), f"{node}: not issued"
        assert csrs[0]["spec"]["username"].startswith("system:bootstrap:")
        kc = kubeconfig.read(cluster.cluster.node_kubeconfig(node))
        assert kc.cert_pem and kc.token is None


def test_node_credentials_reach_only_their_own_node_and_pods(cluster: Hosts, web2: dict[str, Any]) -> None:
    host1 = [
        *cluster.base[:1],
        f"--kubeconfig={cluster.cluster.node_kubeconfig('host-1')}",
        *cluster.base[2:],
    ]

    def as_host1(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*host1, *argv], capture_output=True, text=True, timeout=30)

    label = '{"metadata":{"labels":{"kubeq.test/touched":"yes"}}}'
    own = as_host1("patch", "node", "host-1", "--type=merge", "-p", label)
    assert own.returncode == 0, own.stderr
    other = as_host1("patch", "node", "host-2", "--type=merge", "-p", label)
    assert other.returncode != 0 and "forbidden" in other.stderr.lower(), other.stderr
    status = '{"status":{"message":"hijacked"}}'
    pod = as_host1("patch", "pod", "web2", "--subresource=status", "--type=merge", "-p", status)
    assert pod.returncode != 0 and "forbidden" in pod.stderr.lower(), pod.stderr


def test_cut_link_makes_node_not_ready_within_grace_period(cluster: Hosts) -> None:
    hosts.cut(2)
    started = time.monotonic()
    try:

        def host2_not_ready() -> bool:
            node = cluster.get("node", "host-2")
            return bool(node) and ready(node) != "True"

        wait(host2_not_ready, GRACE + MONITOR + 15, "host-2 NotReady")
        took = time.monotonic() - started
        report(f"host-2 NotReady {took:.1f} s after its link was cut (grace {GRACE} s)")
        assert took <= GRACE + MONITOR + 5
        assert ready(cluster.get("node", "host-1")) == "True"
    finally:
        hosts.heal(2)


def test_down_leaves_nothing(cluster: Hosts) -> None:
    removed = hosts.down(cluster.cluster.directory)
    assert "kqhbr0" in removed
    assert network.namespaces() == []
    assert not network.link_exists("kqhbr0")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert " kqh" not in links
    assert not [p for p in cluster.cluster.procs if processes.alive(p.pid)]
