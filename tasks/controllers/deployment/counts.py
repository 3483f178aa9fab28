"""Numbers a rollout is computed from: maxSurge/maxUnavailable, replica sums, ReplicaSet orderings.

Every function reads plain API objects (dicts). A ReplicaSet's ``spec.replicas`` is what it is
asked to run; its ``status`` is what its controller last reported (and may lag behind).
"""

from __future__ import annotations

import math
from typing import Any

Obj = dict[str, Any]


def spec_replicas(obj: Obj | None) -> int:
    """``spec.replicas`` of a Deployment or ReplicaSet (0 for None; 1 when unset, as defaulted)."""
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_of(obj: Obj | None, field: str) -> int:
    """An integer status field (0 when absent or for None)."""
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(field) or 0)


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString (``3`` or ``"25%"``) against ``total``: percentages round up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        share = int(text[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(text)


def is_rolling(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate Deployment: surge rounds up, unavailable down;
    when both come to 0, one pod may be unavailable (else no rollout could ever move)."""
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = spec_replicas(d)
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    """How many pods above ``replicas`` a rollout may run (0 for Recreate)."""
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    """How many of ``replicas`` may be unavailable during a rollout (0 for Recreate), at most replicas."""
    replicas = spec_replicas(d)
    if not is_rolling(d) or replicas == 0:
        return 0
    return min(fenceposts(d)[1], replicas)


def desired_total(rss: list[Obj | None]) -> int:
    """Sum of ``spec.replicas``."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def actual_total(rss: list[Obj | None]) -> int:
    """Sum of ``status.replicas`` (the pods the ReplicaSets last reported)."""
    return sum(status_of(rs, "replicas") for rs in rss if rs is not None)


def pods_upper_bound(rss: list[Obj | None]) -> int:
    """A bound on the live pods: per ReplicaSet the larger of asked and last reported.

    A ReplicaSet just scaled down still runs its old pods until its controller deletes them (and
    reports so); counting ``max(spec, status)`` keeps a surge from starting before they are gone.
    """
    return sum(max(spec_replicas(rs), status_of(rs, "replicas")) for rs in rss if rs is not None)


def available_total(rss: list[Obj | None]) -> int:
    """Sum of ``status.availableReplicas``."""
    return sum(status_of(rs, "availableReplicas") for rs in rss if rs is not None)


def available_lower_bound(rss: list[Obj | None]) -> int:
    """Available pods that will survive: per ReplicaSet at most its ``spec.replicas``."""
    return sum(min(status_of(rs, "availableReplicas"), spec_replicas(rs)) for rs in rss if rs is not None)


def ready_total(rss: list[Obj | None]) -> int:
    return sum(status_of(rs, "readyReplicas") for rs in rss if rs is not None)


def active(rss: list[Obj | None]) -> list[Obj]:
    """The ReplicaSets asked to run at least one pod."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def created(rs: Obj) -> tuple[str, str]:
    md = rs["metadata"]
    return (md.get("creationTimestamp") or "", md.get("name") or "")


def oldest_first(rss: list[Obj]) -> list[Obj]:
    return sorted(rss, key=created)


def by_size_older_first(rss: list[Obj]) -> list[Obj]:
    """Largest first; among equals, the oldest first."""
    return sorted(oldest_first(rss), key=spec_replicas, reverse=True)


def by_size_newer_first(rss: list[Obj]) -> list[Obj]:
    """Largest first; among equals, the newest first."""
    return sorted(sorted(rss, key=created, reverse=True), key=spec_replicas, reverse=True)
