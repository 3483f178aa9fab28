"""The userspace forwarder daemon, in a real process, forwarding real TCP and UDP to local servers.

ClusterIPs are random addresses in 127.96.0.0/16 (bindable without root) and ports are free ones, so
runs side by side never share a listener.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tasks.proxy.model import Endpoint, ProxyState, ServicePort
from workers.proxy import client as proxy_client
from workers.proxy.client import UserspaceBackend

RANGE = "127.96.0.0/16"


class _Named(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.server.name.encode())  # type: ignore[attr-defined]


class _NamedUdp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(self.server.name.encode() + b":" + data, self.client_address)  # type: ignore[attr-defined]


def _serve(kind: type, handler: type, name: str) -> socketserver.BaseServer:
    kind.allow_reuse_address = True
    server = kind(("127.0.0.1", 0), handler)
    server.name = name  # type: ignore[attr-defined]
    server.daemon_threads = True  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, tuple[int, int]]]:
    """Three named TCP servers and three named UDP servers: name -> (tcp port, udp port)."""
    servers = []
    out = {}
    for name in ("a", "b", "c"):
        tcp = _serve(socketserver.ThreadingTCPServer, _Named, name)
        udp = _serve(socketserver.ThreadingUDPServer, _NamedUdp, name)
        servers += [tcp, udp]
        out[name] = (tcp.server_address[1], udp.server_address[1])
    yield out
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserspaceBackend]:
    data = tmp_path_factory.mktemp("proxy")
    proxy_client.ensure_daemon(data, "n1", RANGE)
    backend = UserspaceBackend(data, "n1", RANGE)
    yield backend
    backend.cleanup()
    proxy_client.stop_daemon(data)


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_ip() -> str:
    return f"127.96.{random.randint(1, 254)}.{random.randint(2, 254)}"


def _eps(backends: dict[str, tuple[int, int]], names: str, udp: bool = False, **kw: object) -> tuple:
    return tuple(Endpoint("127.0.0.1", backends[n][1 if udp else 0], **kw) for n in names)  # type: ignore[arg-type]


def _ask(ip: str, port: int) -> str:
    """Connect, read the backend's name; "" when the proxy closed or reset the connection."""
    with socket.create_connection((ip, port), timeout=5) as s:
        try:
            return s.recv(100).decode()
        except ConnectionResetError:
            return ""


def _state(*ports: ServicePort) -> ProxyState:
    return ProxyState(node="n1", node_ips=("127.0.0.1",), services=ports)


def _svc(name: str, endpoints: tuple, protocol: str = "TCP", **kw: object) -> ServicePort:
    return ServicePort(
        namespace="default",
        name=name,
        port_name="",
        protocol=protocol,
        port=_free_port(socket.SOCK_DGRAM if protocol == "UDP" else socket.SOCK_STREAM),
        cluster_ips=(_cluster_ip(),),
        endpoints=endpoints,
        **kw,  # type: ignore[arg-type]
    )


def test_spreads_300_connections_over_three_endpoints(proxy: UserspaceBackend, backends: dict) -> None:
    sp = _svc("web", _eps(backends, "abc"))
    summary = proxy.apply(_state(sp))
    assert summary["listeners"] == 1 and summary["failed"] == 0
    seen = Counter(_ask(sp.cluster_ips[0], sp.port) for _ in range(300))
    assert set(seen) == {"a", "b", "c"}
    assert min(seen.values()) > 50, seen


def test_removed_or_unready_endpoint_gets_no_new_traffic(proxy: UserspaceBackend, backends: dict) -> None:
    sp = _svc("web", _eps(backends, "abc"))
    proxy.apply(_state(sp))
    assert {_ask(sp.cluster_ips[0], sp.port) for _ in range(60)} == {"a", "b", "c"}
    fewer = replace(sp, endpoints=_eps(backends, "ab"))
    proxy.apply(_state(fewer))
    assert {_ask(sp.cluster_ips[0], sp.port) for _ in range(60)} == {"a", "b"}
    unready = _eps(backends, "a") + _eps(backends, "b", ready=False, serving=False)
    proxy.apply(_state(replace(sp, endpoints=unready)))
    assert {_ask(sp.cluster_ips[0], sp.port) for _ in range(30)} == {"a"}


