"""Strategic merge patch against the real Kubernetes schemas (Pod, Deployment)."""

from __future__ import annotations

import copy

import pytest

from cluster.apiserver.patch import apply_strategic_merge_patch
from cluster.errors import BadRequest

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"note": "x"}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "image": "nginx:1",
                            "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "1"}},
                        },
                        {"name": "b", "image": "redis", "command": ["redis-server", "--port", "6379"]},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                },
            },
        },
    }


def smp(obj: dict, patch: dict, schema: str = DEPLOYMENT) -> dict:
    before_obj, before_patch = copy.deepcopy(obj), copy.deepcopy(patch)
    out = apply_strategic_merge_patch(obj, patch, schema)
    assert obj == before_obj and patch == before_patch, "inputs must not be mutated"
    return out


def pod_spec(out: dict) -> dict:
    return out["spec"]["template"]["spec"]


def test_kubectl_three_way_patch_keeps_untouched_container_and_env() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "containers": [{"image": "nginx:2", "name": "a"}],
                }
            }
        }
    }
    out = smp(deployment(), patch)
    a, b = pod_spec(out)["containers"]
    assert a["name"] == "a" and a["image"] == "nginx:2"
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert a["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert b == deployment()["spec"]["template"]["spec"]["containers"][1]
    assert out["spec"]["replicas"] == 2 and out["metadata"] == deployment()["metadata"]


def test_nested_merge_by_key_env_and_ports() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "env": [{"name": "Y", "value": "changed"}, {"name": "Z", "value": "3"}],
                            "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                        }
                    ]
                }
            }
        }
    }
    a = pod_spec(smp(deployment(), patch))["containers"][0]
    assert {e["name"]: e["value"] for e in a["env"]} == {"X": "1", "Y": "changed", "Z": "3"}
    ports = {p["containerPort"]: p for p in a["ports"]}
    assert ports[80] == {"containerPort": 80, "protocol": "TCP", "name": "http"}
    assert set(ports) == {80, 443}


def test_new_container_is_added_and_existing_ones_kept() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    names = [c["name"] for c in pod_spec(smp(deployment(), patch))["containers"]]
    assert sorted(names) == ["a", "b", "c"]


def test_set_element_order_orders_the_merged_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}],
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            }
        }
    }
    names = [c["name"] for c in pod_spec(smp(deployment(), patch))["containers"]]
    assert names == ["b", "c", "a"]


def test_set_element_order_alone_reorders() -> None:
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}
    out = pod_spec(smp(deployment(), patch))
    assert [c["name"] for c in out["containers"]] == ["b", "a"]
    assert out["containers"][1]["env"][0]["name"] == "X"


def test_patch_delete_item_removes_container() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}],
                    "containers": [{"$patch": "delete", "name": "b"}],
                }
            }
        }
    }
    assert [c["name"] for c in pod_spec(smp(deployment(), patch))["containers"]] == ["a"]


def test_patch_replace_item_replaces_whole_list() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "i"}]}}}
    }
    assert pod_spec(smp(deployment(), patch))["containers"] == [{"name": "z", "image": "i"}]


def test_patch_merge_item_is_a_plain_merge() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "b", "image": "r2"}]}}}
    }
    b = next(c for c in pod_spec(smp(deployment(), patch))["containers"] if c["name"] == "b")
    assert b["image"] == "r2" and b["command"] == ["redis-server", "--port", "6379"] and "$patch" not in b


def test_patch_replace_on_map() -> None:
    out = smp(deployment(), {"metadata": {"labels": {"$patch": "replace", "only": "this"}}})
    assert out["metadata"]["labels"] == {"only": "this"}
    assert out["metadata"]["annotations"] == {"note": "x"}


def test_patch_delete_on_map_and_inside_list_item() -> None:
    patch = {
        "spec": {
            "strategy": {"$patch": "delete"},
            "template": {"spec": {"containers": [{"name": "a", "resources": {"$patch": "delete"}}]}},
        }
    }
    out = smp(deployment(), patch)
    assert "strategy" not in out["spec"]
    a = pod_spec(out)["containers"][0]
    assert "resources" not in a and a["image"] == "nginx:1"


