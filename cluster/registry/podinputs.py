"""What pod admission reads from the store, fetched in one round trip before the admission steps run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.api.resources import lookup
from cluster.store import Store

Obj = dict[str, Any]
NAMESPACES = lookup("", "v1", "namespaces")
SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")
PRIORITY_CLASSES = lookup("scheduling.k8s.io", "v1", "priorityclasses")
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class PodInputs:
    """The pod's namespace and ServiceAccount (None where missing), and the PriorityClass it names
    (``class_name``; None if missing) or, when it names none, every PriorityClass (``classes``)."""

    namespace: Obj | None = None
    account_name: str = DEFAULT_ACCOUNT
    account: Obj | None = None
    class_name: str = ""
    priority_class: Obj | None = None
    classes: list[Obj] = field(default_factory=list)

    @property
    def live_namespace(self) -> bool:
        """Whether the namespace exists and is not being deleted."""
        return self.namespace is not None and not self.namespace["metadata"].get("deletionTimestamp")


def account_name(spec: Obj) -> str:
    """The ServiceAccount a pod spec names (``serviceAccount`` is the deprecated alias), else ``default``."""
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_ACCOUNT


def read(store: Store, pod: Obj) -> PodInputs:
    """One pipelined read of everything pod admission looks up for ``pod`` (metadata.namespace set)."""
    assert NAMESPACES is not None and SERVICEACCOUNTS is not None and PRIORITY_CLASSES is not None
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    namespace = (pod.get("metadata") or {}).get("namespace") or ""
    account = account_name(spec)
    class_name = spec.get("priorityClassName") or ""
    keys = [
        (NAMESPACES.qualified, namespace),
        (SERVICEACCOUNTS.qualified, SERVICEACCOUNTS.key(namespace, account)),
    ]
    if class_name:
        keys.append((PRIORITY_CLASSES.qualified, class_name))
    found, every = store.get_many(keys, () if class_name else (PRIORITY_CLASSES.qualified,))
    return PodInputs(
        namespace=found[0],
        account_name=account,
        account=found[1],
        class_name=class_name,
        priority_class=found[2] if class_name else None,
        classes=every[0] if every else [],
    )
