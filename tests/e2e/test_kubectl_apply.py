"""The real kubectl 1.32 applying to kubeq: client-side apply (three-way strategic merge) and
server-side apply (field managers, conflicts, --force-conflicts)."""

from __future__ import annotations

import json

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {team: a}
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - name: side
        image: busybox:1.36
        env:
        - {name: S, value: "s"}
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  labels: {owner: one}
data:
  a: "1"
  b: "{b}"
"""

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def second_version() -> str:
    """The deployment with the main container's image bumped and one env var added to it."""
    return DEPLOYMENT.replace("nginx:1.25", "nginx:1.27").replace(
        '- {name: B, value: "2"}', '- {name: B, value: "2"}\n        - {name: C, value: "3"}'
    )


def get_json(kubectl, *args: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def containers(obj: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def env(container: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(e["name"], e["value"]) for e in container.get("env", [])]


def test_client_side_apply_merges_with_other_writers(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    first = kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert first.stdout.strip() == "deployment.apps/app created"
    created = get_json(kubectl, "deployment", "app", "-n", namespace)
    assert LAST_APPLIED in created["metadata"]["annotations"]

    # another writer adds an env var and a label the manifest does not mention
    extra = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "side", "env": [{"name": "X", "value": "x"}]}]}}
        }
    }
    kubectl("patch", "deployment", "app", "-n", namespace, "-p", json.dumps(extra))
    kubectl("label", "deployment", "app", "-n", namespace, "extra=yes")

    second = kubectl("apply", "-n", namespace, "-f", "-", input=second_version())
    assert second.stdout.strip() == "deployment.apps/app configured"

    stored = get_json(kubectl, "deployment", "app", "-n", namespace)
    by_name = containers(stored)
    assert list(by_name) == ["main", "side"]
    assert by_name["main"]["image"] == "nginx:1.27"
    assert env(by_name["main"]) == [("A", "1"), ("B", "2"), ("C", "3")]
    assert by_name["side"]["image"] == "busybox:1.36"
    assert sorted(env(by_name["side"])) == [("S", "s"), ("X", "x")]  # a patch puts new items first
    assert stored["metadata"]["labels"] == {"team": "a", "extra": "yes"}
    assert stored["metadata"]["generation"] > created["metadata"]["generation"]
    last = json.loads(stored["metadata"]["annotations"][LAST_APPLIED])
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"

    # going back removes what only the last apply had added, and keeps the other writer's fields
    kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    reverted = containers(get_json(kubectl, "deployment", "app", "-n", namespace))
    assert reverted["main"]["image"] == "nginx:1.25"
    assert env(reverted["main"]) == [("A", "1"), ("B", "2")]
    assert sorted(env(reverted["side"])) == [("S", "s"), ("X", "x")]


def test_client_side_apply_removes_a_container_dropped_from_the_manifest(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    same = kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    assert same.stdout.strip() == "deployment.apps/app unchanged"
    without_side = DEPLOYMENT.split("      - name: side")[0]
    kubectl("apply", "-n", namespace, "-f", "-", input=without_side)
    stored = containers(get_json(kubectl, "deployment", "app", "-n", namespace))
    assert list(stored) == ["main"]


def managers(obj: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {m["manager"]: m for m in obj["metadata"]["managedFields"]}


def test_server_side_apply_conflicts_and_force(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    def apply(b: str, *flags: str, check: bool = True):  # type: ignore[no-untyped-def]
        args = ("apply", "--server-side", "-n", namespace, *flags, "-f", "-")
        return kubectl(*args, input=CONFIGMAP.replace("{b}", b), check=check)

    assert apply("2").stdout.strip() == "configmap/ssa serverside-applied"
    cm = get_json(kubectl, "configmap", "ssa", "-n", namespace, "--show-managed-fields")
    assert cm["data"] == {"a": "1", "b": "2"}
    owner = managers(cm)["kubectl"]
    assert owner["operation"] == "Apply"
    assert owner["fieldsV1"]["f:data"] == {"f:a": {}, "f:b": {}}

    assert apply("3").stdout.strip() == "configmap/ssa serverside-applied"
    cm = get_json(kubectl, "configmap", "ssa", "-n", namespace)
    assert cm["data"] == {"a": "1", "b": "3"}
    assert cm["metadata"]["labels"] == {"owner": "one"}

    clash = apply("other", "--field-manager=intruder", check=False)
    assert clash.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.b' in clash.stderr
    assert "--force-conflicts" in clash.stderr
    unchanged = get_json(kubectl, "configmap", "ssa", "-n", namespace)
    assert unchanged["data"]["b"] == "3"
    assert unchanged["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]

    forced = apply("other", "--field-manager=intruder", "--force-conflicts")
    assert forced.stdout.strip() == "configmap/ssa serverside-applied"
    cm = get_json(kubectl, "configmap", "ssa", "-n", namespace, "--show-managed-fields")
    assert cm["data"] == {"a": "1", "b": "other"}
    owners = managers(cm)
    assert owners["intruder"]["fieldsV1"]["f:data"] == {"f:a": {}, "f:b": {}}
    assert owners["kubectl"]["fieldsV1"]["f:data"] == {"f:a": {}}  # b was taken away


def test_server_side_apply_drops_fields_its_manager_no_longer_applies(kubectl, namespace: str) -> None:  # type: ignore[no-untyped-def]
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=CONFIGMAP.replace("{b}", "2"))
    smaller = CONFIGMAP.replace('  b: "{b}"\n', "")
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=smaller)
    cm = get_json(kubectl, "configmap", "ssa", "-n", namespace)
    assert cm["data"] == {"a": "1"}
