"""The DNS server registers itself as kube-system/kube-dns, re-registers when deleted, and refuses
names it cannot forward."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from dnslib import RCODE, DNSRecord

from cluster import errors
from cluster.client.client import Client
from tests.dns.conftest import eventually
from tests.e2e.conftest import APIServerProcess, free_port
from workers.dns.catalog import Catalog
from workers.dns.daemon import ClusterDNS
from workers.dns.selfreg import NAME, NAMESPACE, SERVICES, SLICES, dns_service_ip
from workers.dns.server import DNSServer

ROOT = Path(__file__).resolve().parents[2]


def slices(client: Client) -> dict[str, dict]:
    items = client.list(SLICES, NAMESPACE, label_selector="endpointslice.kubernetes.io/managed-by=kubeq-dns")[
        "items"
    ]
    return {s["metadata"]["name"]: s for s in items}


def get_or_none(client: Client, resource, name: str):  # noqa: ANN001, ANN201
    try:
        return client.get(resource, name, NAMESPACE)
    except errors.NotFound:
        return None


def test_kube_dns_service_and_slice_point_at_the_replica(client: Client, dns: ClusterDNS) -> None:
    svc = eventually(lambda: get_or_none(client, SERVICES, NAME))
    assert svc["spec"]["clusterIP"] == dns_service_ip() == "10.96.0.10"
    assert svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert "selector" not in svc["spec"] or not svc["spec"]["selector"]
    ports = {(p["name"], p["protocol"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert ports == {("dns", "UDP", 53, dns.server.port), ("dns-tcp", "TCP", 53, dns.server.port)}
    mine = eventually(lambda: slices(client).get(dns.registration.slice_name))
    assert mine["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert {p["port"] for p in mine["ports"]} == {dns.server.port}
    reply = DNSRecord.parse(
        DNSRecord.question("kube-dns.kube-system.svc.cluster.local").send(
            "127.0.0.1", dns.server.port, timeout=3
        )
    )
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.10"]


def test_deleted_registration_comes_back(client: Client, dns: ClusterDNS) -> None:
    name = dns.registration.slice_name
    eventually(lambda: slices(client).get(name))
    client.delete(SLICES, name, NAMESPACE)
    client.delete(SERVICES, NAME, NAMESPACE)
    eventually(lambda: name in slices(client) and get_or_none(client, SERVICES, NAME))


def test_python_m_workers_dns_adds_a_second_endpoint_and_withdraws_it(
    client: Client, dns: ClusterDNS, server: APIServerProcess
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workers.dns",
            "--server",
            server.url,
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None and b"listening" in proc.stdout.readline()
        both = eventually(lambda: len(slices(client)) >= 2 and slices(client))
        assert {s["ports"][0]["port"] for s in both.values()} == {port, dns.server.port}
        reply = DNSRecord.parse(
            DNSRecord.question("10-1-2-3.default.pod.cluster.local").send("127.0.0.1", port, timeout=3)
        )
        assert [str(rr.rdata) for rr in reply.rr] == ["10.1.2.3"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode == 0
    assert {s["ports"][0]["port"] for s in slices(client).values()} == {dns.server.port}


def test_outside_names_without_upstream_are_refused() -> None:
    server = DNSServer(Catalog(), forwarder=None)
    reply = DNSRecord.parse(server.handle(DNSRecord.question("example.org").pack()))
    assert reply.header.rcode == RCODE.REFUSED
    assert server.handle(b"\x00\x01junk") is None  # not even a header: no reply
    assert DNSRecord.parse(server.handle(b"\x12\x34" + b"\x00" * 10)).header.rcode == RCODE.FORMERR
