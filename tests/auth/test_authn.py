"""Authentication in process: static tokens, bootstrap tokens, ServiceAccount JWTs, client
certificates and impersonation, seen as a client sees them (codes, Status bodies, whoami)."""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cluster.apiserver.app import APIServer
from cluster.apiserver.authn import jws
from tests.auth.conftest import ADMIN_TOKEN, ALICE_TOKEN, call

WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def whoami(app: APIServer, token: str | None = None, **kw: Any) -> tuple[int, Any]:
    code, body = call(app, "POST", WHOAMI, REVIEW, token=token, **kw)
    return code, body.get("status", {}).get("userInfo") if code == 201 else body


def test_static_token_authenticates_and_bad_token_is_401(secure_app: APIServer) -> None:
    code, _ = call(secure_app, "GET", "/api/v1/namespaces/default/configmaps", token=ADMIN_TOKEN)
    assert code == 200
    code, body = call(secure_app, "GET", "/api/v1/namespaces/default/configmaps", token="nope-" + "x" * 20)
    assert code == 401
    assert body["reason"] == "Unauthorized" and body["message"] == "Unauthorized"
    assert whoami(secure_app, ALICE_TOKEN) == (
        201,
        {"username": "alice", "uid": "uid-alice", "groups": ["devs", "qa", "system:authenticated"]},
    )


def test_anonymous_reaches_health_and_version_only(secure_app: APIServer) -> None:
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        assert call(secure_app, "GET", path)[0] == 200, path
    code, body = call(secure_app, "GET", "/api/v1/pods")
    assert code == 403 and body["reason"] == "Forbidden"
    assert 'User "system:anonymous"' in body["message"]
    # an unknown resource is refused before the anonymous caller learns it does not exist
    assert call(secure_app, "GET", "/apis/nope.example.com/v1/things")[0] == 403
    assert call(secure_app, "GET", "/apis/nope.example.com/v1/things", token=ADMIN_TOKEN)[0] == 404


def test_authenticated_user_without_rbac_is_403(secure_app: APIServer) -> None:
    code, body = call(secure_app, "GET", "/api/v1/namespaces/default/pods", token=ALICE_TOKEN)
    assert code == 403
    assert 'User "alice" cannot list resource "pods"' in body["message"]


def _bootstrap_secret(token_id: str, secret: str, **data: str) -> dict[str, Any]:
    values = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true", **data}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def test_bootstrap_tokens(secure_app: APIServer) -> None:
    secrets = "/api/v1/namespaces/kube-system/secrets"
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = _bootstrap_secret(
        "abcdef",
        "0123456789abcdef",
        expiration=later,
        **{"auth-extra-groups": "system:bootstrappers:kubeq:default-node-token"},
    )
    assert call(secure_app, "POST", secrets, body, token=ADMIN_TOKEN)[0] == 201
    assert whoami(secure_app, "abcdef.0123456789abcdef") == (
        201,
        {
            "username": "system:bootstrap:abcdef",
            "groups": [
                "system:bootstrappers",
                "system:bootstrappers:kubeq:default-node-token",
                "system:authenticated",
            ],
        },
    )
    assert whoami(secure_app, "abcdef.0123456789abcdee")[0] == 401  # wrong secret
    assert whoami(secure_app, "zzzzzz.0123456789abcdef")[0] == 401  # no such Secret
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        call(
            secure_app,
            "POST",
            secrets,
            _bootstrap_secret("expird", "0123456789abcdef", expiration=past),
            token=ADMIN_TOKEN,
        )[0]
        == 201
    )
    assert whoami(secure_app, "expird.0123456789abcdef")[0] == 401
    unusable = _bootstrap_secret("nouse0", "0123456789abcdef", **{"usage-bootstrap-authentication": "false"})
    assert call(secure_app, "POST", secrets, unusable, token=ADMIN_TOKEN)[0] == 201
    assert whoami(secure_app, "nouse0.0123456789abcdef")[0] == 401


def _service_account(app: APIServer, name: str, namespace: str = "default") -> str:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    code, body = call(app, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", sa, token=ADMIN_TOKEN)
    assert code == 201, body
    return body["metadata"]["uid"]


def _token(app: APIServer, name: str, spec: dict[str, Any] | None = None) -> str:
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec or {}}
    path = f"/api/v1/namespaces/default/serviceaccounts/{name}/token"
    code, body = call(app, "POST", path, request, token=ADMIN_TOKEN)
    assert code == 201, body
    return body["status"]["token"]


def test_service_account_token_authenticates_until_the_account_is_gone(secure_app: APIServer) -> None:
    secure_app.security.cache_seconds = 0  # see revocation at once
    uid = _service_account(secure_app, "robot")
    token = _token(secure_app, "robot")
    code, user = whoami(secure_app, token)
    assert code == 201
    assert user["username"] == "system:serviceaccount:default:robot" and user["uid"] == uid
    assert user["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    assert user["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    # tampering with the claims breaks the signature
    head, payload, sig = token.split(".")
    claims = jws.b64url_decode(payload).replace(b"robot", b"admin")
    assert whoami(secure_app, f"{head}.{jws.b64url(claims)}.{sig}")[0] == 401
    # a recreated account has a new uid: old tokens stop working
    assert (
        call(secure_app, "DELETE", "/api/v1/namespaces/default/serviceaccounts/robot", token=ADMIN_TOKEN)[0]
        == 200
    )
    assert whoami(secure_app, token)[0] == 401
    _service_account(secure_app, "robot")
    assert whoami(secure_app, token)[0] == 401


def test_tokens_of_another_key_or_audience_or_expired_are_401(secure_app: APIServer) -> None:
    uid = _service_account(secure_app, "bot2")
    keys = secure_app.security.keys
    claims = {
        "iss": keys.issuer,
        "sub": "system:serviceaccount:default:bot2",
        "aud": [keys.issuer],
        "exp": int(time.time()) + 600,
        "nbf": int(time.time()),
        "iat": int(time.time()),
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "bot2", "uid": uid}},
    }
    assert keys.private_key is not None
    assert whoami(secure_app, jws.sign(keys.private_key, claims))[0] == 201
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert whoami(secure_app, jws.sign(other, claims))[0] == 401
    assert whoami(secure_app, jws.sign(keys.private_key, {**claims, "aud": ["vault"]}))[0] == 401
    assert whoami(secure_app, jws.sign(keys.private_key, {**claims, "exp": int(time.time()) - 1}))[0] == 401
    assert whoami(secure_app, _token(secure_app, "bot2", {"audiences": ["vault"]}))[0] == 401


