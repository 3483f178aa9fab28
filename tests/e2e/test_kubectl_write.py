"""The real kubectl 1.32 changing kubeq: label, annotate, patch (each type), scale, delete (also
orphaning dependents) and the typed ``create <kind>`` subcommands, which send protobuf."""

from __future__ import annotations

import base64
import json
import uuid

from tests.e2e.test_kubectl_get import rows

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx:1.25
      - name: side
        image: busybox:1.36
"""

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: p1
  labels: {app: web}
spec:
  containers:
  - name: c
    image: nginx
"""


def get_json(kubectl, *args: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def jsonpath(kubectl, namespace: str, target: str, path: str) -> str:  # type: ignore[no-untyped-def]
    return kubectl("get", *target.split(), "-n", namespace, "-o", f"jsonpath={path}").stdout


def test_label_and_annotate(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("create", "-n", namespace, "-f", "-", input=POD)
    assert kubectl("label", "pod", "p1", "-n", namespace, "env=prod").stdout.strip() == "pod/p1 labeled"
    assert (
        kubectl("annotate", "pod", "p1", "-n", namespace, "note=hello").stdout.strip() == "pod/p1 annotated"
    )
    shown = rows(kubectl("get", "pod", "p1", "-n", namespace, "--show-labels").stdout)
    assert shown[1][-1] == "app=web,env=prod"
    assert jsonpath(kubectl, namespace, "pod p1", "{.metadata.annotations.note}") == "hello"

    refused = kubectl("label", "pod", "p1", "-n", namespace, "env=dev", check=False)
    assert refused.returncode != 0 and "already has a value (prod)" in refused.stderr
    kubectl("label", "pod", "p1", "-n", namespace, "env=dev", "--overwrite")
    assert jsonpath(kubectl, namespace, "pod p1", "{.metadata.labels.env}") == "dev"

    assert kubectl("label", "pod", "p1", "-n", namespace, "env-").stdout.strip() == "pod/p1 unlabeled"
    kubectl("annotate", "pod", "p1", "-n", namespace, "note-")
    pod = get_json(kubectl, "pod", "p1", "-n", namespace)
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert "note" not in pod["metadata"].get("annotations", {})

    kubectl("label", "pods", "--all", "-n", namespace, "batch=1")
    assert kubectl("get", "pods", "-n", namespace, "-l", "batch=1", "-o", "name").stdout.split() == ["pod/p1"]


def test_patch_strategic_merge_and_json(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)

    def patch(kind: str, body: object) -> str:
        out = kubectl("patch", "deployment", "web", "-n", namespace, "--type", kind, "-p", json.dumps(body))
        return out.stdout.strip()

    def images() -> dict[str, str]:
        obj = get_json(kubectl, "deployment", "web", "-n", namespace)
        return {c["name"]: c["image"] for c in obj["spec"]["template"]["spec"]["containers"]}

    # strategic: containers merge by name, the other container stays
    side = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}}}}
    assert patch("strategic", side) == "deployment.apps/web patched"
    assert images() == {"main": "nginx:1.25", "side": "busybox:1.37"}

    # kubectl's default type is strategic too
    main = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}}
    kubectl("patch", "deployment", "web", "-n", namespace, "-p", json.dumps(main))
    assert images() == {"main": "nginx:1.26", "side": "busybox:1.37"}

    # merge: a list is replaced as a whole; null deletes a key
    merge = {
        "metadata": {"labels": {"app": None, "m": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "nginx:1.27"}]}}},
    }
    assert patch("merge", merge) == "deployment.apps/web patched"
    assert images() == {"only": "nginx:1.27"}
    assert jsonpath(kubectl, namespace, "deployment web", "{.metadata.labels}") == '{"m":"1"}'

    # json: ordered operations on paths
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/j", "value": "2"},
        {
            "op": "add",
            "path": "/spec/template/spec/containers/-",
            "value": {"name": "extra", "image": "redis"},
        },
    ]
    assert patch("json", ops) == "deployment.apps/web patched"
    obj = get_json(kubectl, "deployment", "web", "-n", namespace)
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["labels"] == {"m": "1", "j": "2"}
    assert images() == {"only": "nginx:1.27", "extra": "redis"}

    test_op = json.dumps([{"op": "test", "path": "/spec/replicas", "value": 9}])
    failed = kubectl(
        "patch", "deployment", "web", "-n", namespace, "--type", "json", "-p", test_op, check=False
    )
    assert failed.returncode != 0
    assert jsonpath(kubectl, namespace, "deployment web", "{.spec.replicas}") == "4"


