"""A provider's state as a ConfigMap in ``kube-system``: one JSON value per entry, edited by compare-and-swap.

``read(client, name)`` returns the entries (``{}`` when the ConfigMap is absent) and whether it exists.
``edit(client, name, change)`` reads the entries, lets ``change(entries)`` modify the dict in place
and return True when it changed something, and writes them back under the read resourceVersion,
retrying from a fresh read on 409 or on losing a create race, so concurrent writers (several
controller replicas, node agents) never lose each other's entries. ``change`` may raise to abort.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cluster import errors
from cluster.api.resources import lookup

CONFIGMAPS = lookup("", "v1", "configmaps")
NAMESPACE = "kube-system"
ATTEMPTS = 20
Entries = dict[str, Any]


def decode(cm: dict[str, Any]) -> Entries:
    out: Entries = {}
    for key, raw in (cm.get("data") or {}).items():
        try:
            out[key] = json.loads(raw)
        except ValueError:
            continue  # a hand-edited entry that is not JSON: ignored, left as it is
    return out


def read(client: Any, name: str) -> tuple[Entries, bool]:
    """The decoded entries of ConfigMap ``kube-system/<name>`` and whether it exists."""
    try:
        return decode(client.get(CONFIGMAPS, name, NAMESPACE)), True
    except errors.NotFound:
        return {}, False


def edit(client: Any, name: str, change: Callable[[Entries], bool]) -> Entries:
    """Apply ``change`` to the entries and store them (see the module docstring); the entries after."""
    for _ in range(ATTEMPTS):
        try:
            cm = client.get(CONFIGMAPS, name, NAMESPACE)
        except errors.NotFound:
            cm = None
        entries = decode(cm) if cm else {}
        if not change(entries):
            return entries
        data = {key: json.dumps(value, sort_keys=True) for key, value in sorted(entries.items())}
        try:
            if cm is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kubeq.io/cloud": "state"}},
                    "data": data,
                }
                client.create(body, NAMESPACE)
            else:
                cm.setdefault("apiVersion", "v1")
                cm.setdefault("kind", "ConfigMap")
                cm["data"] = data
                client.update(cm)
            return entries
        except (errors.Conflict, errors.AlreadyExists):
            continue
    raise errors.Conflict(f"ConfigMap {NAMESPACE}/{name} kept changing; gave up after {ATTEMPTS} attempts")
