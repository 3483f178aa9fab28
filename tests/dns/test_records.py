"""The cluster DNS server answers Services, endpoints, SRV, pods and PTR from a real API server."""

from __future__ import annotations

from dnslib import QTYPE, RCODE, DNSRecord

from cluster.client.client import Client
from tests.dns.conftest import UPSTREAM_ANSWER, Query, eventually

DOMAIN = "cluster.local"


def service(ns: str, name: str, cluster_ip: str, ports: list[tuple[str, str, int]], **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [{"name": n, "protocol": p, "port": port} for n, p, port in ports],
            **spec,
        },
    }


def endpoint_slice(
    ns: str, svc: str, endpoints: list[tuple[str, str, bool]], ports: list[tuple[str, str, int]]
) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-abcde", "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready}, **({"hostname": host} if host else {})}
            for ip, host, ready in endpoints
        ],
        "ports": [{"name": n, "protocol": p, "port": port} for n, p, port in ports],
    }


def addresses(reply: DNSRecord, section: str = "rr") -> list[str]:
    return sorted(str(rr.rdata) for rr in getattr(reply, section) if rr.rtype in (QTYPE.A, QTYPE.AAAA))


def resolves(query: Query, name: str, qtype: str = "A") -> DNSRecord | None:
    reply = query(name, qtype)
    return reply if reply.header.rcode == RCODE.NOERROR and reply.rr else None


def test_service_name_is_its_cluster_ip_over_udp_and_tcp(client: Client, ns: str, query: Query) -> None:
    client.create(service(ns, "web", "10.96.7.1", [("http", "TCP", 80)]))
    name = f"web.{ns}.svc.{DOMAIN}"
    reply = eventually(lambda: resolves(query, name))
    assert addresses(reply) == ["10.96.7.1"]
    assert reply.rr[0].ttl == 5 and reply.header.aa == 1
    assert addresses(query(name, tcp=True)) == ["10.96.7.1"]
    aaaa = query(name, "AAAA")  # the name exists but has no IPv6 address: NOERROR, empty, SOA
    assert aaaa.header.rcode == RCODE.NOERROR and not aaaa.rr
    assert [rr.rtype for rr in aaaa.auth] == [QTYPE.SOA]


def test_unknown_names_in_the_domain_are_nxdomain_with_soa(ns: str, query: Query) -> None:
    for name in (f"nosuch.{ns}.svc.{DOMAIN}", f"x.y.z.{DOMAIN}", f"nosuch.svc.{DOMAIN}"):
        reply = query(name)
        assert reply.header.rcode == RCODE.NXDOMAIN, name
        assert not reply.rr and [rr.rtype for rr in reply.auth] == [QTYPE.SOA]


def test_headless_service_names_its_ready_endpoints(client: Client, ns: str, query: Query) -> None:
    client.create(service(ns, "db", "None", [("pg", "TCP", 5432)]))
    client.create(
        endpoint_slice(
            ns,
            "db",
            [("10.244.1.5", "db-0", True), ("10.244.1.6", "", True), ("10.244.1.7", "db-2", False)],
            [("pg", "TCP", 5432)],
        )
    )
    name = f"db.{ns}.svc.{DOMAIN}"
    reply = eventually(lambda: resolves(query, name))
    assert addresses(reply) == ["10.244.1.5", "10.244.1.6"]
    assert addresses(query(f"db-0.{name}")) == ["10.244.1.5"]
    assert addresses(query(f"10-244-1-6.{name}")) == ["10.244.1.6"]
    assert query(f"db-2.{name}").header.rcode == RCODE.NXDOMAIN  # not ready

    srv = query(f"_pg._tcp.{name}", "SRV")
    targets = sorted((rr.rdata.port, str(rr.rdata.target)) for rr in srv.rr)
    assert targets == [(5432, f"10-244-1-6.{name}."), (5432, f"db-0.{name}.")]
    assert addresses(srv, "ar") == ["10.244.1.5", "10.244.1.6"]


def test_srv_for_named_ports_targets_the_service(client: Client, ns: str, query: Query) -> None:
    client.create(
        service(ns, "api", "10.96.7.2", [("http", "TCP", 80), ("metrics", "TCP", 9090), ("dns", "UDP", 53)])
    )
    base = f"api.{ns}.svc.{DOMAIN}"
    reply = eventually(lambda: resolves(query, f"_metrics._tcp.{base}", "SRV"))
    (rr,) = reply.rr
    assert (rr.rdata.port, str(rr.rdata.target)) == (9090, base + ".")
    assert addresses(reply, "ar") == ["10.96.7.2"]
    assert query(f"_dns._udp.{base}", "SRV").rr[0].rdata.port == 53
    assert query(f"_dns._tcp.{base}", "SRV").header.rcode == RCODE.NXDOMAIN  # wrong protocol
    assert query(f"_nope._tcp.{base}", "SRV").header.rcode == RCODE.NXDOMAIN


def test_pod_names_are_their_dashed_ip(ns: str, query: Query) -> None:
    assert addresses(query(f"10-244-3-4.{ns}.pod.{DOMAIN}")) == ["10.244.3.4"]
    assert query(f"not-an-ip.{ns}.pod.{DOMAIN}").header.rcode == RCODE.NXDOMAIN


def test_external_name_is_a_cname_followed_upstream(client: Client, ns: str, query: Query) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext", "namespace": ns},
        "spec": {"type": "ExternalName", "externalName": "db.example.org"},
    }
    client.create(svc)
    reply = eventually(lambda: resolves(query, f"ext.{ns}.svc.{DOMAIN}"))
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [
        ("CNAME", "db.example.org."),
        ("A", UPSTREAM_ANSWER),
    ]


def test_names_outside_the_domain_are_forwarded(query: Query) -> None:
    reply = query("www.example.org")
    assert addresses(reply) == [UPSTREAM_ANSWER]


def test_ptr_of_a_cluster_ip_names_the_service(client: Client, ns: str, query: Query) -> None:
    client.create(service(ns, "rev", "10.96.7.3", [("http", "TCP", 80)]))
    reply = eventually(lambda: resolves(query, "3.7.96.10.in-addr.arpa", "PTR"))
    assert [str(rr.rdata) for rr in reply.rr] == [f"rev.{ns}.svc.{DOMAIN}."]


def test_deleted_service_stops_resolving(client: Client, ns: str, query: Query) -> None:
    from cluster.api.resources import lookup

    client.create(service(ns, "gone", "10.96.7.4", [("http", "TCP", 80)]))
    eventually(lambda: resolves(query, f"gone.{ns}.svc.{DOMAIN}"))
    client.delete(lookup("", "v1", "services"), "gone", ns)
    eventually(lambda: query(f"gone.{ns}.svc.{DOMAIN}").header.rcode == RCODE.NXDOMAIN)
