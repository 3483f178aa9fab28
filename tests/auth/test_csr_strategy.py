"""CertificateSigningRequest rules as a client sees them: who asked is recorded from the request, the
approval and status subresources change only what they own, bad requests are 422."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cluster import errors, pki
from cluster.api.resources import lookup
from cluster.apiserver import handlers
from cluster.apiserver.auth import UserInfo
from cluster.apiserver.requests import RequestInfo
from cluster.registry import Registry, WriteOptions
from cluster.store import Store

CSRS = lookup("certificates.k8s.io", "v1", "certificatesigningrequests")
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
BOOTSTRAPPER = UserInfo(
    "system:bootstrap:abcdef", groups=("system:bootstrappers", "system:authenticated"), extra={"k": ("v",)}
)


def csr_body(
    name: str, cn: str = "system:node:n1", orgs: tuple[str, ...] = ("system:nodes",), **spec: Any
) -> dict:
    request, _key = pki.make_csr(cn, orgs)
    body_spec = {
        "request": base64.b64encode(request).decode(),
        "signerName": KUBELET_SIGNER,
        "usages": ["digital signature", "client auth"],
        **spec,
    }
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": body_spec,
    }


def post(registry: Registry, body: dict, user: UserInfo = BOOTSTRAPPER) -> dict:
    req = handlers.Request(
        info=RequestInfo("POST", CSRS, None, "", ""),
        registry=registry,
        accept="application/json",
        content_type="application/json",
        user_agent="test",
        read_body=lambda: json.dumps(body).encode(),
        user=user,
    )
    reply = handlers.create(req)
    assert reply.code == 201
    assert reply.body is not None
    return reply.body


def approve(obj: dict, *types: str) -> dict:
    obj = json.loads(json.dumps(obj))
    obj.setdefault("status", {})["conditions"] = [
        {"type": t, "status": "True", "reason": "Test", "message": "by the test"} for t in types
    ]
    return obj


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


def test_create_records_the_requesting_user_not_the_body(registry: Registry) -> None:
    body = csr_body("r1", username="kubernetes-admin", groups=["system:masters"])
    created = post(registry, body)
    spec = created["spec"]
    assert spec["username"] == "system:bootstrap:abcdef"
    assert spec["groups"] == ["system:bootstrappers", "system:authenticated"]
    assert spec["extra"] == {"k": ["v"]}
    assert registry.get(CSRS, None, "r1")["spec"]["username"] == "system:bootstrap:abcdef"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"request": base64.b64encode(b"not a pem").decode()}, "spec.request"),
        ({"request": "%%%"}, "spec.request"),
        ({"signerName": ""}, "spec.signerName"),
        ({"usages": ["client auth", "fly"]}, "spec.usages[1]"),
        ({"usages": []}, "spec.usages"),
        ({"expirationSeconds": 60}, "spec.expirationSeconds"),
    ],
)
def test_bad_requests_are_invalid(registry: Registry, change: dict, field: str) -> None:
    body = csr_body("bad")
    body["spec"].update(change)
    with pytest.raises(errors.Invalid) as err:
        post(registry, body)
    assert err.value.code == 422
    assert field in [c.field for c in err.value.causes]


def test_approval_sets_conditions_and_nothing_else(registry: Registry) -> None:
    created = post(registry, csr_body("r2"))
    change = approve(created, "Approved")
    change["spec"]["signerName"] = "example.com/other"  # ignored: approval owns only conditions
    updated = registry.update(CSRS, None, "r2", change, WriteOptions(), "approval")
    cond = updated["status"]["conditions"][0]
    assert cond["type"] == "Approved" and cond["status"] == "True" and cond["lastUpdateTime"]
    assert updated["spec"]["signerName"] == KUBELET_SIGNER


def test_approved_and_denied_are_exclusive_and_cannot_be_removed(registry: Registry) -> None:
    created = post(registry, csr_body("r3"))
    with pytest.raises(errors.Invalid):
        registry.update(CSRS, None, "r3", approve(created, "Approved", "Denied"), WriteOptions(), "approval")
    approved = registry.update(CSRS, None, "r3", approve(created, "Approved"), WriteOptions(), "approval")
    cleared = json.loads(json.dumps(approved))
    cleared["status"]["conditions"] = []
    with pytest.raises(errors.Invalid):
        registry.update(CSRS, None, "r3", cleared, WriteOptions(), "approval")
    assert registry.get(CSRS, None, "r3")["status"]["conditions"][0]["type"] == "Approved"


def test_certificate_only_after_approval_and_only_once(registry: Registry) -> None:
    ca_cert, ca_key = pki.make_ca()
    created = post(registry, csr_body("r4"))
    cert = pki.sign_csr(ca_cert, ca_key, base64.b64decode(created["spec"]["request"]), ["client auth"], 1)
    issued = dict(created, status={"certificate": base64.b64encode(cert).decode()})
    with pytest.raises(errors.Invalid):
        registry.update(CSRS, None, "r4", issued, WriteOptions(), "status")
    approved = registry.update(CSRS, None, "r4", approve(created, "Approved"), WriteOptions(), "approval")
    with_cert = json.loads(json.dumps(approved))
    with_cert["status"]["certificate"] = base64.b64encode(cert).decode()
    with_cert["status"]["conditions"] = []  # status cannot drop the approval either
    stored = registry.update(CSRS, None, "r4", with_cert, WriteOptions(), "status")
    assert base64.b64decode(stored["status"]["certificate"]) == cert
    assert [c["type"] for c in stored["status"]["conditions"]] == ["Approved"]
    other = pki.sign_csr(ca_cert, ca_key, base64.b64decode(created["spec"]["request"]), ["client auth"], 2)
    again = json.loads(json.dumps(stored))
    again["status"]["certificate"] = base64.b64encode(other).decode()
    with pytest.raises(errors.Invalid):
        registry.update(CSRS, None, "r4", again, WriteOptions(), "status")


def test_status_refuses_a_certificate_that_is_not_pem(registry: Registry) -> None:
    created = post(registry, csr_body("r5"))
    approved = registry.update(CSRS, None, "r5", approve(created, "Approved"), WriteOptions(), "approval")
    approved["status"]["certificate"] = base64.b64encode(b"garbage").decode()
    with pytest.raises(errors.Invalid):
        registry.update(CSRS, None, "r5", approved, WriteOptions(), "status")


def test_spec_is_immutable_and_main_update_keeps_status(registry: Registry) -> None:
    created = post(registry, csr_body("r6"))
    changed = json.loads(json.dumps(created))
    changed["spec"]["usages"] = ["client auth"]
    with pytest.raises(errors.Invalid):
        registry.update(CSRS, None, "r6", changed, WriteOptions())
    labelled = approve(created, "Approved")
    labelled["metadata"]["labels"] = {"a": "b"}
    stored = registry.update(CSRS, None, "r6", labelled, WriteOptions())
    assert stored["metadata"]["labels"] == {"a": "b"} and not stored.get("status", {}).get("conditions")
