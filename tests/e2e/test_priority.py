"""PriorityClasses and the Priority admission step, as kubectl users meet them."""

from __future__ import annotations

import json

from tests.e2e.conftest import Kubectl


def _pod(name: str, **spec: object) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
        }
    )


def test_system_classes_exist_and_print_with_kubernetes_columns(kubectl: Kubectl) -> None:
    out = kubectl("get", "priorityclasses").stdout
    assert out.split("\n")[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    rows = {line.split()[0]: line.split() for line in out.strip().split("\n")[1:]}
    assert rows["system-cluster-critical"][1] == "2000000000"
    assert rows["system-node-critical"][1] == "2000001000"


def test_a_pods_class_sets_its_priority(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "priorityclass", f"{namespace}-high", "--value=1000", "--preemption-policy=Never")
    kubectl("create", "-n", namespace, "-f", "-", input=_pod("p", priorityClassName=f"{namespace}-high"))
    spec = json.loads(kubectl("get", "pod", "p", "-n", namespace, "-o", "json").stdout)["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (1000, "Never")
    kubectl("create", "-n", namespace, "-f", "-", input=_pod("plain"))
    assert kubectl("get", "pod", "plain", "-n", namespace, "-o", "jsonpath={.spec.priority}").stdout == "0"


def test_unknown_class_or_a_hand_set_priority_is_forbidden(kubectl: Kubectl, namespace: str) -> None:
    bad = kubectl(
        "create", "-n", namespace, "-f", "-", input=_pod("x", priorityClassName="nope"), check=False
    )
    assert bad.returncode != 0 and "no PriorityClass with name nope was found" in bad.stderr
    hand = kubectl("create", "-n", namespace, "-f", "-", input=_pod("y", priority=5), check=False)
    assert hand.returncode != 0 and "must not be provided in pod spec" in hand.stderr
    assert kubectl("get", "pods", "-n", namespace, "-o", "name").stdout == ""


def test_a_class_value_cannot_change(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "priorityclass", f"{namespace}-mid", "--value=10")
    out = kubectl(
        "patch", "priorityclass", f"{namespace}-mid", "--type=merge", "-p", '{"value": 11}', check=False
    )
    assert out.returncode != 0 and "may not be changed" in out.stderr