def test_terminating_endpoints_serve_when_none_is_ready(proxy: UserspaceBackend, backends: dict) -> None:
    eps = _eps(backends, "a", ready=False, serving=False) + _eps(
        backends, "b", ready=False, serving=True, terminating=True
    )
    sp = _svc("web", eps)
    proxy.apply(_state(sp))
    assert {_ask(sp.cluster_ips[0], sp.port) for _ in range(20)} == {"b"}


def test_client_ip_affinity_keeps_one_endpoint(proxy: UserspaceBackend, backends: dict) -> None:
    sp = _svc("sticky", _eps(backends, "abc"), affinity_seconds=60)
    proxy.apply(_state(sp))
    assert len({_ask(sp.cluster_ips[0], sp.port) for _ in range(40)}) == 1


def test_local_internal_policy_uses_only_this_nodes_endpoints(
    proxy: UserspaceBackend, backends: dict
) -> None:
    eps = _eps(backends, "a", node="n1") + _eps(backends, "bc", node="n2")
    sp = _svc("local", eps, internal_local=True)
    proxy.apply(_state(sp))
    assert {_ask(sp.cluster_ips[0], sp.port) for _ in range(30)} == {"a"}


def test_node_port_answers_on_every_address(proxy: UserspaceBackend, backends: dict) -> None:
    sp = _svc("np", _eps(backends, "abc"), node_port=_free_port())
    proxy.apply(_state(sp))
    assert _ask("127.0.0.1", sp.node_port) in {"a", "b", "c"}
    assert {_ask("127.0.0.1", sp.node_port) for _ in range(60)} == {"a", "b", "c"}
    assert proxy.status()["listeners"] == sorted(
        [f"TCP {sp.cluster_ips[0]}:{sp.port}", f"TCP 0.0.0.0:{sp.node_port}"]
    )


def test_no_target_rejects_at_once_and_gone_services_stop_listening(
    proxy: UserspaceBackend, backends: dict
) -> None:
    sp = _svc("empty", ())
    proxy.apply(_state(sp))
    started = time.monotonic()
    assert _ask(sp.cluster_ips[0], sp.port) == ""
    assert time.monotonic() - started < 1.0
    proxy.apply(_state())
    assert proxy.status()["listeners"] == []
    with pytest.raises(OSError):
        _ask(sp.cluster_ips[0], sp.port)


def test_udp_flows_spread_and_follow_endpoint_removal(proxy: UserspaceBackend, backends: dict) -> None:
    sp = _svc("dns", _eps(backends, "abc", udp=True), protocol="UDP")
    proxy.apply(_state(sp))

    def query(payload: bytes) -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(payload, (sp.cluster_ips[0], sp.port))
            data, _ = s.recvfrom(100)
            name, _, echoed = data.decode().partition(":")
            assert echoed == payload.decode()
            return name

    assert {query(f"q{i}".encode()) for i in range(60)} == {"a", "b", "c"}
    proxy.apply(_state(replace(sp, endpoints=_eps(backends, "c", udp=True))))
    assert {query(f"r{i}".encode()) for i in range(20)} == {"c"}


def test_a_killed_daemon_is_restarted_by_the_next_apply(proxy: UserspaceBackend, backends: dict) -> None:
    sp = _svc("web", _eps(backends, "a"))
    proxy.apply(_state(sp))
    pid = proxy_client.daemon_pid(proxy.data_dir)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while proxy_client.answers(proxy.sock, 0.2) and time.monotonic() < deadline:
        time.sleep(0.05)
    proxy.apply(_state(sp))
    assert proxy_client.daemon_pid(proxy.data_dir) not in (None, pid)
    assert _ask(sp.cluster_ips[0], sp.port) == "a"
