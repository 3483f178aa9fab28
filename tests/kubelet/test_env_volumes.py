"""Env resolution, downward API facts and volume files: pure functions over pod dicts."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from tasks.kubelet.env import command_line, expand, resolve_env
from tasks.kubelet.fields import ConfigError, field_value, resource_value
from tasks.kubelet.volumes import materialize, mounts

B64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731

OBJECTS = {
    ("configmaps", "ns", "cm"): {"data": {"color": "blue", "size": "L", "bad key": "x"}},
    ("secrets", "ns", "sec"): {"data": {"password": B64("s3cret"), "user": B64("bob")}},
}


def lookup(plural: str, namespace: str, name: str):  # type: ignore[no-untyped-def]
    return OBJECTS.get((plural, namespace, name))


def pod(**spec) -> dict:  # type: ignore[no-untyped-def]
    container = {
        "name": "app",
        "image": "python:3",
        "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}},
    }
    return {
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": "u-1",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": 'say "hi"'},
        },
        "spec": {"nodeName": "n1", "serviceAccountName": "default", "containers": [container], **spec},
        "status": {"podIP": "10.0.0.7", "hostIP": "10.0.0.1"},
    }


def test_expand_refers_to_earlier_vars_escapes_and_keeps_unknown() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$$(A) $(C) $", env) == "$(A) $(C) $"


def test_resolve_env_sources_in_order() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    c["envFrom"] = [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}]
    c["env"] = [
        {"name": "GREETING", "value": "hello $(CM_color)"},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
        {"name": "SIZE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "size"}}},
        {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
    ]
    env = resolve_env(p, c, lookup)
    assert env["CM_color"] == "blue" and "CM_bad key" not in env
    assert env["user"] == "bob"
    assert env["GREETING"] == "hello blue"
    assert env["PW"] == "s3cret" and env["SIZE"] == "L" and "GONE" not in env
    assert (env["POD"], env["NS"], env["APP"], env["NODE"], env["IP"]) == (
        "web",
        "ns",
        "web",
        "n1",
        "10.0.0.7",
    )
    assert env["MEM"] == "64" and env["CPU"] == "1"  # 250m rounds up to 1 core


def test_missing_required_reference_is_a_config_error() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    c["env"] = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "missing"}}}]
    with pytest.raises(ConfigError, match="missing"):
        resolve_env(p, c, lookup)


def test_fields_and_resources() -> None:
    p = pod()
    assert field_value(p, "metadata.labels") == 'app="web"\ntier="front"'
    assert field_value(p, "metadata.annotations") == 'note="say \\"hi\\""'
    assert field_value(p, "spec.serviceAccountName") == "default"
    assert resource_value(p, "app", {"resource": "limits.cpu", "divisor": "1m"}) == "500"
    assert resource_value(
        p, "app", {"resource": "limits.ephemeral-storage"}, {"ephemeral-storage": "1Gi"}
    ) == str(2**30)


def test_command_line_expands_and_needs_a_command() -> None:
    c = {"command": ["echo", "$(A)"], "args": ["$(B)", "$$(A)"]}
    assert command_line(c, {"A": "1", "B": "2"}) == ["echo", "1", "2", "$(A)"]
    assert command_line({"args": ["x"]}, {}) == []


def test_materialize_volumes(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    p = pod(
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {
                "name": "cfg",
                "configMap": {"name": "cm", "items": [{"key": "color", "path": "sub/c.txt", "mode": 0o600}]},
            },
            {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {"name": "opt", "secret": {"secretName": "none", "optional": True}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {
                            "path": "mem",
                            "resourceFieldRef": {"containerName": "app", "resource": "limits.memory"},
                        },
                    ]
                },
            },
            {"name": "h", "hostPath": {"path": str(host)}},
        ]
    )
    paths = materialize(p, str(tmp_path / "pod"), lookup)
    vols = tmp_path / "pod" / "volumes"
    assert Path(paths["scratch"]).is_dir() and paths["h"] == str(host)
    cfg = vols / "cfg" / "sub" / "c.txt"
    assert cfg.read_text() == "blue" and stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert (vols / "sec" / "password").read_text() == "s3cret"
    assert stat.S_IMODE(os.stat(vols / "sec" / "user").st_mode) == 0o400
    assert list((vols / "opt").iterdir()) == []
    assert (vols / "info" / "labels").read_text() == 'app="web"\ntier="front"'
    assert (vols / "info" / "mem").read_text() == str(64 * 2**20)

    OBJECTS[("secrets", "ns", "sec")] = {"data": {"password": B64("new")}}
    try:
        materialize(p, str(tmp_path / "pod"), lookup)
    finally:
        OBJECTS[("secrets", "ns", "sec")] = {"data": {"password": B64("s3cret"), "user": B64("bob")}}
    assert (vols / "sec" / "password").read_text() == "new" and not (vols / "sec" / "user").exists()

    c = {
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
            {"name": "h", "mountPath": "/h", "subPath": "x"},
        ]
    }
    got = mounts(c, paths)
    assert (got[0].host_path, got[0].container_path, got[0].read_only) == (paths["cfg"], "/etc/cfg", True)
    assert got[1].host_path == os.path.join(str(host), "x")


def test_missing_configmap_volume_is_a_config_error(tmp_path: Path) -> None:
    p = pod(volumes=[{"name": "cfg", "configMap": {"name": "absent"}}])
    with pytest.raises(ConfigError, match="absent"):
        materialize(p, str(tmp_path), lookup)
