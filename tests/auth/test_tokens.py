"""TokenRequest, TokenReview and the JWTs they deal in."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.hazmat.primitives import serialization

from cluster.apiserver.app import APIServer
from cluster.apiserver.authn import jws
from cluster.apiserver.authn.serviceaccount import ServiceAccountKeys
from cluster.apiserver.tokens import issue_service_account_token
from cluster.settings import Settings
from tests.auth.conftest import ADMIN_TOKEN, ALICE_TOKEN, call

TOKENREVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def _part(token: str, index: int) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[index] + "=="))


def _request(app: APIServer, sa: str, spec: dict[str, Any], token: str = ADMIN_TOKEN) -> tuple[int, Any]:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return call(app, "POST", f"/api/v1/namespaces/default/serviceaccounts/{sa}/token", body, token=token)


def test_issued_token_has_kubernetes_claims_and_key_id(secure_settings: Settings) -> None:
    before = int(time.time())
    token, expires = issue_service_account_token(
        secure_settings,
        "ns1",
        "sa1",
        "uid-1",
        ["api"],
        3600,
        bound_pod={"metadata": {"name": "p", "uid": "u"}},
    )
    header, claims = _part(token, 0), _part(token, 1)
    public = serialization.load_pem_public_key(open(secure_settings.service_account_key_file, "rb").read())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert header == {"alg": "RS256", "kid": jws.b64url(hashlib.sha256(der).digest())}
    assert claims["iss"] == secure_settings.service_account_issuer
    assert claims["sub"] == "system:serviceaccount:ns1:sa1" and claims["aud"] == ["api"]
    assert claims["kubernetes.io"] == {
        "namespace": "ns1",
        "serviceaccount": {"name": "sa1", "uid": "uid-1"},
        "pod": {"name": "p", "uid": "u"},
    }
    assert before <= claims["iat"] == claims["nbf"] and claims["exp"] == claims["iat"] + 3600
    assert int(expires.timestamp()) == claims["exp"] and claims["jti"]
    keys = ServiceAccountKeys.from_files(
        secure_settings.service_account_issuer, secure_settings.service_account_key_file
    )
    assert jws.verify(token, keys.public_keys) == claims


def test_token_request_defaults_validation_and_404(secure_app: APIServer) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}
    assert (
        call(secure_app, "POST", "/api/v1/namespaces/default/serviceaccounts", sa, token=ADMIN_TOKEN)[0]
        == 201
    )
    code, body = _request(secure_app, "builder", {})
    assert code == 201 and body["kind"] == "TokenRequest"
    assert body["spec"] == {"audiences": [secure_app.security.keys.issuer], "expirationSeconds": 3600}
    assert body["status"]["expirationTimestamp"].endswith("Z")
    assert _part(body["status"]["token"], 1)["exp"] - _part(body["status"]["token"], 1)["iat"] == 3600
    code, body = _request(secure_app, "builder", {"expirationSeconds": 60})
    assert code == 422 and body["details"]["causes"][0]["field"] == "spec.expirationSeconds"
    code, body = _request(secure_app, "builder", {"boundObjectRef": {"kind": "Node", "name": "n"}})
    assert code == 422
    code, body = _request(secure_app, "ghost", {})
    assert code == 404 and body["message"] == 'serviceaccounts "ghost" not found'
    assert _request(secure_app, "builder", {}, token=ALICE_TOKEN)[0] == 403  # alice may not


def test_token_review(secure_app: APIServer) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reviewed"}}
    call(secure_app, "POST", "/api/v1/namespaces/default/serviceaccounts", sa, token=ADMIN_TOKEN)
    token = _request(secure_app, "reviewed", {"audiences": ["vault", "api"]})[1]["status"]["token"]

    def review(spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        code, answer = call(secure_app, "POST", TOKENREVIEWS, body, token=ADMIN_TOKEN)
        assert code == 201, answer
        return answer["status"]

    status = review({"token": token, "audiences": ["vault"]})
    assert status["authenticated"] is True and status["audiences"] == ["vault"]
    assert status["user"]["username"] == "system:serviceaccount:default:reviewed"
    assert "system:authenticated" in status["user"]["groups"]
    assert review({"token": token, "audiences": ["other"]})["authenticated"] is False
    assert review({"token": token})["authenticated"] is False  # not for the API server's audience
    assert review({"token": ALICE_TOKEN})["user"]["username"] == "alice"
    assert review({"token": "garbage"}) == {
        "authenticated": False,
        "user": {},
        "error": "invalid bearer token",
    }
