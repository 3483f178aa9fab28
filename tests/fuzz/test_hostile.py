"""Hand-written hostile input: each gets a clear 4xx ``Status`` and the store revision does not move.

The "changes nothing" check reads the store's revision (a list's ``metadata.resourceVersion``) before
and after: any write anywhere would raise it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from ops.fuzz.checks import status_problem
from tests.fuzz.conftest import NAMESPACE, Reply, address, call, raw_exchange, read_reply

CM = f"/api/v1/namespaces/{NAMESPACE}/configmaps"


@pytest.fixture(scope="module")
def hp(fuzz_server) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    return address(fuzz_server.url)


def revision(hp: tuple[str, int]) -> int:
    reply = call(*hp, "GET", "/api/v1/namespaces")
    assert reply.code == 200, reply.raw
    return int(reply.body["metadata"]["resourceVersion"])


def refused(reply: Reply, code: int | tuple[int, ...]) -> dict[str, Any]:
    """``reply`` is a failure Status with HTTP ``code`` (one of them) and a message."""
    codes = code if isinstance(code, tuple) else (code,)
    assert reply.code in codes, (reply.code, reply.raw[:300])
    assert not status_problem(reply.code, reply.raw), (status_problem(reply.code, reply.raw), reply.raw[:300])
    return reply.body


def configmap(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **extra}, "data": {"k": "v"}}


MALFORMED = [
    (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m1"}', "application/json"),
    (b'{"apiVersion": "v1"} {"kind": "ConfigMap"}', "application/json"),
    (b"[1, 2", "application/json"),
    (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m2",}}', "application/json"),
    (b"\x00\x01\x02\x03", "application/json"),
    (b"NaN", "application/json"),
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [m3}\n", "application/yaml"),
    (b"apiVersion: v1\n\tkind: ConfigMap\n", "application/yaml"),
    (b"--- a\n--- b\n", "application/yaml"),
    (b"!!python/object/apply:os.system ['true']", "application/yaml"),
    (b"\xef\xbb\xbf\xff\xfe{}", "application/yaml"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_malformed_json_and_yaml_are_400(hp, body: bytes, content_type: str) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    refused(call(*hp, "POST", CM, body, content_type), 400)
    assert revision(hp) == before


NON_UTF8 = [
    b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u1"}, "data": {"k": "\xff\xfe"}}',
    b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "\xc3\x28"}}',
    '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u2"}}'.encode("utf-16"),
]


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
@pytest.mark.parametrize("body", NON_UTF8)
def test_non_utf8_bodies_are_400(hp, body: bytes, content_type: str) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    refused(call(*hp, "POST", CM, body, content_type), 400)
    for patch in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        refused(call(*hp, "PATCH", f"{CM}/absent", body, patch), (400, 404))
    assert revision(hp) == before


def test_body_over_the_3mib_limit_is_413(hp) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    big = configmap("big")
    big["data"] = {"k": "x" * (3 * 1024 * 1024)}
    status = refused(call(*hp, "POST", CM, big), 413)
    assert "limit" in status["message"]
    assert revision(hp) == before


def test_declared_huge_content_length_is_413_without_reading(hp) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    request = (
        f"POST {CM} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10**12}\r\nConnection: close\r\n\r\n{{}}"
    ).encode()
    refused(raw_exchange(*hp, request, timeout=30), 413)
    assert revision(hp) == before


@pytest.mark.parametrize("depth", [101, 5_000, 200_000])
def test_deeply_nested_json_is_400(hp, depth: int) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    nested = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "x": '
    nested += b"[" * depth + b"]" * depth + b"}"
    refused(call(*hp, "POST", CM, nested), 400)
    refused(call(*hp, "PATCH", f"{CM}/deep", nested, "application/merge-patch+json"), (400, 404))
    assert revision(hp) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json-patch+json",
        "image/png",
        "*/*",
        "application/",
    ],
)
def test_wrong_content_type_is_415(hp, content_type: str) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    refused(call(*hp, "POST", CM, configmap("ct"), content_type), 415)
    assert revision(hp) == before


@pytest.mark.parametrize(
    "name",
    [
        "UPPER",
        "under_score",
        "a..b",
        "-lead",
        "trail-",
        "a b",
        "é",
        "a\u0000b",
        "a/b",
        ".",
        "..",
        "x" * 254,
        "a\nb",
        "💥",
        "a%2Fb",
    ],
)
def test_odd_names_in_bodies_are_422(hp, name: str) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    status = refused(call(*hp, "POST", CM, configmap(name)), (400, 422))
    assert "name" in status["message"].lower()
    assert revision(hp) == before


@pytest.mark.parametrize(
    "segment", ["%00", "%2F", "a%2Fb", "%C3%A9", "%FF", "..%2F..", "x" * 300, "%20", "a%0Ab", "%25"]
)
def test_odd_names_in_paths_are_4xx_status(hp, segment: str) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    for method, body, ctype in (
        ("GET", None, ""),
        ("DELETE", None, ""),
        ("PUT", configmap("whatever"), "application/json"),
        ("PATCH", {"data": {"a": "b"}}, "application/merge-patch+json"),
    ):
        reply = call(*hp, method, f"{CM}/{segment}", body, ctype)
        refused(reply, tuple(range(400, 500)))
    assert revision(hp) == before


GIANT_LABELS = [
    {"labels": {"k": "v" * 64}},
    {"labels": {"k" * 64: "v"}},
    {"labels": {f"{'p' * 254}/k": "v"}},
    {"labels": {"bad key": "v"}},
    {"labels": {f"k{i}": "v" * 63 for i in range(20_000)} | {"x": "-bad-"}},
    {"annotations": {"a": "x" * (256 * 1024 + 1)}},
    {"labels": {"k": 5}},
    {"labels": ["k", "v"]},
]


@pytest.mark.parametrize("meta", GIANT_LABELS, ids=range(len(GIANT_LABELS)))
def test_giant_or_bad_labels_are_refused(hp, meta: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    before = revision(hp)
    refused(call(*hp, "POST", CM, configmap("labels", **meta)), (400, 422))
    assert revision(hp) == before


def test_huge_headers_are_refused_and_the_server_keeps_answering(hp) -> None:  # type: ignore[no-untyped-def]
    """gunicorn refuses a header over 8190 bytes, over 100 header fields or a request line over 4094
    bytes itself: a 4xx, but an HTML page, not a Status (it never reaches the app)."""
    before = revision(hp)
    big = f"GET {CM} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 100_000}\r\nConnection: close\r\n\r\n".encode()
    assert 400 <= raw_exchange(*hp, big).code < 500
    many = "".join(f"X-H{i}: v\r\n" for i in range(500))
    assert (
        400
        <= raw_exchange(*hp, f"GET {CM} HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n".encode()).code
        < 500
    )
    line = f"GET {CM}?x={'a' * 20_000} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    assert 400 <= raw_exchange(*hp, line).code < 500
    assert call(*hp, "GET", "/readyz").code == 200
    assert revision(hp) == before


def test_slow_client_does_not_hold_up_others(hp) -> None:  # type: ignore[no-untyped-def]
    """A client dribbling its request one byte at a time is served in the end; others meanwhile at once."""
    body = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "slow"}}'
    request = (
        f"POST {CM} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    result: list[Reply] = []

    def dribble() -> None:
        with socket.create_connection(hp, timeout=60) as sock:
            for i in range(len(request)):
                sock.sendall(request[i : i + 1])
                time.sleep(0.01)
            result.append(read_reply(sock))

    thread = threading.Thread(target=dribble)
    thread.start()
    try:
        time.sleep(0.3)
        for _ in range(5):
            start = time.monotonic()
            assert call(*hp, "GET", f"{CM}?limit=1").code == 200
            assert time.monotonic() - start < 5
        assert thread.is_alive(), "the slow request should still be arriving"
    finally:
        thread.join(60)
    assert result and result[0].code == 201, result
    assert call(*hp, "DELETE", f"{CM}/slow").code == 200


def test_many_idle_connections_do_not_starve_others(hp) -> None:  # type: ignore[no-untyped-def]
    """300 connections that never send a byte: the server still answers promptly on a new one."""
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(hp, timeout=30))
        half_open = socket.create_connection(hp, timeout=30)
        half_open.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        idle.append(half_open)
        for _ in range(5):
            start = time.monotonic()
            assert call(*hp, "GET", "/readyz").code == 200
            assert call(*hp, "GET", f"{CM}?limit=1").code == 200
            assert time.monotonic() - start < 5
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_a_stalled_body_is_400_after_30_seconds(hp) -> None:  # type: ignore[no-untyped-def]
    """gunicorn gives up on unfinished headers after its keepalive (75 s) but waited for a body forever."""
    before = revision(hp)
    head = (
        f"POST {CM} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\nConnection: close\r\n\r\n{"
    ).encode()
    start = time.monotonic()
    status = refused(raw_exchange(*hp, head, timeout=90), 400)
    assert "stopped arriving" in status["message"]
    assert 25 < time.monotonic() - start < 60
    assert revision(hp) == before


# ---- regressions: bugs the fuzzer found ---------------------------------------------------------


@pytest.mark.parametrize("meta", [[0], "x", 5, True])
def test_metadata_that_is_not_an_object_is_400_on_create_and_update(hp, meta: Any) -> None:  # type: ignore[no-untyped-def]
    """Was a 500 on PUT (``'list' object has no attribute 'get'`` while recording managed fields)."""
    before = revision(hp)
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"k": "v"}}
    secrets = f"/api/v1/namespaces/{NAMESPACE}/secrets"
    assert "metadata" in refused(call(*hp, "PUT", f"{secrets}/s1?fieldManager=fz", body), 400)["message"]
    assert "metadata" in refused(call(*hp, "POST", f"{secrets}?fieldManager=fz", body), 400)["message"]
    refused(call(*hp, "POST", secrets, {**body, "metadata": {"name": "s1"}, "kind": ["Secret"]}), 400)
    assert revision(hp) == before


@pytest.mark.parametrize("tail", ["%2F", "%2F%2F", "/", "%2f"])
def test_an_escaped_slash_for_a_name_never_reaches_the_collection(hp, tail: str) -> None:  # type: ignore[no-untyped-def]
    """``DELETE .../configmaps/%2F`` was a deletecollection that emptied the namespace."""
    assert call(*hp, "POST", CM, configmap("keep-me")).code in (201, 409)
    before = revision(hp)
    for method in ("DELETE", "GET", "PUT", "PATCH"):
        body = configmap("x") if method == "PUT" else {"data": {}} if method == "PATCH" else None
        ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
        refused(call(*hp, method, f"{CM}/{tail}", body, ctype), (404, 405))
    assert call(*hp, "GET", f"{CM}/keep-me").code == 200
    assert revision(hp) == before


def test_json_in_utf16_is_400_not_guessed(hp) -> None:  # type: ignore[no-untyped-def]
    """Was accepted (the fallback JSON parser guessed the encoding); JSON travels as UTF-8."""
    before = revision(hp)
    for encoding in ("utf-16", "utf-16-be", "utf-32"):
        body = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u16"}}'.encode(encoding)
        refused(call(*hp, "POST", CM, body), 400)
    assert revision(hp) == before


def test_null_metadata_with_a_field_manager_is_not_a_500(hp) -> None:  # type: ignore[no-untyped-def]
    """Was a 500 (``'NoneType' object does not support item assignment`` recording managed fields)."""
    assert call(*hp, "POST", CM, configmap("nullmeta")).code in (201, 409)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": None, "data": {"k": "v"}}
    assert refused(call(*hp, "POST", f"{CM}?fieldManager=fz", body), 422)["reason"] == "Invalid"
    assert call(*hp, "PUT", f"{CM}/nullmeta?fieldManager=fz", body).code == 200


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/metadata", "value": [1]}],
        [{"op": "replace", "path": "/metadata", "value": "x"}],
        [{"op": "replace", "path": "/kind", "value": 5}],
        [{"op": "replace", "path": "/apiVersion", "value": {"a": 1}}],
    ],
)
def test_a_patch_that_breaks_the_envelope_is_400(hp, ops: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    """Was a 500 (``list indices must be integers`` setting the resourceVersion of the result)."""
    assert call(*hp, "POST", CM, configmap("envelope")).code in (201, 409)
    before = revision(hp)
    for query in ("", "?fieldManager=fz"):
        refused(call(*hp, "PATCH", f"{CM}/envelope{query}", ops, "application/json-patch+json"), 400)
    assert revision(hp) == before


# ---- answered without storing (reviews, token requests): wrong types are 4xx too ----------------

VIRTUAL = [
    ("/apis/authentication.k8s.io/v1/tokenreviews", "authentication.k8s.io/v1", "TokenReview", "audiences"),
    (
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        "groups",
    ),
    (
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/fz-sa/token",
        "authentication.k8s.io/v1",
        "TokenRequest",
        "audiences",
    ),
]


@pytest.mark.parametrize(("path", "api_version", "kind", "field"), VIRTUAL)
def test_reviews_with_wrongly_typed_lists_are_4xx(
    hp, path: str, api_version: str, kind: str, field: str
) -> None:  # type: ignore[no-untyped-def]
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "fz-sa"}}
    assert call(*hp, "POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", sa).code in (201, 409)
    before = revision(hp)
    for value in (5, True, "x", {"a": 1}, [1]):
        body = {"apiVersion": api_version, "kind": kind, "spec": {field: value, "user": "u", "token": "t"}}
        reply = call(*hp, "POST", path, body)
        assert reply.code < 500, (value, reply.raw[:300])
    assert revision(hp) == before
