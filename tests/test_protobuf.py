"""Protobuf request bodies, as the real kubectl 1.32 sends them, decoded to JSON-shaped dicts.

A small HTTP server started here records what ``kubectl create ...`` POSTs; the tests decode those
bodies with ``cluster.apiserver.protobuf.decode`` and check what a user would have asked for.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster.apiserver.protobuf import decode
from cluster.errors import BadRequest

KUBECTL = shutil.which("kubectl")

# What GET .../cronjobs/nightly returns: a rich pod template that `create job --from` copies.
TEMPLATE = {
    "metadata": {"labels": {"app": "nightly"}, "annotations": {"team": "data"}},
    "spec": {
        "restartPolicy": "OnFailure",
        "serviceAccountName": "runner",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "nodeSelector": {"disk": "ssd"},
        "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 2000},
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420, "optional": True}},
            {"name": "creds", "secret": {"secretName": "db", "items": [{"key": "pw", "path": "pw.txt"}]}},
        ],
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}],
        "containers": [
            {
                "name": "main",
                "image": "python:3.11",
                "command": ["python", "-m", "job"],
                "args": ["--verbose", ""],
                "workingDir": "/srv",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "batch"},
                    {"name": "EMPTY"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "settings"}}],
                "resources": {
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                },
                "volumeMounts": [
                    {"name": "scratch", "mountPath": "/tmp/scratch"},
                    {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
                ],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                    "initialDelaySeconds": 5,
                    "periodSeconds": 10,
                },
                "readinessProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 3},
                "startupProbe": {"exec": {"command": ["cat", "/ready"]}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "imagePullPolicy": "IfNotPresent",
                "stdin": True,
            }
        ],
        "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
    },
}
CRONJOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "nightly", "namespace": "default", "uid": "0b6f6c1e-1111-4222-8333-944455556666"},
    "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {"spec": {"backoffLimit": 0, "completions": 2, "template": TEMPLATE}},
    },
}

_BATCH = {
    "name": "batch",
    "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
    "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
}
_BATCH_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "batch/v1",
    "resources": [
        {"name": n, "singularName": n[:-1], "namespaced": True, "kind": k, "verbs": ["create", "get", "list"]}
        for n, k in (("cronjobs", "CronJob"), ("jobs", "Job"))
    ],
}


class _Recorder(BaseHTTPRequestHandler):
    """Answers just enough for kubectl and keeps every POST body with its path and content type."""

    posts: list[tuple[str, str, bytes]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/version":
            self._reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        elif path == "/api":
            self._reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        elif path == "/apis":
            self._reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_BATCH]})
        elif path == "/apis/batch/v1":
            self._reply(200, _BATCH_RESOURCES)
        elif path.endswith("/cronjobs/nightly"):
            self._reply(200, CRONJOB)
        else:
            self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.posts.append((self.path.split("?")[0], self.headers.get("Content-Type", ""), body))
        self._reply(201, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


def _make_cert(folder: Path) -> tuple[Path, Path] | None:
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key, crt = folder / "tls.key", folder / "tls.crt"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=web"]
        + ["-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )
    return crt, key


COMMANDS = {
    "namespace": ["create", "namespace", "team-a"],
    "deployment": ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "--port=80"],
    "deployment0": ["create", "deployment", "idle", "--image=nginx", "--replicas=0"],
    "configmap": ["create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=empty="],
    "secret": ["create", "secret", "generic", "db", "--from-literal=pw=hunter2", "--type=Opaque"],
    "job": ["create", "job", "once", "--image=busybox", "--", "echo", "hi there"],
    "cronjob": ["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
    "serviceaccount": ["create", "serviceaccount", "runner"],
    "service": ["create", "service", "clusterip", "api", "--tcp=80:8080", "--tcp=443:https"],
    "quota": ["create", "quota", "q", "--hard=pods=10,cpu=2,memory=1Gi"],
    "token": ["create", "token", "runner", "--duration=1h", "--audience=api"],
    "can-i": ["auth", "can-i", "delete", "jobs", "-n", "team-a"],
    "job-from": ["create", "job", "manual", "--from=cronjob/nightly"],
}


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, bytes]]:
    """One kubectl run per command against the recorder: name -> (path, content type, body)."""
    folder = tmp_path_factory.mktemp("kubectl")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    commands = dict(COMMANDS)
    cert = _make_cert(folder)
    if cert:
        commands["tls"] = ["create", "secret", "tls", "web-tls", f"--cert={cert[0]}", f"--key={cert[1]}"]
    found = {}
    try:
        for name, args in commands.items():
            _Recorder.posts = []
            subprocess.run(
                [KUBECTL, "--server", f"http://127.0.0.1:{server.server_address[1]}"]
                + ["--cache-dir", str(folder / "cache"), "-n", "default", *args],
                capture_output=True,
                timeout=30,
            )
            assert _Recorder.posts, f"kubectl {' '.join(args)} sent no POST"
            found[name] = _Recorder.posts[-1]
    finally:
        server.shutdown()
        server.server_close()
    return found


def _decoded(bodies: dict, name: str) -> dict:
    path, content_type, body = bodies[name]
    assert content_type == "application/vnd.kubernetes.protobuf", (name, path, content_type)
    return decode(body)


def test_namespace(bodies):
    assert _decoded(bodies, "namespace") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a"},
    }


def test_deployment(bodies):
    obj = _decoded(bodies, "deployment")
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "Deployment")
    assert obj["metadata"] == {"name": "web", "namespace": "default", "labels": {"app": "web"}}
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert obj["spec"]["template"] == {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
    }
    assert "status" not in obj and "strategy" not in obj["spec"]


def test_zero_replicas_is_kept(bodies):
    assert _decoded(bodies, "deployment0")["spec"]["replicas"] == 0


def test_configmap(bodies):
    obj = _decoded(bodies, "configmap")
    assert obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "settings"
    assert obj["data"] == {"mode": "fast", "empty": ""}


def test_secret_generic_data_is_base64(bodies):
    obj = _decoded(bodies, "secret")
    assert obj["kind"] == "Secret" and obj["type"] == "Opaque"
    assert obj["data"] == {"pw": base64.b64encode(b"hunter2").decode()}


def test_secret_tls(bodies):
    assert "tls" in bodies, "kubectl create secret tls was not captured (is openssl installed?)"
    obj = _decoded(bodies, "tls")
    assert obj["type"] == "kubernetes.io/tls"
    assert base64.b64decode(obj["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert set(obj["data"]) == {"tls.crt", "tls.key"}


def test_job(bodies):
    obj = _decoded(bodies, "job")
    assert (obj["apiVersion"], obj["kind"]) == ("batch/v1", "Job")
    pod = obj["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"] == [{"name": "once", "image": "busybox", "command": ["echo", "hi there"]}]


def test_cronjob(bodies):
    obj = _decoded(bodies, "cronjob")
    assert obj["kind"] == "CronJob" and obj["spec"]["schedule"] == "*/5 * * * *"
    template = obj["spec"]["jobTemplate"]
    assert template["metadata"]["name"] == "tick"
    assert template["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]


def test_serviceaccount(bodies):
    assert _decoded(bodies, "serviceaccount") == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "runner", "namespace": "default"},
    }


def test_service_ports_and_int_or_string(bodies):
    obj = _decoded(bodies, "service")
    assert obj["kind"] == "Service" and obj["spec"]["type"] == "ClusterIP"
    assert obj["spec"]["selector"] == {"app": "api"}
    ports = {p["name"]: p for p in obj["spec"]["ports"]}
    assert ports["80-8080"] == {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}
    assert ports["443-https"]["targetPort"] == "https"


def test_resource_quota_quantities(bodies):
    obj = _decoded(bodies, "quota")
    assert obj["spec"]["hard"] == {"pods": "10", "cpu": "2", "memory": "1Gi"}


def test_token_request(bodies):
    path, _, _ = bodies["token"]
    assert path.endswith("/serviceaccounts/runner/token")
    obj = _decoded(bodies, "token")
    assert (obj["apiVersion"], obj["kind"]) == ("authentication.k8s.io/v1", "TokenRequest")
    assert obj["spec"]["audiences"] == ["api"]
    assert obj["spec"]["expirationSeconds"] == 3600


def test_self_subject_access_review(bodies):
    obj = _decoded(bodies, "can-i")
    assert (obj["apiVersion"], obj["kind"]) == ("authorization.k8s.io/v1", "SelfSubjectAccessReview")
    assert obj["spec"]["resourceAttributes"] == {
        "namespace": "team-a",
        "verb": "delete",
        "group": "batch",
        "resource": "jobs",
    }


def test_job_from_cronjob_keeps_the_whole_pod_template(bodies):
    """kubectl copies the served template into a protobuf Job: it must come back unchanged."""
    obj = _decoded(bodies, "job-from")
    assert obj["metadata"]["name"] == "manual"
    assert obj["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert obj["metadata"]["ownerReferences"][0]["uid"] == CRONJOB["metadata"]["uid"]
    assert obj["metadata"]["ownerReferences"][0]["controller"] is True
    assert obj["spec"]["backoffLimit"] == 0 and obj["spec"]["completions"] == 2
    assert obj["spec"]["template"] == TEMPLATE


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (test helper for wrapping captured bytes)."""
    size, out = len(payload), bytearray()
    while True:
        out.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            break
    return bytes([number << 3 | 2]) + bytes(out) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return b"k8s\x00" + _field(1, type_meta) + _field(2, raw)


