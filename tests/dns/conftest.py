"""Fixtures for the DNS suites: one API server per module, a fake upstream resolver, a running
cluster DNS replica (in this process, on a free port of 127.0.0.1) and a query helper."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from cluster.client.client import Client
from tests.e2e.conftest import APIServerProcess, launch_apiserver
from tests.namespaces import fresh
from workers.dns.daemon import ClusterDNS

UPSTREAM_ANSWER = "192.0.2.53"  # what the fake upstream says every name outside the cluster is
Query = Callable[..., DNSRecord]


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("dns-api")) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: APIServerProcess) -> Client:
    return Client(server.url)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A UDP resolver on 127.0.0.1 answering every A question with ``UPSTREAM_ANSWER``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                continue
            request = DNSRecord.parse(data)
            reply = request.reply()
            if request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A(UPSTREAM_ANSWER)))
            sock.sendto(reply.pack(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    sock.close()


@pytest.fixture(scope="module")
def dns(client: Client, upstream: str) -> Iterator[ClusterDNS]:
    replica = ClusterDNS(client, address="127.0.0.1", port=0, upstreams=[upstream]).start()
    assert replica.wait_synced(), "the DNS server never listed Services and EndpointSlices"
    yield replica
    replica.close()


@pytest.fixture
def query(dns: ClusterDNS) -> Query:
    def ask(name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
        raw = DNSRecord.question(name, qtype).send("127.0.0.1", dns.server.port, tcp=tcp, timeout=3)
        return DNSRecord.parse(raw)

    return ask


@pytest.fixture
def ns(client: Client) -> str:
    return fresh(client, "dns")


def eventually(check: Callable[[], object], timeout: float = 5.0) -> object:
    """``check()``'s first truthy result, polling; AssertionError with the last result on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not reached in {timeout}s: {result!r}"
            return result
        time.sleep(0.05)