def test_null_deletes_keys_at_any_depth() -> None:
    patch = {
        "metadata": {"annotations": {"note": None}, "labels": None},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "resources": {"limits": None}}]}}},
    }
    out = smp(deployment(), patch)
    assert "labels" not in out["metadata"] and out["metadata"]["annotations"] == {}
    assert pod_spec(out)["containers"][0]["resources"] == {}


def test_retain_keys_on_strategy_switch() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(deployment(), patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_in_volume_item() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/srv"}}
                    ]
                }
            }
        }
    }
    assert pod_spec(smp(deployment(), patch))["volumes"] == [{"name": "data", "hostPath": {"path": "/srv"}}]


def test_primitive_merge_list_is_a_set_and_delete_from_primitive_list() -> None:
    pod = {"metadata": {"name": "p", "finalizers": ["a", "b"]}}
    added = smp(pod, {"metadata": {"finalizers": ["b", "c"]}}, POD)["metadata"]["finalizers"]
    assert sorted(added) == ["a", "b", "c"]
    removed = smp(pod, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}, POD)
    assert removed["metadata"]["finalizers"] == ["b"]
    ordered = smp(
        pod,
        {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}},
        POD,
    )
    assert ordered["metadata"]["finalizers"] == ["c", "b", "a"]


def test_lists_without_merge_strategy_are_replaced() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [{"key": "other", "operator": "Exists"}],
                    "containers": [{"name": "b", "command": ["redis-server"]}],
                }
            }
        }
    }
    out = pod_spec(smp(deployment(), patch))
    assert out["tolerations"] == [{"key": "other", "operator": "Exists"}]
    assert out["containers"][1]["command"] == ["redis-server"]


def test_owner_references_merge_by_uid() -> None:
    pod = {"metadata": {"name": "p", "ownerReferences": [{"uid": "1", "name": "rs1", "kind": "ReplicaSet"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "1", "controller": True}, {"uid": "2", "name": "x"}]}}
    refs = {r["uid"]: r for r in smp(pod, patch, POD)["metadata"]["ownerReferences"]}
    assert refs["1"] == {"uid": "1", "name": "rs1", "kind": "ReplicaSet", "controller": True}
    assert refs["2"] == {"uid": "2", "name": "x"}


def test_unknown_schema_or_free_form_fields_behave_as_merge_patch() -> None:
    obj = {"spec": {"items": [1, 2], "nested": {"a": 1, "b": 2}}}
    out = smp(obj, {"spec": {"items": [3], "nested": {"a": None, "c": 3}}}, "no.such.Kind")
    assert out == {"spec": {"items": [3], "nested": {"b": 2, "c": 3}}}
    annotated = smp(deployment(), {"metadata": {"annotations": {"new": "y"}}})
    assert annotated["metadata"]["annotations"] == {"note": "x", "new": "y"}


def test_added_values_are_cleaned_of_directives_and_nulls() -> None:
    out = smp({"metadata": {"name": "p"}}, {"metadata": {"labels": {"a": "1", "b": None}}}, POD)
    assert out["metadata"]["labels"] == {"a": "1"}


@pytest.mark.parametrize(
    "patch",
    [
        {"metadata": {"labels": {"$patch": "explode"}}},
        {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}},
        {"spec": {"template": {"spec": {"containers": ["not-a-map"]}}}},
        {"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}},
        {"spec": {"template": {"spec": {"containers": [{"$patch": "bogus", "name": "a"}]}}}},
        {"spec": {"strategy": {"$retainKeys": "type"}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
        {"spec": {"template": {"spec": {"$setElementOrder/containers": "a"}}}},
        {
            "spec": {
                "template": {
                    "spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}
                }
            }
        },
    ],
)
def test_malformed_patches_are_bad_requests(patch: dict) -> None:
    with pytest.raises(BadRequest) as err:
        smp(deployment(), patch)
    assert err.value.code == 400 and err.value.message


@pytest.mark.parametrize("patch", [[{"op": "add"}], "x", None])
def test_patch_must_be_an_object(patch: object) -> None:
    with pytest.raises(BadRequest):
        apply_strategic_merge_patch(deployment(), patch, DEPLOYMENT)  # type: ignore[arg-type]


def test_top_level_delete_and_replace() -> None:
    assert smp(deployment(), {"$patch": "delete"}) == {}
    assert smp(deployment(), {"$patch": "replace", "kind": "Deployment"}) == {"kind": "Deployment"}