def test_scale_deployment(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    out = kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=5")
    assert out.stdout.strip() == "deployment.apps/web scaled"
    assert jsonpath(kubectl, namespace, "deployment web", "{.spec.replicas}") == "5"

    wrong = kubectl(
        "scale", "deployment/web", "-n", namespace, "--current-replicas=3", "--replicas=1", check=False
    )
    assert wrong.returncode != 0
    kubectl("scale", "deployment/web", "-n", namespace, "--current-replicas=5", "--replicas=0")
    assert jsonpath(kubectl, namespace, "deployment web", "{.spec.replicas}") == "0"


def test_delete_pod_removes_an_unbound_pod_at_once(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("create", "-n", namespace, "-f", "-", input=POD)
    out = kubectl("delete", "pod", "p1", "-n", namespace, timeout=20)
    assert out.stdout.strip() == 'pod "p1" deleted'
    gone = kubectl("get", "pod", "p1", "-n", namespace, check=False)
    assert gone.returncode != 0
    assert 'Error from server (NotFound): pods "p1" not found' in gone.stderr

    again = kubectl("delete", "pod", "p1", "-n", namespace, check=False)
    assert again.returncode != 0 and 'pods "p1" not found' in again.stderr
    quiet = kubectl("delete", "pod", "p1", "-n", namespace, "--ignore-not-found")
    assert quiet.stdout == ""


def test_delete_by_label_and_file(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("create", "-n", namespace, "-f", "-", input=POD)
    kubectl(
        "create", "-n", namespace, "-f", "-", input=POD.replace("p1", "p2").replace("app: web", "app: db")
    )
    kubectl("create", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert kubectl("delete", "pods", "-n", namespace, "-l", "app=db").stdout.strip() == 'pod "p2" deleted'
    out = kubectl("delete", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert out.stdout.strip() == 'deployment.apps "web" deleted'
    assert kubectl("get", "pods,deployments", "-n", namespace, "-o", "name").stdout.split() == ["pod/p1"]


def test_delete_cascade_orphan_keeps_dependents(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    rs = DEPLOYMENT.replace("kind: Deployment", "kind: ReplicaSet").replace("name: web\n", "name: rs1\n", 1)
    kubectl("create", "-n", namespace, "-f", "-", input=rs)
    uid = jsonpath(kubectl, namespace, "replicaset rs1", "{.metadata.uid}")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "rs1-abcde",
            "labels": {"app": "web"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs1", "uid": uid,
                "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }  # fmt: skip
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(pod))
    owners = json.loads(jsonpath(kubectl, namespace, "pod rs1-abcde", "{.metadata.ownerReferences}"))
    assert owners[0]["uid"] == uid

    # The API only marks the owner: the garbage collector (not running here) strips the dependents'
    # references and removes the finalizer (tests/controllers/test_gc.py covers that part).
    out = kubectl("delete", "replicaset", "rs1", "-n", namespace, "--cascade=orphan", "--wait=false")
    assert out.stdout.strip() == 'replicaset.apps "rs1" deleted'
    held = get_json(kubectl, "replicaset", "rs1", "-n", namespace)
    assert held["metadata"]["finalizers"] == ["orphan"] and held["metadata"]["deletionTimestamp"]
    left = get_json(kubectl, "pod", "rs1-abcde", "-n", namespace)
    assert left["metadata"]["ownerReferences"][0]["uid"] == uid
    assert "deletionTimestamp" not in left["metadata"]
    kubectl("patch", "replicaset", "rs1", "-n", namespace, "--type=json", "-p",
            '[{"op": "remove", "path": "/metadata/finalizers"}]')  # fmt: skip
    assert kubectl("get", "replicasets", "-n", namespace, "-o", "name").stdout == ""


def test_create_namespace_and_serviceaccount(kubectl) -> None:  # type: ignore[no-untyped-def]
    ns = f"made-{uuid.uuid4().hex[:8]}"
    assert kubectl("create", "namespace", ns).stdout.strip() == f"namespace/{ns} created"
    table = rows(kubectl("get", "namespace", ns).stdout)
    assert table[0] == ["NAME", "STATUS", "AGE"] and table[1][:2] == [ns, "Active"]

    assert (
        kubectl("create", "serviceaccount", "robot", "-n", ns).stdout.strip()
        == "serviceaccount/robot created"
    )
    accounts = rows(kubectl("get", "serviceaccount", "robot", "-n", ns).stdout)
    assert accounts[0] == ["NAME", "SECRETS", "AGE"] and accounts[1][0] == "robot"

    dup = kubectl("create", "namespace", ns, check=False)
    assert dup.returncode != 0
    assert f'namespaces "{ns}" already exists' in dup.stderr


def test_create_deployment_configmap_secret_job(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("create", "deployment", "d2", "--image=nginx", "--replicas=3", "-n", namespace)
    assert out.stdout.strip() == "deployment.apps/d2 created"
    d2 = get_json(kubectl, "deployment", "d2", "-n", namespace)
    assert d2["spec"]["replicas"] == 3
    assert d2["spec"]["selector"] == {"matchLabels": {"app": "d2"}}
    assert d2["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    wide = rows(kubectl("get", "deployment", "d2", "-n", namespace, "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][0:2] == ["d2", "0/3"] and wide[1][5:] == ["nginx", "nginx", "app=d2"]

    out = kubectl("create", "configmap", "c2", "--from-literal=k=v", "--from-literal=x=y", "-n", namespace)
    assert out.stdout.strip() == "configmap/c2 created"
    assert get_json(kubectl, "configmap", "c2", "-n", namespace)["data"] == {"k": "v", "x": "y"}

    out = kubectl("create", "secret", "generic", "s2", "--from-literal=pw=s3cret", "-n", namespace)
    assert out.stdout.strip() == "secret/s2 created"
    secret = get_json(kubectl, "secret", "s2", "-n", namespace)
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["pw"]) == b"s3cret"
    secrets = rows(kubectl("get", "secrets", "s2", "-n", namespace).stdout)
    assert secrets[0] == ["NAME", "TYPE", "DATA", "AGE"] and secrets[1][:3] == ["s2", "Opaque", "1"]

    out = kubectl("create", "job", "j1", "--image=busybox", "-n", namespace, "--", "echo", "hi")
    assert out.stdout.strip() == "job.batch/j1 created"
    job = get_json(kubectl, "job", "j1", "-n", namespace)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox" and container["command"] == ["echo", "hi"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    jobs = rows(kubectl("get", "jobs", "-n", namespace).stdout)
    assert jobs[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert jobs[1][0] == "j1" and "0/1" in jobs[1]