def test_pod_from_a_kubectl_template(bodies):
    """A Pod shares field numbers 1/2 (metadata, spec) with PodTemplateSpec: wrap kubectl's bytes."""
    job = _decoded(bodies, "job-from")
    raw_template = _template_bytes(bodies["job-from"][2])
    pod = decode(_envelope("v1", "Pod", raw_template))
    assert pod == {"apiVersion": "v1", "kind": "Pod", **job["spec"]["template"]}


def _template_bytes(body: bytes) -> bytes:
    from cluster.apiserver.protobuf.wire import records

    raw = next(v for n, _, v in records(body[4:]) if n == 2)
    spec = next(v for n, _, v in records(raw) if n == 2)
    return next(v for n, _, v in records(spec) if n == 6)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b"k8s\x01" + b"\x0a\x00",
        b"k8s\x00\x0a\x80",  # truncated varint
        b"k8s\x00\x0a\x05\x0a\x02v1",  # length runs past the end
        b"k8s\x00\x08\x01",  # typeMeta sent as a varint: wrong wire type
        b"k8s\x00\x0b\x00",  # group wire type
        b"k8s\x00\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # over-long varint
        _envelope("v1", "Nonsense", b""),
        _envelope("apps/v1beta1", "Deployment", b""),
        _envelope("", "", b""),
        _envelope("v1", "Namespace", b"\x0a\x03\x0a\x01\xff"),  # invalid UTF-8 name
        _envelope("v1", "Namespace", b"\x08\x01"),  # metadata as a varint
        _envelope("apps/v1", "Deployment", b"\x12\x02\x08"),  # truncated nested message
        b"k8s\x00"
        + _field(1, _field(1, b"v1") + _field(2, b"Pod"))
        + _field(2, b"x")
        + _field(4, b"application/json"),
    ],
)
def test_malformed_bodies_are_bad_requests(body):
    with pytest.raises(BadRequest):
        decode(body)


