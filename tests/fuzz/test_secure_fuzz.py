"""Fuzzing a secure server (HTTPS, bearer tokens, RBAC): the admin token gets no 5xx, bad tokens 401.

The server makes its own PKI and token file under ``--data-dir`` (no TLS flags), as ``kubeq apiserver``
does for a fresh cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from ops.fuzz.checks import status_problem
from ops.fuzz.openapi_run import fuzz_server as run_fuzz
from ops.fuzz.openapi_run import load_documents, new_session
from tests.auth.secure_apiserver import secure_apiserver
from tests.figures import report as show_figures

BAD_TOKENS = [
    "not-a-token",
    "abcdef.0123456789abcdef",  # bootstrap-token shaped, no such Secret
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",  # JWT shaped, bad signature
    "a.b.c",
    "x" * 4000,
    "\u00e9\u00e8",
    "Bearer",
    "ab cd",
]
SAMPLE = [
    ("GET", "/api/v1/namespaces/default/pods", None),
    ("GET", "/apis/apps/v1/deployments", None),
    ("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}}),
    ("DELETE", "/api/v1/namespaces/default/configmaps", None),
    ("PATCH", "/api/v1/namespaces/default", {"metadata": {"labels": {"a": "b"}}}),
    ("GET", "/api/v1/nodes/n1", None),
    ("GET", "/openapi/v3", None),
]


@dataclass
class Secure:
    url: str
    ca: str
    token: str
    pid: int


@pytest.fixture(scope="module")
def secure(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    with secure_apiserver(redis_url, tmp_path_factory.mktemp("fuzz-secure"), "fz", workers=2) as server:
        yield Secure(server.url, server.pki.ca_cert, server.pki.admin_token(), server.process.pid)


def _request(server: Secure, method: str, path: str, body: object, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(
        method, server.url + path, json=body, headers=headers, verify=server.ca, timeout=60
    )


@pytest.mark.parametrize("token", BAD_TOKENS, ids=range(len(BAD_TOKENS)))
def test_bad_tokens_are_401_status(secure: Secure, token: str) -> None:
    for method, path, body in SAMPLE:
        reply = _request(secure, method, path, body, token.encode("utf-8").decode("latin-1"))
        assert reply.status_code == 401, (method, path, reply.status_code, reply.text[:300])
        assert not status_problem(401, reply.content), reply.text[:300]


def test_anonymous_reaches_health_only(secure: Secure) -> None:
    assert _request(secure, "GET", "/readyz", None, None).status_code == 200
    for method, path, body in SAMPLE[:5]:
        reply = _request(secure, method, path, body, None)
        assert reply.status_code == 403, (method, path, reply.status_code, reply.text[:300])
        assert not status_problem(403, reply.content), reply.text[:300]


def test_fuzz_with_a_bad_token_is_all_401(secure: Secure) -> None:
    docs = load_documents(secure.url, new_session(secure.token, secure.ca))
    report = run_fuzz(
        secure.url,
        examples=1,
        token="bad-token",
        verify=secure.ca,
        docs=docs,
        one_mode_each=True,
        only=lambda _m, path: "/apps/" in path or "configmaps" in path,
    )
    show_figures("\n" + report.table())
    assert report.requests >= 20 and not report.failures and report.ready_after, report.table()
    assert set(report.codes) - {414} == {401}, report.table()


def test_fuzz_with_the_admin_token_never_5xx(secure: Secure) -> None:
    report = run_fuzz(
        secure.url,
        examples=1,
        seed_value=3,
        token=secure.token,
        verify=secure.ca,
        server_pid=secure.pid,
        one_mode_each=True,
        only=lambda _m, path: "/rbac." in path or "configmaps" in path,
    )
    show_figures("\n" + report.table())
    assert report.requests >= 30 and not report.failures and report.ready_after, report.table()
    assert 401 not in report.codes and 403 not in report.codes, report.table()


@pytest.mark.slow
def test_fuzz_every_operation_with_the_admin_token(secure: Secure) -> None:
    report = run_fuzz(
        secure.url, examples=3, seed_value=4, token=secure.token, verify=secure.ca, server_pid=secure.pid
    )
    show_figures("\n" + report.table())
    assert report.requests >= 1000 and not report.failures and report.ready_after, report.table()
