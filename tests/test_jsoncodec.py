"""``jsoncodec.clone``: deep copies of API objects that share nothing with the original."""

from __future__ import annotations

from cluster import jsoncodec


def test_clone_is_equal_and_shares_nothing() -> None:
    obj = {"metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"items": [{"n": 1}, 2.5, None, True]}}
    copy = jsoncodec.clone(obj)
    assert copy == obj
    copy["metadata"]["labels"]["k"] = "changed"
    copy["spec"]["items"][0]["n"] = 2
    assert obj["metadata"]["labels"] == {"k": "v"} and obj["spec"]["items"][0] == {"n": 1}


def test_clone_keeps_what_json_cannot_carry() -> None:
    obj = {"big": 2**80, 3: "int key"}
    assert jsoncodec.clone(obj) == obj