def test_wrapped_json_content_type():
    body = b"k8s\x00" + _field(1, _field(1, b"v1") + _field(2, b"Namespace"))
    body += _field(2, b'{"metadata":{"name":"j"}}') + _field(4, b"application/json")
    assert decode(body) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}}


def test_every_truncation_or_corruption_is_a_bad_request_or_decodes(bodies):
    """Cut or corrupt a real body anywhere: the decoder answers a dict or BadRequest, nothing else."""
    body = bodies["job-from"][2]
    for cut in range(4, len(body)):
        for candidate in (body[:cut], body[:cut] + b"\xff" + body[cut + 1 :]):
            try:
                assert isinstance(decode(candidate), dict)
            except BadRequest:
                pass


def test_time_fields_become_rfc3339():
    created = _field(8, b"\x08\x80\xe2\xcf\xaa\x06")  # seconds=1700000000
    deleted = _field(9, b"")  # a set pointer to the zero time: nothing to show
    metadata = _field(1, b"x") + created + deleted
    obj = decode(_envelope("v1", "ConfigMap", _field(1, metadata)))
    assert obj["metadata"] == {"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z"}


def test_go_duration_strings():
    from cluster.apiserver.protobuf.decode import format_duration

    assert format_duration(0) == "0s"
    assert format_duration(3_600_000_000_000) == "1h0m0s"
    assert format_duration(90_500_000_000) == "1m30.5s"
    assert format_duration(150_000_000) == "150ms"
