"""The ``local`` provider's address choice, without a cluster."""

from __future__ import annotations

import pytest

from tasks.cloud.local import choose_ip, parse_pool, pool, service_ports
from tasks.cloud.provider import known


def test_pool_accepts_addresses_and_cidrs() -> None:
    assert parse_pool(" 192.0.2.10, 198.51.100.0/30,192.0.2.10 , 203.0.113.5/32") == [
        "192.0.2.10",
        "198.51.100.1",
        "198.51.100.2",
        "203.0.113.5",
    ]
    with pytest.raises(ValueError):
        parse_pool("not-an-ip")


def test_default_pool_is_the_nodes_internal_ips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEQ_LB_POOL", raising=False)
    nodes = [
        {
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": "h"}]
            }
        }
        for ip in ("10.0.0.12", "10.0.0.9", "10.0.0.12")
    ]
    assert pool(nodes + [{"status": {}}]) == ["10.0.0.9", "10.0.0.12"]


def test_an_address_is_shared_only_by_different_ports() -> None:
    others = {
        "a.web": {"ip": "192.0.2.1", "ports": ["TCP/80"]},
        "a.dns": {"ip": "192.0.2.2", "ports": ["UDP/53"]},
    }
    candidates = ["192.0.2.1", "192.0.2.2"]
    assert choose_ip(candidates, ["TCP/80"], others, []) == "192.0.2.2"
    assert choose_ip(candidates, ["UDP/53", "TCP/53"], others, []) == "192.0.2.1"
    assert choose_ip(candidates, ["TCP/443"], others, ["192.0.2.2"]) == "192.0.2.2"  # keeps its address
    assert choose_ip(candidates, ["TCP/80", "UDP/53"], others, []) is None
    assert choose_ip(candidates, ["TCP/443"], others, ["192.0.2.99"]) == "192.0.2.1"  # left the pool


def test_ports_and_providers() -> None:
    svc = {
        "spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}, {"port": 80, "protocol": "TCP"}]}
    }
    assert service_ports(svc) == ["TCP/53", "TCP/80", "UDP/53"]
    assert "local" in known()
