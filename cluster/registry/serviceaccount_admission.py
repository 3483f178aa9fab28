"""The ServiceAccount admission step for pod creation: an identity and a token volume for every pod.

``admit_service_account(registry, pod, inputs)`` changes the pod in place, as Kubernetes' ServiceAccount
admission plugin does:

- ``spec.serviceAccountName`` defaults to ``default`` (``spec.serviceAccount``, the deprecated
  alias, is read when the name is unset and is kept equal to it);
- the account must exist in the pod's namespace, else ``Forbidden`` ("error looking up service
  account ns/name: ..."). One departure: a missing ``default`` account of a live namespace is created
  here rather than refused, so a pod created right after its namespace does not race the
  ServiceAccount controller (which tolerates the account existing already);
- unless ``automountServiceAccountToken`` is false on the pod (or, when the pod leaves it unset, on
  the account), a projected volume ``kube-api-access-<5 chars>`` (token, ``kube-root-ca.crt``'s
  ``ca.crt``, the namespace) is added and mounted read-only at
  ``/var/run/secrets/kubernetes.io/serviceaccount`` in each container and init container that does
  not mount that path already.

A pod in a missing or terminating namespace is left alone: the namespace check that follows refuses
it with the right error.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.registry.admission import WriteOptions
from cluster.registry.podinputs import DEFAULT_ACCOUNT, PodInputs

if TYPE_CHECKING:
    from cluster.registry.registry import Registry

Obj = dict[str, Any]
SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION = 3607  # seconds; Kubernetes' value for the projected token (an hour and a bit)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' random-suffix alphabet (no vowels, no 0/1/3)


def access_volume(name: str) -> Obj:
    """The projected ``kube-api-access-*`` volume named ``name``."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def _suffix() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))


def _account(registry: Registry, namespace: str, pod_name: str, inputs: PodInputs, dry_run: bool) -> Obj:
    """The pod's ServiceAccount (as read in ``inputs``); the ``default`` one is made if missing (on a dry
    run: assumed, not made); ``Forbidden`` for any other missing account."""
    assert SERVICEACCOUNTS is not None
    name = inputs.account_name
    if inputs.account is not None:
        return inputs.account
    if name != DEFAULT_ACCOUNT:
        raise errors.Forbidden(
            f'pods "{pod_name}" is forbidden: error looking up service account {namespace}/{name}: '
            f'serviceaccount "{name}" not found',
            name=pod_name,
            kind="pods",
        )
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    if dry_run:
        return body
    try:
        return registry.create(SERVICEACCOUNTS, namespace, body, WriteOptions())
    except errors.AlreadyExists:
        return registry.get(SERVICEACCOUNTS, namespace, name)


def _mount_everywhere(spec: Obj, volume_name: str) -> None:
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            mounts = container.setdefault("volumeMounts", [])
            if any(isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            mounts.append({"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH})


def admit_service_account(registry: Registry, pod: Obj, inputs: PodInputs, dry_run: bool = False) -> None:
    """Give ``pod`` its ServiceAccount and token volume in place (see the module doc), from what
    ``inputs`` read for it; a dry run creates nothing."""
    spec = pod.get("spec")
    md = pod.get("metadata") or {}
    namespace = md.get("namespace") or ""
    if not isinstance(spec, dict) or not namespace or not inputs.live_namespace:
        return
    spec["serviceAccountName"] = spec["serviceAccount"] = inputs.account_name
    account = _account(registry, namespace, md.get("name") or "", inputs, dry_run)
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return
    volumes = spec.setdefault("volumes", [])
    if not isinstance(volumes, list):
        return  # validation reports it
    taken = {v.get("name") for v in volumes if isinstance(v, dict)}
    existing = next(
        (
            v["name"]
            for v in volumes
            if isinstance(v, dict) and str(v.get("name", "")).startswith(VOLUME_PREFIX) and v.get("projected")
        ),
        None,
    )
    volume_name = existing
    if volume_name is None:
        volume_name = VOLUME_PREFIX + _suffix()
        while volume_name in taken:
            volume_name = VOLUME_PREFIX + _suffix()
        volumes.append(access_volume(volume_name))
    _mount_everywhere(spec, volume_name)
