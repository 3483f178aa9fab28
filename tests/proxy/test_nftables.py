"""The nftables proxy backend moving real packets inside throwaway network namespaces.

A "node" namespace holds three TCP/UDP servers on 10.250.0.2-4 (the endpoints) and the backend's table;
a "client" namespace is joined to it by a veth pair (node 10.251.0.1, client 10.251.0.2), so traffic
reaches the Services both from the node itself (nat output) and from outside (nat prerouting).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from tasks.proxy.backend import ProxyBackend
from tasks.proxy.model import Endpoint, ProxyState, ServicePort
from workers.proxy.nftables import NftablesBackend, available, netns_runner
from workers.proxy.nftables_render import render_program, table_name

NODE_IP, CLIENT_IP = "10.251.0.1", "10.251.0.2"
EP_IPS = ("10.250.0.2", "10.250.0.3", "10.250.0.4")
WEB, AFF, DNS, EMPTY, LOCAL = "10.96.0.10", "10.96.0.11", "10.96.0.12", "10.96.0.13", "10.96.0.14"

SERVER = r"""
import socket, socketserver, sys, threading
class T(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.getsockname()[0].encode())
class U(socketserver.BaseRequestHandler):
    def handle(self):
        self.request[1].sendto(self.server.server_address[0].encode(), self.client_address)
socketserver.ThreadingTCPServer.allow_reuse_address = True
for ip in sys.argv[1:]:
    for srv in (socketserver.ThreadingTCPServer((ip, 8080), T), socketserver.UDPServer((ip, 8053), U)):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
hits, errors, worst = {}, {}, 0.0
end = time.monotonic() + a.get("duration", 0)
i = 0
while i < a["n"] or time.monotonic() < end:
    i += 1
    t0 = time.monotonic()
    try:
        if a["proto"] == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(a["timeout"])
            s.sendto(b"q", (a["ip"], a["port"]))
            who = s.recv(100).decode()
        else:
            s = socket.create_connection((a["ip"], a["port"]), timeout=a["timeout"])
            who = s.recv(100).decode()
        s.close()
        hits[who] = hits.get(who, 0) + 1
    except OSError as exc:
        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        worst = max(worst, time.monotonic() - t0)
