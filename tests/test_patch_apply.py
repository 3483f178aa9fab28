"""Server-side apply and managedFields bookkeeping for non-apply writes."""

from __future__ import annotations

import copy

import pytest

from cluster.apiserver.patch import record_update_manager, server_side_apply
from cluster.apiserver.patch.fieldpath import decode, encode, path_string
from cluster.errors import BadRequest, Conflict

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"
T1, T2, T3 = "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"


def config(
    replicas: int = 2, image: str = "nginx:1", labels: dict | None = None, containers: list | None = None
) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers or [{"name": "nginx", "image": image}]},
            },
        },
    }


def apply(
    live: dict | None, applied: dict, manager: str = "kubectl", force: bool = False, now: str = T1
) -> dict:
    before_live, before_applied = copy.deepcopy(live), copy.deepcopy(applied)
    out = server_side_apply(live, applied, DEPLOYMENT, manager, force, now, "apps/v1")
    assert live == before_live and applied == before_applied, "inputs must not be mutated"
    return out


def stored(obj: dict) -> dict:
    """What the API server would store: the object with server metadata filled in."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("uid", "u-1")
    obj["metadata"]["resourceVersion"] = "7"
    return obj


def entries(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_apply_creates_with_kubernetes_shaped_managed_fields() -> None:
    out = apply(None, config())
    assert out["spec"] == config()["spec"]
    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}}}
                        },
                    },
                },
            },
        }
    ]


def test_reapply_changes_values_and_prunes_fields_no_longer_applied() -> None:
    live = stored(apply(None, config(labels={"app": "web", "tier": "front"})))
    out = apply(live, config(image="nginx:2"), now=T2)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:2"}]
    assert out["metadata"]["resourceVersion"] == "7" and out["metadata"]["uid"] == "u-1"
    (entry,) = out["metadata"]["managedFields"]
    assert entry["time"] == T2
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}


def test_pruning_drops_removed_list_items_and_emptied_maps() -> None:
    two = [{"name": "nginx", "image": "nginx:1"}, {"name": "side", "image": "busybox", "args": ["sleep"]}]
    live = stored(apply(None, config(containers=two)))
    live_cfg = config()
    live_cfg["metadata"]["annotations"] = {"a": "1"}
    live = stored(apply(live, live_cfg))
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    assert live["metadata"]["annotations"] == {"a": "1"}
    out = apply(live, config())
    assert "annotations" not in out["metadata"]


def test_fields_set_by_others_survive_and_shared_fields_are_not_pruned() -> None:
    live = stored(apply(None, config()))
    second = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "team": "x"}},
    }
    live = stored(apply(live, second, manager="labeler"))
    assert live["metadata"]["labels"] == {"app": "web", "team": "x"}
    # kubectl stops applying the label "app"; the labeler still owns it, so it stays.
    cfg = config()
    del cfg["metadata"]["labels"]
    out = apply(live, cfg)
    assert out["metadata"]["labels"] == {"app": "web", "team": "x"}
    assert "f:metadata" not in entries(out)[("kubectl", "Apply")]["fieldsV1"]


def test_conflict_with_client_side_apply_update_manager() -> None:
    created = config(replicas=2)
    record_update_manager(None, created, "kubectl-client-side-apply", "Update", T1, "apps/v1", DEPLOYMENT)
    live = stored(created)
    with pytest.raises(Conflict) as err:
        apply(live, config(replicas=3))
    status = err.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_same_value_is_shared_not_a_conflict() -> None:
    created = config(replicas=2)
    record_update_manager(None, created, "kubectl-create", "Update", T1, "apps/v1", DEPLOYMENT)
    out = apply(stored(created), config(replicas=2), now=T2)
    managers = entries(out)
    assert "f:replicas" in managers[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    assert "f:replicas" in managers[("kubectl-create", "Update")]["fieldsV1"]["f:spec"]
    assert [e["operation"] for e in out["metadata"]["managedFields"]] == ["Apply", "Update"]


def test_force_takes_ownership() -> None:
    created = config(replicas=2)
    record_update_manager(None, created, "kubectl-client-side-apply", "Update", T1, "apps/v1", DEPLOYMENT)
    out = apply(stored(created), config(replicas=3), force=True, now=T2)
    assert out["spec"]["replicas"] == 3
    managers = entries(out)
    assert "f:replicas" in managers[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in managers[("kubectl-client-side-apply", "Update")]["fieldsV1"]["f:spec"]


def test_scale_then_apply_different_replicas_conflicts() -> None:
    live = stored(apply(None, config(replicas=2)))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    record_update_manager(live, scaled, "kubectl", "Update", T2, "apps/v1", DEPLOYMENT)
    managers = entries(scaled)
    assert managers[("kubectl", "Update")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    with pytest.raises(Conflict) as err:
        apply(stored(scaled), config(replicas=2), now=T3)
    assert err.value.causes[0].field == ".spec.replicas"
    assert 'conflict with "kubectl" using apps/v1' in err.value.message
    # Leaving replicas out of the configuration lets the scaled value stand.
    cfg = config()
    del cfg["spec"]["replicas"]
    assert apply(stored(scaled), cfg, now=T3)["spec"]["replicas"] == 5


def test_several_conflicts_are_grouped_by_manager() -> None:
    created = config(replicas=2)
    record_update_manager(None, created, "kubectl-edit", "Update", T1, "apps/v1", DEPLOYMENT)
    with pytest.raises(Conflict) as err:
        apply(stored(created), config(replicas=3, image="nginx:9"))
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )
    assert [c.field for c in err.value.causes] == [
        ".spec.replicas",
        '.spec.template.spec.containers[name="nginx"].image',
    ]


def test_object_without_managed_fields_is_owned_by_before_first_apply() -> None:
    live = stored(config(replicas=2))
    with pytest.raises(Conflict) as err:
        apply(live, config(replicas=4))
    assert 'conflict with "before-first-apply" using apps/v1' in err.value.message
    out = apply(live, config(replicas=2))
    assert set(entries(out)) == {("kubectl", "Apply"), ("before-first-apply", "Update")}


def test_list_map_items_from_different_managers_merge() -> None:
    live = stored(apply(None, config()))
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}},
    }
    live = stored(apply(live, sidecar, manager="injector"))
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["nginx", "side"]
    out = apply(live, config(image="nginx:2"))
    assert [c["image"] for c in out["spec"]["template"]["spec"]["containers"]] == ["nginx:2", "busybox"]
    gone = apply(live, {**sidecar, "spec": {"template": {"spec": {"containers": []}}}}, manager="injector")
    assert [c["name"] for c in gone["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    assert ("injector", "Apply") not in entries(gone)


def test_ports_key_defaults_protocol_and_atomic_lists_replace() -> None:
    live = config(
        containers=[{"name": "nginx", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]
    )
    live["spec"]["template"]["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    cfg = config(
        containers=[{"name": "nginx", "image": "i", "ports": [{"containerPort": 80, "name": "http"}]}]
    )
    cfg["spec"]["template"]["spec"]["tolerations"] = [{"key": "b", "operator": "Exists"}]
    out = apply(stored(live), cfg, force=True)
    spec = out["spec"]["template"]["spec"]
    assert spec["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}]
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]
    fields = entries(out)[("kubectl", "Apply")]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
    container = fields["f:containers"]['k:{"name":"nginx"}']
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]
    assert fields["f:tolerations"] == {}


def test_sets_merge_by_value() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a"]}}
    first = server_side_apply(None, pod, POD, "one", False, T1, "v1")
    other = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["b"]}}
    both = server_side_apply(stored(first), other, POD, "two", False, T2, "v1")
    assert both["metadata"]["finalizers"] == ["a", "b"]
    assert entries(both)[("two", "Apply")]["fieldsV1"] == {"f:metadata": {"f:finalizers": {'v:"b"': {}}}}


def test_server_set_metadata_in_configuration_is_ignored() -> None:
    cfg = config()
    cfg["metadata"].update(creationTimestamp="2000-01-01T00:00:00Z", generation=9, resourceVersion="3")
    cfg["spec"]["paused"] = None
    out = apply(None, cfg)
    assert "creationTimestamp" not in out["metadata"] and "generation" not in out["metadata"]
    assert out["metadata"]["resourceVersion"] == "3"
    assert "paused" not in out["spec"]
    assert "f:resourceVersion" not in out["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c["metadata"].update(managedFields=[{"manager": "x"}]),
        lambda c: c.update(apiVersion="apps/v1beta1"),
        lambda c: c.pop("apiVersion"),
        lambda c: c.update(metadata="nope"),
        lambda c: c["spec"]["template"]["spec"]["containers"].append({"name": "nginx", "image": "dup"}),
    ],
)
def test_bad_configurations_are_bad_requests(mutate) -> None:
    cfg = config()
    mutate(cfg)
    with pytest.raises(BadRequest):
        apply(None, cfg)


def test_configuration_must_be_an_object() -> None:
    with pytest.raises(BadRequest):
        server_side_apply(None, ["x"], DEPLOYMENT, "m", False, T1, "apps/v1")  # type: ignore[arg-type]


def test_record_update_manager_on_create_and_update() -> None:
    created = config()
    record_update_manager(None, created, "kubectl-create", "Update", T1, "apps/v1", DEPLOYMENT)
    (entry,) = created["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl-create" and entry["operation"] == "Update" and entry["time"] == T1
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert "." not in fields["f:spec"] and "f:replicas" in fields["f:spec"]
    assert "f:name" not in fields["f:metadata"]

    updated = copy.deepcopy(created)
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    del updated["metadata"]["labels"]
    record_update_manager(created, updated, "kubectl-edit", "Update", T2, "apps/v1", DEPLOYMENT)
    managers = entries(updated)
    create_fields = managers[("kubectl-create", "Update")]["fieldsV1"]
    assert "f:labels" not in create_fields.get("f:metadata", {})
    assert (
        "f:image" not in create_fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    )
    assert managers[("kubectl-edit", "Update")]["fieldsV1"] == {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {"f:image": {}}}}}}
    }
    assert managers[("kubectl-create", "Update")]["time"] == T1


def test_record_update_manager_without_changes_adds_nothing() -> None:
    obj = config()
    record_update_manager(copy.deepcopy(obj), obj, "idle", "Update", T1, "apps/v1", DEPLOYMENT)
    assert "managedFields" not in obj["metadata"]


def test_fields_v1_round_trip_and_display() -> None:
    paths = {
        ("f:spec", "f:replicas"),
        ("f:spec", "f:containers", 'k:{"name":"a"}'),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"),
        ("f:metadata", "f:finalizers", 'v:"x"'),
    }
    trie = encode(paths)
    assert trie["f:spec"]["f:containers"]['k:{"name":"a"}'] == {".": {}, "f:image": {}}
    assert decode(trie) == paths
    assert (
        path_string(("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"))
        == '.spec.containers[name="a"].image'
    )
    assert (
        path_string(("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'))
        == '.ports[containerPort=80,protocol="TCP"]'
    )
    assert path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'
    with pytest.raises(ValueError):
        decode({"bogus": {}})


def test_list_order_follows_the_configuration_and_reapply_is_a_no_op() -> None:
    ab = [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]
    live = stored(apply(None, config(containers=ab)))
    out = apply(live, config(containers=list(reversed(ab))))
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["b", "a"]
    empty_labels = config()
    empty_labels["metadata"]["labels"] = {}
    once = apply(live, empty_labels)
    assert once["metadata"]["labels"] == {}
    assert apply(stored(once), empty_labels) == stored(once)
