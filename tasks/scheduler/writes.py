"""What the scheduler writes through the API: bindings, the PodScheduled condition, events, evictions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cluster import errors, trace
from cluster.api.resources import lookup
from cluster.client import Client
from tasks.runtime import events

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")
COMPONENT = "default-scheduler"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bind(client: Client, pod: Obj, node: str) -> bool:
    """POST the pod's ``binding`` subresource; False if it is already bound (or gone)."""
    md = pod["metadata"]
    body = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": md["name"], "uid": md.get("uid")},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    trace.mark_pod(pod, "bind_posted")
    try:
        client.request("POST", client.path(PODS, md["namespace"], md["name"], "binding"), body)
        trace.mark_pod(pod, "bound")
        return True
    except (errors.Conflict, errors.NotFound):
        return False


def mark_unschedulable(client: Client, pod: Obj, message: str, reason: str = "Unschedulable") -> bool:
    """Set ``PodScheduled=False`` with ``message`` (once per distinct message) and record an Event.

    Returns False when the pod already says exactly that (nothing written).
    """
    md = pod["metadata"]
    for cond in pod.get("status", {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("message") == message
            and cond.get("status") == "False"
        ):
            return False
    patch = {
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": None,
                    "lastTransitionTime": _now(),
                }
            ]
        }
    }
    try:
        client.patch(PODS, md["name"], patch, md["namespace"], patch_type="strategic", subresource="status")
    except errors.NotFound:
        return False
    record_event(client, pod, "Warning", "FailedScheduling", message)
    return True


def record_event(client: Client, pod: Obj, type_: str, reason: str, message: str) -> None:
    """A core/v1 Event about ``pod`` from the default scheduler (best effort, repeats counted)."""
    events.record(client, {"apiVersion": "v1", "kind": "Pod", **pod}, type_, reason, message, COMPONENT)


def nominate(client: Client, pod: Obj, node: str) -> None:
    """Set ``status.nominatedNodeName`` while preemption makes room."""
    md = pod["metadata"]
    try:
        client.patch(
            PODS, md["name"], {"status": {"nominatedNodeName": node}}, md["namespace"], subresource="status"
        )
    except errors.NotFound:
        pass


def evict(client: Client, victim: Obj, preemptor: Obj) -> None:
    """Evict a lower-priority pod (preemption), with an Event on it."""
    md = victim["metadata"]
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": md["name"], "namespace": md["namespace"]},
    }
    try:
        client.request("POST", client.path(PODS, md["namespace"], md["name"], "eviction"), body)
    except errors.NotFound:
        return
    pm = preemptor["metadata"]
    record_event(
        client,
        victim,
        "Normal",
        "Preempted",
        f"Preempted by pod {pm.get('uid', '')} on node {victim['spec'].get('nodeName', '')}",
    )


def scheduled_event(client: Client, pod: Obj, node: str) -> None:
    md = pod["metadata"]
    record_event(
        client, pod, "Normal", "Scheduled", f"Successfully assigned {md['namespace']}/{md['name']} to {node}"
    )