print(json.dumps({"hits": hits, "errors": errors, "worst_error_s": worst}))
"""

needs_nft = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None or not available(),
    reason="needs root, iproute2 and a working nft (nftables) to build network namespaces and tables",
)


def _eps(ips: tuple[str, ...] = EP_IPS, port: int = 8080, node: str = "n1") -> tuple[Endpoint, ...]:
    return tuple(Endpoint(ip, port, node=node) for ip in ips)


def full_state(web_ips: tuple[str, ...] = EP_IPS) -> ProxyState:
    """The sample node state every packet test starts from."""
    return ProxyState(
        node="n1",
        node_ips=(NODE_IP,),
        services=(
            ServicePort("default", "web", "", "TCP", 80, (WEB,), node_port=30080, endpoints=_eps(web_ips)),
            ServicePort("default", "aff", "", "TCP", 80, (AFF,), affinity_seconds=600, endpoints=_eps()),
            ServicePort("kube-system", "dns", "dns", "UDP", 53, (DNS,), endpoints=_eps(port=8053)),
            ServicePort("default", "empty", "", "TCP", 80, (EMPTY,), node_port=30081),
            ServicePort(
                "default",
                "local",
                "",
                "TCP",
                80,
                (LOCAL,),
                node_port=30082,
                external_local=True,
                endpoints=_eps(node="elsewhere"),
            ),
        ),
    )


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class Net:
    """The two namespaces, the servers, and a backend applying inside the node namespace."""

    def __init__(self) -> None:
        tag = f"{os.getpid()}"
        self.node, self.client = f"kqnft-n{tag}", f"kqnft-c{tag}"
        self.backend = NftablesBackend("n1", runner=netns_runner(self.node))
        self.server: subprocess.Popen | None = None

    def up(self) -> None:
        n, c = self.node, self.client
        _sh("ip", "netns", "add", n)
        _sh("ip", "netns", "add", c)
        veth_n, veth_c = f"kqn{os.getpid()}"[:15], f"kqc{os.getpid()}"[:15]
        _sh("ip", "link", "add", veth_n, "netns", n, "type", "veth", "peer", "name", veth_c, "netns", c)
        for ns, dev, ip, gw in ((n, veth_n, NODE_IP, CLIENT_IP), (c, veth_c, CLIENT_IP, NODE_IP)):
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            _sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _sh("ip", "-n", ns, "link", "set", dev, "up")
            _sh("ip", "-n", ns, "route", "add", "default", "via", gw)
        for ip in EP_IPS:
            _sh("ip", "-n", n, "addr", "add", f"{ip}/32", "dev", "lo")
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", n, sys.executable, "-c", SERVER, *EP_IPS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.server.stdout is not None and self.server.stdout.readline().strip() == "ready"

    def down(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        for ns in (self.node, self.client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def hit(self, ns: str, ip: str, port: int, n: int = 1, proto: str = "tcp", **kw) -> dict:
        """Runs the client inside ``ns``: ``{"hits": {endpoint: count}, "errors": {...}, ...}``."""
        args = {"ip": ip, "port": port, "n": n, "proto": proto, "timeout": 2.0, **kw}
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, json.dumps(args)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return json.loads(out.stdout)

    def tables(self) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", self.node, "nft", "list", "tables"], capture_output=True, text=True
        ).stdout


@pytest.fixture(scope="module")
def net():
    env = Net()
    try:
        env.up()
        env.backend.apply(full_state())
        yield env
    finally:
        env.down()


# --- render only -------------------------------------------------------------------------------------


def test_backend_meets_the_protocol():
    backend = NftablesBackend("n1")
    assert isinstance(backend, ProxyBackend) and backend.mode == "nftables" and backend.table == "kubeq-n1"


def test_table_name_is_safe_and_short():
    assert table_name("node-1") == "kubeq-node-1"
    long = table_name("a" * 80 + "/x y")
    assert len(long) <= 32 and long.startswith("kubeq-aaa")
    assert table_name("a" * 80) != table_name("a" * 79)


def test_render_spreads_pins_and_rejects():
    text, counts, _ = render_program(full_state(), "kubeq-n1")
    assert text.startswith("add table ip kubeq-n1\ntable ip kubeq-n1 {") and "delete" not in text
    assert "numgen random mod 3 vmap" in text
    assert "timeout 600s" in text and "update @aff-" in text
    assert f"{EMPTY} . tcp . 80 : goto reject-chain" in text
    assert "tcp . 30081 : goto reject-chain" in text
    assert "tcp . 30082 : drop" in text  # Local policy and no endpoint on this node: dropped
    assert counts["services"] == 5 and counts["node_ports"] == 3 and counts["no_endpoints"] == 3


def test_rerender_touches_only_what_changed():
    first = render_program(full_state(), "kubeq-n1")
    existing = {**{name: "chain" for name in first.chains}, "service-ips": "map", "old-chain": "chain"}
    existing["aff-gone"] = "set"
    again = render_program(full_state(EP_IPS[:2]), "kubeq-n1", existing=existing, applied=first.chains)
    changed = {n for n in first.chains if again.chains.get(n) != first.chains[n]}
    flushed = {line.split()[-1] for line in again.text.splitlines() if line.startswith("flush chain")}
    assert changed and flushed == changed | {"old-chain"}  # web's spread changed; nothing else did
    assert "nat-prerouting" not in flushed and "\tchain nat-prerouting {" not in again.text
    assert "flush map ip kubeq-n1 service-ips" in again.text
    deleted = {line.split()[-1] for line in again.text.splitlines() if line.startswith("delete")}
    assert deleted == {"old-chain", "aff-gone", *(n for n in first.chains if n not in again.chains)}
    assert "ep-1ddae6f2-10.250.0.4-8080" in deleted  # web's endpoint chain for the removed address


def test_render_falls_back_to_terminating_endpoints():
    eps = (
        Endpoint("10.250.0.2", 8080, ready=False, serving=True, terminating=True),
        Endpoint("10.250.0.3", 8080, ready=False, serving=False, terminating=True),
    )
    state = ProxyState("n1", services=(ServicePort("default", "t", "", "TCP", 80, (WEB,), endpoints=eps),))
    text, counts, _ = render_program(state, "kubeq-n1")
    assert "dnat to 10.250.0.2:8080" in text and "10.250.0.3" not in text
    assert counts["endpoints"] == 1 and counts["no_endpoints"] == 0


# --- packets -----------------------------------------------------------------------------------------


@needs_nft
def test_cluster_ip_spreads_over_every_endpoint(net):
    net.backend.apply(full_state())
    from_node = net.hit(net.node, WEB, 80, n=300)
    assert from_node["errors"] == {} and set(from_node["hits"]) == set(EP_IPS)
    assert min(from_node["hits"].values()) > 30
    from_outside = net.hit(net.client, WEB, 80, n=60)
    assert from_outside["errors"] == {} and set(from_outside["hits"]) == set(EP_IPS)


@needs_nft
def test_session_affinity_pins_a_client(net):
    net.backend.apply(full_state())
    for ns in (net.client, net.node):
        got = net.hit(ns, AFF, 80, n=30)
        assert got["errors"] == {} and len(got["hits"]) == 1, got
    pinned = next(iter(net.hit(net.client, AFF, 80)["hits"]))
    net.backend.apply(full_state())  # a re-apply keeps the client where it was
    assert net.hit(net.client, AFF, 80, n=10)["hits"] == {pinned: 10}


@needs_nft
def test_removed_endpoint_gets_no_more_traffic(net):
    net.backend.apply(full_state(web_ips=EP_IPS[:2]))
    try:
        got = net.hit(net.node, WEB, 80, n=100)
        assert got["errors"] == {} and set(got["hits"]) == set(EP_IPS[:2])
    finally:
        net.backend.apply(full_state())


@needs_nft
def test_node_port_answers_on_loopback_and_node_address(net):
    net.backend.apply(full_state())
    for ns, ip in ((net.node, "127.0.0.1"), (net.node, NODE_IP), (net.client, NODE_IP)):
        got = net.hit(ns, ip, 30080, n=30)
        assert got["errors"] == {} and set(got["hits"]) <= set(EP_IPS) and len(got["hits"]) >= 2, (ip, got)
    sysctl = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            net.node,
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/net/ipv4/conf/all/route_localnet",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sysctl == ["1", "1"]


@needs_nft
def test_no_endpoints_is_refused_at_once(net):
    net.backend.apply(full_state())
    for ns, ip, port in ((net.node, EMPTY, 80), (net.client, EMPTY, 80), (net.node, NODE_IP, 30081)):
        got = net.hit(ns, ip, port, n=3)
        assert got["hits"] == {} and got["errors"] == {"ConnectionRefusedError": 3}, (ip, port, got)
        assert got["worst_error_s"] < 0.5


@needs_nft
def test_local_external_policy_without_local_endpoints_drops(net):
    net.backend.apply(full_state())
    inside = net.hit(net.client, LOCAL, 80, n=20)  # ClusterIP traffic keeps the Cluster policy
    assert inside["errors"] == {} and set(inside["hits"]) <= set(EP_IPS)
    outside = net.hit(net.client, NODE_IP, 30082, n=1, timeout=0.3)
    assert outside["hits"] == {} and outside["errors"] == {"TimeoutError": 1}


@needs_nft
def test_udp_service_spreads(net):
    net.backend.apply(full_state())
    got = net.hit(net.client, DNS, 53, n=60, proto="udp")
    assert got["errors"] == {} and set(got["hits"]) == set(EP_IPS)


def _other_services_changed() -> ProxyState:
    """``full_state()`` with the affinity Service down to one endpoint and the DNS Service gone."""
    state = full_state()
    services = tuple(
        sp
        if sp.name != "aff"
        else ServicePort(
            "default", "aff", "", "TCP", 80, (AFF,), affinity_seconds=600, endpoints=_eps(EP_IPS[:1])
        )
        for sp in state.services
        if sp.name != "dns"
    )
    return ProxyState(node=state.node, node_ips=state.node_ips, services=services)


@needs_nft
def test_reapply_is_atomic_and_removes_leftovers(net):
    """Connections to a Service keep working while the table is re-applied, again and again, with the
    other Services changing each time; whatever someone else added to the table is removed."""
    net.backend.apply(full_state())
    net.backend._run(["nft", "add", "chain", "ip", net.backend.table, "leftover"], None)
    result: dict = {}
    loop = threading.Thread(
        target=lambda: result.update(net.hit(net.client, WEB, 80, n=0, duration=3.0, timeout=1.0))
    )
    loop.start()
    applies = 0
    while loop.is_alive():
        net.backend.apply(full_state() if applies % 2 else _other_services_changed())
        applies += 1
        time.sleep(0.02)
    loop.join()
    assert applies >= 5
    assert result["errors"] == {} and sum(result["hits"].values()) > 50
    net.backend.apply(full_state())
    listing = subprocess.run(
        ["ip", "netns", "exec", net.node, "nft", "list", "table", "ip", net.backend.table],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "leftover" not in listing and "kube-system-dns" in listing


@needs_nft
def test_cleanup_leaves_no_table(net):
    net.backend.apply(full_state())
    assert f"ip {net.backend.table}" in net.tables()
    net.backend.cleanup()
    net.backend.cleanup()  # idempotent
    assert net.backend.table not in net.tables()
    assert not net.backend.exists()