def test_pod_bound_token_dies_with_its_pod(secure_app: APIServer) -> None:
    secure_app.security.cache_seconds = 0
    _service_account(secure_app, "runner")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p1"},
        "spec": {"serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]},
    }
    code, created = call(secure_app, "POST", "/api/v1/namespaces/default/pods", pod, token=ADMIN_TOKEN)
    assert code == 201, created
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p1", "uid": created["metadata"]["uid"]}
    token = _token(secure_app, "runner", {"boundObjectRef": ref})
    code, user = whoami(secure_app, token)
    assert code == 201 and user["extra"]["authentication.kubernetes.io/pod-name"] == ["p1"]
    call(
        secure_app,
        "DELETE",
        "/api/v1/namespaces/default/pods/p1",
        token=ADMIN_TOKEN,
        query="gracePeriodSeconds=0",
    )
    assert whoami(secure_app, token)[0] == 401


class _TLSSocket:
    """What gunicorn puts in ``environ["gunicorn.socket"]`` for a TLS client with a certificate."""

    def __init__(self, der: bytes) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes:
        return self.der


def _certificate(cn: str, orgs: list[str]) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    subject = x509.Name([*names, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def test_client_certificate_names_user_and_groups(secure_app: APIServer) -> None:
    der = _certificate("system:node:n1", ["system:nodes"])
    environ_extra = {"gunicorn.socket": _TLSSocket(der)}
    code, user = _whoami_with_environ(secure_app, environ_extra)
    assert code == 201
    assert user == {"username": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}


def _whoami_with_environ(app: APIServer, extra: dict[str, Any]) -> tuple[int, Any]:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ.update(extra)
        return app(environ, start_response)

    code, body = call(wrapped, "POST", WHOAMI, REVIEW)
    return code, body["status"]["userInfo"] if code == 201 else body


def test_impersonation(secure_app: APIServer) -> None:
    code, user = whoami(
        secure_app, ADMIN_TOKEN, headers={"Impersonate-User": "bob", "Impersonate-Group": "a,b"}
    )
    assert code == 201 and user == {"username": "bob", "groups": ["a", "b", "system:authenticated"]}
    code, user = whoami(secure_app, ADMIN_TOKEN, headers={"Impersonate-User": "system:serviceaccount:ns1:x"})
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"]
    code, body = whoami(secure_app, ALICE_TOKEN, headers={"Impersonate-User": "kubernetes-admin"})
    assert code == 403 and 'cannot impersonate resource "users"' in body["message"]
    code, body = whoami(secure_app, ADMIN_TOKEN, headers={"Impersonate-Group": "system:masters"})
    assert code == 400
    # the impersonated user is authorized, not the real one
    code, _ = call(
        secure_app,
        "GET",
        "/api/v1/namespaces/default/pods",
        token=ADMIN_TOKEN,
        headers={"Impersonate-User": "alice"},
    )
    assert code == 403


def test_pod_log_and_exec_are_authorized(secure_app: APIServer) -> None:
    log_path = "/api/v1/namespaces/default/pods/p9/log"
    code, body = call(secure_app, "GET", log_path, token=ALICE_TOKEN)
    assert code == 403 and 'cannot get resource "pods/log"' in body["message"]
    code, body = call(
        secure_app,
        "POST",
        "/api/v1/namespaces/default/pods/p9/exec",
        token=ALICE_TOKEN,
        query="command=ls&stdout=true",
    )
    assert code == 403 and 'cannot create resource "pods/exec"' in body["message"]
    assert call(secure_app, "GET", log_path)[0] == 403
    assert call(secure_app, "GET", log_path, token=ADMIN_TOKEN)[0] == 404  # allowed; the pod is not there


def test_a_list_limited_to_one_name_is_judged_on_that_name() -> None:
    """``fieldSelector=metadata.name=X`` makes a list/watch name-scoped for authorization (a node may
    watch the one route-table ConfigMap it may read), as kube-apiserver does."""
    from cluster.apiserver.authn.attributes import request_attributes

    def attrs(query: str, method: str = "GET") -> tuple[str, str]:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": "/api/v1/namespaces/kube-system/configmaps",
            "QUERY_STRING": query,
        }
        got = request_attributes(environ)
        return got.verb, got.name

    assert attrs("fieldSelector=metadata.name%3Dkubeq-routes&watch=true") == ("watch", "kubeq-routes")
    assert attrs("fieldSelector=metadata.name%3D%3Dkubeq-routes") == ("list", "kubeq-routes")
    assert attrs("fieldSelector=metadata.name%21%3Dkubeq-routes") == ("list", "")
    assert attrs("fieldSelector=type%3Dx") == ("list", "")
