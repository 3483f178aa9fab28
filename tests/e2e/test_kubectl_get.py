"""The real kubectl 1.32 reading from kubeq: version, discovery, create -f, get in every output form,
bounded watches, explain, describe and events."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime

import yaml

OBJECTS = """
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  labels: {app: web, tier: front}
spec:
  containers:
  - name: c
    image: nginx
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  a: "1"
  b: "2"
---
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {labels}
spec:
  containers:
  - name: c
    image: busybox
"""


def rows(text: str) -> list[list[str]]:
    """A printed table as rows of cells (cells are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def make_pod(kubectl, namespace: str, name: str, labels: str = "{}") -> None:  # type: ignore[no-untyped-def]
    kubectl("create", "-n", namespace, "-f", "-", input=POD.format(name=name, labels=labels))


def test_version_reports_the_server(kubectl) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("version").stdout
    assert re.search(r"Server Version: v1\.32\.\d+", out), out


def test_api_resources_lists_served_kinds(kubectl) -> None:  # type: ignore[no-untyped-def]
    table = rows(kubectl("api-resources").stdout)
    assert table[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert ["pods", "po", "v1", "true", "Pod"] in table
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in table
    assert ["namespaces", "ns", "v1", "false", "Namespace"] in table
    assert ["jobs", "batch/v1", "true", "Job"] in table


def test_create_from_yaml_and_default_columns(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("create", "-n", namespace, "-f", "-", input=OBJECTS).stdout
    assert out.split("\n")[:4] == [
        "pod/web-1 created",
        "deployment.apps/web created",
        "configmap/cfg created",
        "service/svc created",
    ]

    pods = rows(kubectl("get", "pods", "-n", namespace).stdout)
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1][:4] == ["web-1", "0/1", "Pending", "0"]

    deploys = rows(kubectl("get", "deployments", "-n", namespace).stdout)
    assert deploys[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploys[1][:2] == ["web", "0/2"]

    cms = rows(kubectl("get", "configmap", "cfg", "-n", namespace).stdout)
    assert cms[0] == ["NAME", "DATA", "AGE"]
    assert cms[1][:2] == ["cfg", "2"]

    svcs = rows(kubectl("get", "svc", "-n", namespace).stdout)
    assert svcs[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svcs[1][0:2] == ["svc", "ClusterIP"] and svcs[1][4] == "80/TCP"

    again = kubectl("create", "-n", namespace, "-f", "-", input=OBJECTS, check=False)
    assert again.returncode != 0
    assert 'pods "web-1" already exists' in again.stderr


def test_get_output_formats(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    make_pod(kubectl, namespace, "p1", "{app: web}")
    make_pod(kubectl, namespace, "p2", "{app: db}")

    wide = rows(kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout)
    assert wide[0] == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"
    ]  # fmt: skip
    assert [r[0] for r in wide[1:]] == ["p1", "p2"]
    assert wide[1][5:7] == ["<none>", "<none>"]  # no IP, not bound to a node

    as_json = json.loads(kubectl("get", "pod", "p1", "-n", namespace, "-o", "json").stdout)
    assert as_json["kind"] == "Pod" and as_json["apiVersion"] == "v1"
    assert as_json["metadata"]["namespace"] == namespace
    assert as_json["spec"]["containers"][0]["image"] == "busybox"

    listed = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
    assert listed["kind"] == "List"
    assert sorted(p["metadata"]["name"] for p in listed["items"]) == ["p1", "p2"]

    as_yaml = yaml.safe_load(kubectl("get", "pod", "p2", "-n", namespace, "-o", "yaml").stdout)
    assert as_yaml["metadata"]["name"] == "p2" and as_yaml["metadata"]["labels"] == {"app": "db"}
    assert as_yaml["status"]["phase"] == "Pending"

    names = kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
    assert names == ["pod/p1", "pod/p2"]

    path = "{range .items[*]}{.metadata.name}={.metadata.labels.app};{end}"
    out = kubectl("get", "pods", "-n", namespace, "-o", f"jsonpath={path}").stdout
    assert out == "p1=web;p2=db;"
    image = kubectl("get", "pod", "p1", "-n", namespace, "-o", "jsonpath={.spec.containers[0].image}")
    assert image.stdout == "busybox"


def test_get_all_namespaces_labels_and_selectors(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    make_pod(kubectl, namespace, "front", "{app: web, tier: front}")
    make_pod(kubectl, namespace, "back", "{app: web, tier: back}")
    make_pod(kubectl, namespace, "db", "{app: db}")

    every = rows(kubectl("get", "pods", "-A").stdout)
    assert every[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    mine = sorted(r[1] for r in every[1:] if r[0] == namespace)
    assert mine == ["back", "db", "front"]

    labelled = rows(kubectl("get", "pods", "-n", namespace, "--show-labels").stdout)
    assert labelled[0][-1] == "LABELS"
    assert {r[0]: r[-1] for r in labelled[1:]} == {
        "back": "app=web,tier=back",
        "db": "app=db",
        "front": "app=web,tier=front",
    }

    def names(*args: str) -> list[str]:
        return kubectl("get", "pods", "-n", namespace, "-o", "name", *args).stdout.split()

    assert names("-l", "app=web") == ["pod/back", "pod/front"]
    assert names("-l", "app=web,tier!=back") == ["pod/front"]
    assert names("-l", "tier in (front,back)") == ["pod/back", "pod/front"]
    assert names("-l", "!tier") == ["pod/db"]
    assert names("--field-selector", "metadata.name=db") == ["pod/db"]
    assert names("--field-selector", "metadata.name!=db") == ["pod/back", "pod/front"]
    assert names("--field-selector", "status.phase=Pending", "-l", "tier=front") == ["pod/front"]
    assert names("--field-selector", "status.phase=Running") == []

    none = kubectl("get", "pods", "-n", namespace, "-l", "app=nothing")
    assert none.stdout == ""
    assert f"No resources found in {namespace} namespace." in none.stderr


def test_get_watch_shows_a_concurrent_change(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    make_pod(kubectl, namespace, "w1", "{app: w}")
    result: dict[str, object] = {}

    def watch() -> None:
        args = ("get", "pods", "-n", namespace, "-w", "--show-labels", "--request-timeout=3s")
        result["out"] = kubectl(*args, check=False)

    watcher = threading.Thread(target=watch)
    started = time.monotonic()
    watcher.start()
    time.sleep(1.2)
    kubectl("label", "pod", "w1", "-n", namespace, "seen=yes")
    make_pod(kubectl, namespace, "w2", "{app: w}")
    watcher.join(20)
    assert not watcher.is_alive()
    assert time.monotonic() - started < 10  # the request timeout ends the watch

    out = result["out"]
    assert out.returncode == 0, out.stderr  # type: ignore[attr-defined]
    table = rows(out.stdout)  # type: ignore[attr-defined]
    assert table[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert table[1][0] == "w1" and table[1][-1] == "app=w"  # the initial list
    assert ["w1", "seen=yes"] in [[r[0], r[-1].split(",")[-1]] for r in table[2:]]
    assert "w2" in [r[0] for r in table[2:]]


def test_get_watch_on_a_quiet_resource_ends_at_the_timeout(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    make_pod(kubectl, namespace, "quiet")
    started = time.monotonic()
    out = kubectl("get", "pods", "-n", namespace, "-w", "-o", "name", "--request-timeout=2s", timeout=15)
    assert out.stdout.split() == ["pod/quiet"]
    assert time.monotonic() - started < 6


def test_explain_pod_spec_containers(kubectl) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("explain", "pod.spec.containers").stdout
    assert re.search(r"KIND:\s+Pod", out)
    assert re.search(r"VERSION:\s+v1", out)
    assert "FIELD: containers <[]Container>" in out
    for field in ("image\t<string>", "env\t<[]EnvVar>", "ports\t<[]ContainerPort>", "name\t<string>"):
        assert field in out, field


def test_describe_pod_lists_its_events(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    make_pod(kubectl, namespace, "d1", "{app: d}")
    uid = kubectl("get", "pod", "d1", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "d1.0001"},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "d1",
            "namespace": namespace,
            "uid": uid,
        },
        "reason": "Scheduled",
        "message": f"Successfully assigned {namespace}/d1 to node-a",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(event))

    out = kubectl("describe", "pod", "d1", "-n", namespace).stdout
    assert re.search(r"^Name:\s+d1$", out, re.M)
    assert re.search(rf"^Namespace:\s+{namespace}$", out, re.M)
    assert re.search(r"^Status:\s+Pending$", out, re.M)
    assert re.search(r"^\s+Image:\s+busybox$", out, re.M)
    events = out.split("Events:", 1)[1]
    assert "Type    Reason     Age" in events
    assert re.search(
        rf"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned {namespace}/d1", events
    )

    listed = rows(kubectl("get", "events", "-n", namespace).stdout)
    assert listed[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert listed[1][1:] == [
        "Normal",
        "Scheduled",
        "pod/d1",
        f"Successfully assigned {namespace}/d1 to node-a",
    ]


def test_describe_pod_without_events(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    make_pod(kubectl, namespace, "lonely")
    out = kubectl("describe", "pod", "lonely", "-n", namespace).stdout
    assert re.search(r"^Events:\s+<none>$", out, re.M)
    empty = kubectl("get", "events", "-n", namespace)
    assert f"No resources found in {namespace} namespace." in empty.stderr
