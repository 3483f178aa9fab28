"""The official Python client: create, read, list, replace, patch and delete on every served kind."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

Body = Callable[[str, str], dict[str, Any]]
POD_SPEC = {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}


def _meta(name: str, ns: str) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "labels": {"tier": "e2e"}}


@dataclass(frozen=True)
class Kind:
    """One kind as the typed client sees it: API class, method stem, scope and a valid body."""

    api: type
    stem: str
    namespaced: bool
    body: Body

    def call(self, api_client: client.ApiClient, verb: str, ns: str, *args: Any, **kw: Any) -> Any:
        api = self.api(api_client)
        if self.namespaced:
            method = getattr(api, f"{verb}_namespaced_{self.stem}")
            if verb in ("create", "list", "delete_collection"):
                return method(ns, *args, **kw)
            return method(args[0], ns, *args[1:], **kw)
        return getattr(api, f"{verb}_{self.stem}")(*args, **kw)


def _event(name: str, ns: str) -> dict[str, Any]:
    return {
        "metadata": _meta(name, ns),
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
        "reason": "Started",
        "message": "started",
        "type": "Normal",
    }


def _events_v1(name: str, ns: str) -> dict[str, Any]:
    return {
        "metadata": _meta(name, ns),
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "e2e/test",
        "reportingInstance": "e2e-1",
        "action": "Start",
        "reason": "Started",
        "type": "Normal",
        "regarding": {"kind": "Pod", "name": "p", "namespace": ns},
    }


KINDS: dict[str, Kind] = {
    "namespace": Kind(client.CoreV1Api, "namespace", False, lambda n, ns: {"metadata": {"name": n}}),
    "pod": Kind(client.CoreV1Api, "pod", True, lambda n, ns: {"metadata": _meta(n, ns), "spec": POD_SPEC}),
    "node": Kind(client.CoreV1Api, "node", False, lambda n, ns: {"metadata": {"name": n}}),
    "service": Kind(
        client.CoreV1Api,
        "service",
        True,
        lambda n, ns: {"metadata": _meta(n, ns), "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
    ),
    "endpoints": Kind(
        client.CoreV1Api,
        "endpoints",
        True,
        lambda n, ns: {
            "metadata": _meta(n, ns),
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
        },
    ),
    "configmap": Kind(
        client.CoreV1Api, "config_map", True, lambda n, ns: {"metadata": _meta(n, ns), "data": {"k": "v"}}
    ),
    "secret": Kind(
        client.CoreV1Api, "secret", True, lambda n, ns: {"metadata": _meta(n, ns), "stringData": {"k": "v"}}
    ),
    "serviceaccount": Kind(
        client.CoreV1Api, "service_account", True, lambda n, ns: {"metadata": _meta(n, ns)}
    ),
    "event": Kind(client.CoreV1Api, "event", True, _event),
    "deployment": Kind(
        client.AppsV1Api,
        "deployment",
        True,
        lambda n, ns: {
            "metadata": _meta(n, ns),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
        },
    ),
    "replicaset": Kind(
        client.AppsV1Api,
        "replica_set",
        True,
        lambda n, ns: {
            "metadata": _meta(n, ns),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
        },
    ),
    "job": Kind(
        client.BatchV1Api,
        "job",
        True,
        lambda n, ns: {
            "metadata": _meta(n, ns),
            "spec": {"template": {"spec": dict(POD_SPEC, restartPolicy="Never")}},
        },
    ),
    "cronjob": Kind(
        client.BatchV1Api,
        "cron_job",
        True,
        lambda n, ns: {
            "metadata": _meta(n, ns),
            "spec": {
                "schedule": "*/5 * * * *",
                "jobTemplate": {"spec": {"template": {"spec": dict(POD_SPEC, restartPolicy="OnFailure")}}},
            },
        },
    ),
    "endpointslice": Kind(
        client.DiscoveryV1Api,
        "endpoint_slice",
        True,
        lambda n, ns: {
            "metadata": _meta(n, ns),
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
    ),
    "lease": Kind(
        client.CoordinationV1Api,
        "lease",
        True,
        lambda n, ns: {"metadata": _meta(n, ns), "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}},
    ),
    "events.k8s.io": Kind(client.EventsV1Api, "event", True, _events_v1),
}


def _gone(kind: Kind, api_client: client.ApiClient, ns: str, name: str) -> bool:
    try:
        obj = kind.call(api_client, "read", ns, name)
    except ApiException as exc:
        assert exc.status == 404
        return True
    return obj.metadata.deletion_timestamp is not None  # namespaces wait for their finalizer


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_crud_round_trip(api_client: client.ApiClient, namespace: str, kind_name: str) -> None:
    kind = KINDS[kind_name]
    name = f"x-{uuid.uuid4().hex[:6]}"
    body = kind.body(name, namespace)

    created = kind.call(api_client, "create", namespace, body)
    assert created.metadata.name == name
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    if kind.namespaced:
        assert created.metadata.namespace == namespace

    read = kind.call(api_client, "read", namespace, name)
    assert read.metadata.uid == created.metadata.uid

    listed = kind.call(api_client, "list", namespace)
    assert name in [i.metadata.name for i in listed.items]
    assert listed.metadata.resource_version

    read.metadata.annotations = {"step": "replaced"}
    replaced = kind.call(api_client, "replace", namespace, name, read)
    assert replaced.metadata.annotations["step"] == "replaced"
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = kind.call(api_client, "patch", namespace, name, {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels["patched"] == "yes"
    if kind.namespaced:
        assert patched.metadata.labels == {"tier": "e2e", "patched": "yes"}
    assert patched.metadata.annotations["step"] == "replaced"

    kind.call(api_client, "delete", namespace, name)
    assert _gone(kind, api_client, namespace, name)

    if kind_name != "namespace":  # the name is free again
        again = kind.call(api_client, "create", namespace, kind.body(name, namespace))
        assert again.metadata.uid != created.metadata.uid
