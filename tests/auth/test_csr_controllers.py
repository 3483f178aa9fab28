"""The certificate controllers through the real API: node client requests from bootstrappers or the
node itself are approved, others wait for a person; approved client requests get a certificate from
the cluster CA, denied ones never do."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from cluster import pki
from cluster.apiserver.app import APIServer
from cluster.apiserver.auth import UserInfo
from cluster.client.client import Client
from cluster.registry import Registry, WriteOptions
from cluster.registry import csr as csrs
from cluster.store import Store
from tasks.controllers.certificates import CSRApprovingController, CSRSigningController, SigningCA
from tasks.runtime.controller import Context
from tests.auth.test_csr_strategy import CSRS, csr_body

BOOTSTRAPPER = UserInfo("system:bootstrap:abcdef", groups=("system:bootstrappers", "system:authenticated"))
NODE1 = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))
ADMIN = UserInfo("kubernetes-admin", groups=("system:masters",))


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _ThreadedServer(WSGIServer):
    daemon_threads = True


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


@pytest.fixture
def ctx(registry: Registry) -> Iterator[Context]:
    server = make_server(
        "127.0.0.1", 0, APIServer(registry), server_class=_ThreadedServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Context(client=Client(f"http://127.0.0.1:{server.server_port}", timeout=30))
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ca() -> SigningCA:
    cert, key = pki.make_ca("test-ca")
    return SigningCA(cert, key)


def submit(registry: Registry, name: str, user: UserInfo, **kwargs: object) -> None:
    body = csr_body(name, **kwargs)  # type: ignore[arg-type]
    csrs.prepare_create(body, user)
    registry.create(CSRS, None, body, WriteOptions())


def run_both(ctx: Context, ca: SigningCA, name: str) -> dict:
    CSRApprovingController().sync(name, ctx)
    CSRSigningController(ca).sync(name, ctx)
    return ctx.client.get(CSRS, name)


def conditions(obj: dict) -> list[str]:
    return [c["type"] for c in (obj.get("status") or {}).get("conditions") or []]


def test_bootstrapper_node_request_is_approved_and_issued(
    registry: Registry, ctx: Context, ca: SigningCA
) -> None:
    submit(registry, "node-n1", BOOTSTRAPPER)
    obj = run_both(ctx, ca, "node-n1")
    assert conditions(obj) == ["Approved"]
    assert obj["status"]["conditions"][0]["reason"] == "AutoApproved"
    cert = x509.load_pem_x509_certificate(base64.b64decode(obj["status"]["certificate"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    issuer = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(issuer)
    again = run_both(ctx, ca, "node-n1")  # idempotent: nothing changes on a second run
    assert again["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_node_renewing_its_own_certificate_is_approved(
    registry: Registry, ctx: Context, ca: SigningCA
) -> None:
    submit(registry, "renew-n1", NODE1)
    assert conditions(run_both(ctx, ca, "renew-n1")) == ["Approved"]


@pytest.mark.parametrize(
    "user, kwargs",
    [
        (NODE1, {"cn": "system:node:n2"}),  # a node asking for another node's identity
        (BOOTSTRAPPER, {"orgs": ("system:masters",)}),  # more groups than a node gets
        (BOOTSTRAPPER, {"orgs": ("system:nodes", "extra")}),
        (BOOTSTRAPPER, {"cn": "kubernetes-admin"}),
        (BOOTSTRAPPER, {"usages": ["client auth", "server auth"]}),
        (BOOTSTRAPPER, {"signerName": "kubernetes.io/kube-apiserver-client"}),
        (ADMIN, {}),  # not a bootstrapper, not the node: left for a person
    ],
)
def test_other_requests_wait_for_a_person(
    registry: Registry, ctx: Context, ca: SigningCA, user: UserInfo, kwargs: dict
) -> None:
    submit(registry, "manual", user, **kwargs)
    obj = run_both(ctx, ca, "manual")
    assert conditions(obj) == [] and not obj.get("status", {}).get("certificate")


def _decide(ctx: Context, name: str, type_: str) -> None:
    obj = ctx.client.get(CSRS, name)
    obj.setdefault("status", {})["conditions"] = [{"type": type_, "status": "True", "reason": "ByHand"}]
    ctx.client.update(obj, subresource="approval")


def test_manually_approved_client_request_is_signed(registry: Registry, ctx: Context, ca: SigningCA) -> None:
    submit(
        registry,
        "alice",
        ADMIN,
        cn="alice",
        orgs=("devs",),
        signerName="kubernetes.io/kube-apiserver-client",
        usages=["client auth"],
    )
    _decide(ctx, "alice", "Approved")
    obj = run_both(ctx, ca, "alice")
    cert = x509.load_pem_x509_certificate(base64.b64decode(obj["status"]["certificate"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"


def test_denied_or_foreign_signer_requests_are_never_signed(
    registry: Registry, ctx: Context, ca: SigningCA
) -> None:
    submit(registry, "denied", BOOTSTRAPPER)
    _decide(ctx, "denied", "Denied")
    assert conditions(run_both(ctx, ca, "denied")) == ["Denied"]
    assert "certificate" not in ctx.client.get(CSRS, "denied").get("status", {})
    submit(registry, "foreign", ADMIN, signerName="example.com/custom", usages=["client auth"])
    _decide(ctx, "foreign", "Approved")
    assert "certificate" not in run_both(ctx, ca, "foreign").get("status", {})


def test_missing_request_is_nothing_to_do(ctx: Context, ca: SigningCA) -> None:
    assert CSRApprovingController().sync("gone", ctx) is None
    assert CSRSigningController(ca).sync("gone", ctx) is None
