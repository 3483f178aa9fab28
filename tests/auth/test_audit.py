"""The audit log: one JSON line per write, denied ones too; never a body or a token."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cluster.apiserver.app import APIServer
from cluster.apiserver.audit import AuditLog
from cluster.settings import Settings
from tests.auth.conftest import ADMIN_TOKEN, ALICE_TOKEN, call

SECRET_VALUE = "c3VwZXItc2VjcmV0LXZhbHVl"


def _lines(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.audit_log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_line_per_write_with_who_what_and_code(secure_app: APIServer, secure_settings: Settings) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "data": {"k": SECRET_VALUE}}
    assert call(secure_app, "POST", "/api/v1/namespaces/default/secrets", secret, token=ADMIN_TOKEN)[0] == 201
    assert call(secure_app, "GET", "/api/v1/namespaces/default/secrets/s1", token=ADMIN_TOKEN)[0] == 200
    assert call(secure_app, "DELETE", "/api/v1/namespaces/default/secrets/s1", token=ALICE_TOKEN)[0] == 403
    assert (
        call(secure_app, "POST", "/api/v1/namespaces/default/secrets", secret, token="bad-token-xyz")[0]
        == 401
    )
    lines = _lines(secure_settings)
    assert [(e["verb"], e["responseStatus"]["code"]) for e in lines] == [
        ("create", 201),
        ("delete", 403),
        ("create", 401),
    ]
    created = lines[0]
    assert created["apiVersion"] == "audit.k8s.io/v1" and created["kind"] == "Event"
    assert created["level"] == "Metadata" and created["stage"] == "ResponseComplete"
    assert created["user"] == {
        "username": "kubernetes-admin",
        "uid": "uid-admin",
        "groups": ["system:masters", "system:authenticated"],
    }
    assert created["objectRef"] == {"resource": "secrets", "namespace": "default", "apiVersion": "v1"}
    assert created["requestURI"] == "/api/v1/namespaces/default/secrets"
    assert created["sourceIPs"] == ["10.1.2.3"] and created["userAgent"] == "authn-test/1.0"
    assert created["requestReceivedTimestamp"] <= created["stageTimestamp"]
    assert len(created["stageTimestamp"]) == len("2026-01-01T00:00:00.000000Z")
    assert lines[1]["user"]["username"] == "alice" and lines[1]["objectRef"]["name"] == "s1"
    assert lines[2]["user"] == {}
    text = Path(secure_settings.audit_log_path).read_text()
    for secret_text in (SECRET_VALUE, ADMIN_TOKEN, ALICE_TOKEN, "bad-token-xyz"):
        assert secret_text not in text


def test_impersonated_writes_name_both_users(secure_app: APIServer, secure_settings: Settings) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}}
    headers = {"Impersonate-User": "carol", "Impersonate-Group": "system:masters"}
    code, _ = call(
        secure_app, "POST", "/api/v1/namespaces/default/configmaps", cm, token=ADMIN_TOKEN, headers=headers
    )
    assert code == 201
    [event] = _lines(secure_settings)
    assert event["user"]["username"] == "kubernetes-admin"
    assert event["impersonatedUser"] == {
        "username": "carol",
        "groups": ["system:masters", "system:authenticated"],
    }


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    sinks = [AuditLog(str(path)) for _ in range(4)]  # as separate workers would open it
    big = {"requestURI": "/x" * 2000}

    def write(sink: AuditLog) -> None:
        for _ in range(200):
            sink.write(big)

    threads = [threading.Thread(target=write, args=(s,)) for s in sinks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(line) == big for line in lines)
