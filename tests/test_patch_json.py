"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) on plain documents."""

from __future__ import annotations

import copy

import pytest

from cluster.apiserver.patch import apply_json_patch, apply_merge_patch
from cluster.errors import BadRequest, Invalid

POD = {
    "metadata": {"name": "p", "labels": {"app": "web", "a/b": "slash", "t~x": "tilde"}},
    "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]},
}


def jp(*ops: dict) -> dict:
    before = copy.deepcopy(POD)
    out = apply_json_patch(POD, list(ops))
    assert POD == before, "input must not be mutated"
    return out


def test_add_replace_remove() -> None:
    out = jp(
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"},
        {"op": "remove", "path": "/metadata/labels/app"},
    )
    assert out["metadata"]["labels"] == {"tier": "front", "a/b": "slash", "t~x": "tilde"}
    assert out["spec"]["containers"][0]["image"] == "nginx:2"


def test_list_insert_append_and_remove() -> None:
    out = jp(
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}},
        {"op": "add", "path": "/spec/containers/0", "value": {"name": "z"}},
        {"op": "remove", "path": "/spec/containers/1"},
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["z", "b", "c"]


def test_escaped_pointer_tokens() -> None:
    out = jp(
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "x"},
        {"op": "remove", "path": "/metadata/labels/t~0x"},
    )
    assert out["metadata"]["labels"] == {"app": "web", "a/b": "x"}


def test_move_and_copy() -> None:
    out = jp(
        {"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/-"},
        {"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/role"},
    )
    assert out["spec"]["containers"][2] == {"name": "a", "image": "nginx"}
    assert out["spec"]["containers"][2] is not out["spec"]["containers"][0]
    assert "app" not in out["metadata"]["labels"] and out["metadata"]["labels"]["role"] == "web"


def test_test_op_passes_and_fails() -> None:
    assert jp({"op": "test", "path": "/spec/containers/1/name", "value": "b"}) == POD
    with pytest.raises(Invalid) as err:
        jp({"op": "test", "path": "/spec/containers/1/name", "value": "x"})
    assert err.value.code == 422 and "test failed" in err.value.message


def test_test_distinguishes_booleans_from_numbers() -> None:
    doc = {"a": 1, "b": 1.0}
    assert apply_json_patch(doc, [{"op": "test", "path": "/b", "value": 1}]) == doc
    with pytest.raises(Invalid):
        apply_json_patch(doc, [{"op": "test", "path": "/a", "value": True}])


def test_failure_leaves_input_untouched() -> None:
    with pytest.raises(Invalid):
        jp({"op": "remove", "path": "/metadata/labels/app"}, {"op": "remove", "path": "/nope"})


def test_replace_whole_document() -> None:
    assert apply_json_patch(POD, [{"op": "replace", "path": "", "value": {"x": 1}}]) == {"x": 1}


@pytest.mark.parametrize(
    "patch",
    [
        {"op": "add"},
        "not a list",
        ["not an op"],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
        [{"op": "move", "path": "/a"}],
        [{"op": "add", "path": "/a~2", "value": 1}],
    ],
)
def test_malformed_patches_are_bad_requests(patch: object) -> None:
    with pytest.raises(BadRequest):
        apply_json_patch(POD, patch)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/metadata/missing"},
        {"op": "replace", "path": "/metadata/missing", "value": 1},
        {"op": "add", "path": "/nope/deeper", "value": 1},
        {"op": "add", "path": "/spec/containers/7", "value": 1},
        {"op": "add", "path": "/spec/containers/01", "value": 1},
        {"op": "remove", "path": "/spec/containers/-"},
        {"op": "add", "path": "/metadata/name/x", "value": 1},
        {"op": "move", "from": "/spec", "path": "/spec/inner"},
        {"op": "copy", "from": "/missing", "path": "/x"},
    ],
)
def test_operations_that_cannot_apply_are_invalid(op: dict) -> None:
    with pytest.raises(Invalid) as err:
        jp(op)
    assert err.value.to_status()["code"] == 422


def test_merge_patch_rfc7386() -> None:
    before = copy.deepcopy(POD)
    out = apply_merge_patch(
        POD,
        {
            "metadata": {"labels": {"app": None, "new": "1"}, "annotations": {"x": "y", "gone": None}},
            "spec": {"containers": [{"name": "only"}]},
        },
    )
    assert POD == before
    assert out["metadata"]["labels"] == {"a/b": "slash", "t~x": "tilde", "new": "1"}
    assert out["metadata"]["annotations"] == {"x": "y"}
    assert out["spec"]["containers"] == [{"name": "only"}]


def test_merge_patch_scalar_replaces_map_and_map_replaces_scalar() -> None:
    out = apply_merge_patch({"a": {"b": 1}, "c": 2}, {"a": 3, "c": {"d": None, "e": 4}})
    assert out == {"a": 3, "c": {"e": 4}}


@pytest.mark.parametrize("patch", [[1, 2], "x", None, 3])
def test_merge_patch_must_be_an_object(patch: object) -> None:
    with pytest.raises(BadRequest):
        apply_merge_patch(POD, patch)  # type: ignore[arg-type]
