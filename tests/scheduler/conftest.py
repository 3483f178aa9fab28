"""Fixtures for the pure scheduler tests: profiles from the bundled config, a seeded rng."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tasks.scheduler.config import load_profiles
from tasks.scheduler.framework import Profile, ScheduleResult, Snapshot, schedule_one


@pytest.fixture(scope="session")
def profiles() -> dict[str, Profile]:
    return load_profiles()


@pytest.fixture
def profile(profiles: dict[str, Profile]) -> Profile:
    return profiles["default-scheduler"]


@pytest.fixture
def place(profile: Profile):
    """place(pod, nodes, placed_pods=()) -> ScheduleResult over a fresh snapshot."""

    def run(
        pod: dict[str, Any], nodes: list[dict[str, Any]], placed: list[dict[str, Any]] = ()
    ) -> ScheduleResult:
        snap = Snapshot.from_objects(nodes, placed)
        return schedule_one(profile, pod, snap, random.Random(7))

    return run
