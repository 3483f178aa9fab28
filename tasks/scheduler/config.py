"""Scheduler profiles from a KubeSchedulerConfiguration-shaped YAML/JSON file.

``load_profiles(path)`` returns ``{schedulerName: Profile}``; ``profile_for(profiles, pod)`` picks the
profile a pod asked for (None: the pod belongs to another scheduler). Without a path the bundled
``profiles.yaml`` is used; ``$KUBEQ_SCHEDULER_CONFIG`` may point elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from tasks.scheduler.framework.profile import Profile
from tasks.scheduler.plugins import DEFAULT_PLUGINS, REGISTRY

DEFAULT_SCHEDULER = "default-scheduler"
BUNDLED = Path(__file__).with_name("profiles.yaml")


def build_profile(raw: dict[str, Any], percentage: int = 0) -> Profile:
    """One profile: the default plugins, minus ``disabled``, plus ``enabled`` (with weights and args)."""
    name = raw.get("schedulerName") or DEFAULT_SCHEDULER
    multi = ((raw.get("plugins") or {}).get("multiPoint")) or {}
    disabled = {p["name"] for p in multi.get("disabled") or ()}
    chosen: list[tuple[str, int]] = (
        [] if "*" in disabled else [(n, w) for n, w in DEFAULT_PLUGINS if n not in disabled]
    )
    for p in multi.get("enabled") or ():
        if p["name"] not in REGISTRY:
            raise ValueError(f"profile {name!r}: unknown plugin {p['name']!r}")
        chosen = [(n, w) for n, w in chosen if n != p["name"]]
        chosen.append((p["name"], int(p.get("weight", dict(DEFAULT_PLUGINS).get(p["name"], 1)))))
    args = {c["name"]: c.get("args") or {} for c in raw.get("pluginConfig") or ()}
    plugins = [(REGISTRY[n](args.get(n)), w) for n, w in chosen]
    return Profile.from_plugins(name, plugins, int(raw.get("percentageOfNodesToScore", percentage) or 0))


def parse_config(doc: dict[str, Any]) -> dict[str, Profile]:
    percentage = int(doc.get("percentageOfNodesToScore") or 0)
    raws = doc.get("profiles") or [{"schedulerName": DEFAULT_SCHEDULER}]
    profiles = {}
    for raw in raws:
        prof = build_profile(raw, percentage)
        if prof.scheduler_name in profiles:
            raise ValueError(f"duplicate profile {prof.scheduler_name!r}")
        profiles[prof.scheduler_name] = prof
    return profiles


def load_profiles(path: str | Path | None = None) -> dict[str, Profile]:
    """Profiles from ``path`` (YAML or JSON), ``$KUBEQ_SCHEDULER_CONFIG``, or the bundled file."""
    path = Path(path or os.environ.get("KUBEQ_SCHEDULER_CONFIG") or BUNDLED)
    text = path.read_text()
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return parse_config(doc or {})


def profile_for(profiles: dict[str, Profile], pod: dict[str, Any]) -> Profile | None:
    """The profile named by ``pod.spec.schedulerName`` (default ``default-scheduler``), or None."""
    return profiles.get((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER)
