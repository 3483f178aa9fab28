"""A pod's resolv.conf for each dnsPolicy, with dnsConfig merged as Kubernetes merges it."""

from __future__ import annotations

from tasks.kubelet.resolvconf import parse, resolv_conf

HOST = "# host\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example\noptions edns0 ndots:2\n"


def pod(**spec: object) -> dict:
    return {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [], **spec}}


def test_cluster_first_is_the_default() -> None:
    text = resolv_conf(pod(), "10.96.0.10", HOST)
    assert text == (
        "nameserver 10.96.0.10\n"
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "options ndots:5\n"
    )
    assert resolv_conf(pod(dnsPolicy="ClusterFirst"), "10.96.0.10", HOST) == text


def test_cluster_first_on_the_host_network_uses_the_hosts_unless_with_host_net() -> None:
    assert parse(resolv_conf(pod(hostNetwork=True), "10.96.0.10", HOST))[0] == ["192.168.1.1", "192.168.1.2"]
    with_net = resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), "10.96.0.10", HOST)
    assert parse(with_net)[0] == ["10.96.0.10"]


def test_cluster_first_without_cluster_dns_falls_back_to_the_host() -> None:
    assert parse(resolv_conf(pod(), None, HOST)) == parse(HOST)


def test_default_is_the_hosts() -> None:
    assert parse(resolv_conf(pod(dnsPolicy="Default"), "10.96.0.10", HOST)) == (
        ["192.168.1.1", "192.168.1.2"],
        ["corp.example"],
        ["edns0", "ndots:2"],
    )


def test_none_is_only_dns_config() -> None:
    config = {
        "nameservers": ["1.1.1.1"],
        "searches": ["a.example"],
        "options": [{"name": "ndots", "value": "1"}],
    }
    text = resolv_conf(pod(dnsPolicy="None", dnsConfig=config), "10.96.0.10", HOST)
    assert text == "nameserver 1.1.1.1\nsearch a.example\noptions ndots:1\n"


def test_dns_config_merges_into_cluster_first() -> None:
    config = {
        "nameservers": ["10.96.0.10", "1.1.1.1", "8.8.8.8", "9.9.9.9"],
        "searches": ["svc.cluster.local", "extra.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    servers, searches, options = parse(resolv_conf(pod(dnsConfig=config), "10.96.0.10", HOST))
    assert servers == ["10.96.0.10", "1.1.1.1", "8.8.8.8"]  # duplicates dropped, at most 3
    assert searches == [
        "shop.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
        "corp.example",
        "extra.example",
    ]
    assert options == ["ndots:2", "edns0"]


def test_custom_cluster_domain() -> None:
    text = resolv_conf(pod(), "10.0.0.10", "", domain="k.internal")
    assert "search shop.svc.k.internal svc.k.internal k.internal\n" in text
