"""The benchmarks' view of a running controller-manager: its work queue and its start-up resyncs.

A controller-manager resyncs every controller when it starts and again a lease later (see
``workers/roles.py``). Benchmarks that time something else revoke the second pass and wait for the
work queue to drain first, so the start-up work does not land inside their measurements.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import redis


class WorkQueueProbe:
    """Reads the controller-manager's work queue: keys queued, running or dirty per controller."""

    def __init__(self, client: redis.Redis, broker_prefix: str, controllers: list[str]) -> None:
        self.client, self.prefix, self.controllers = client, broker_prefix + "wq:", controllers

    def busy(self) -> bool:
        """Whether a key of the watched controllers is queued (pending), running (proc) or dirty.

        One SCAN of the work queue's keys, stopping at the first such key.
        """
        kinds = ("pending", "proc", "dirty")
        for name in self.client.scan_iter(match=f"{self.prefix}*", count=5000):
            kind, _, rest = str(name)[len(self.prefix) :].partition(":")
            if kind in kinds and rest.partition(":")[0] in self.controllers:
                return True
        return False

    def wait_drained(self, timeout: float, proc: subprocess.Popen[bytes], quiet: float = 0.5) -> float:
        """Block until no key is busy for ``quiet`` seconds; returns when it first became idle."""
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the controller-manager exited with code {proc.returncode}")
            t = time.perf_counter()
            if self.busy():
                idle_since = None
            elif idle_since is None:
                idle_since = t
            elif t - idle_since >= quiet:
                return idle_since
            time.sleep(0.05)
        raise RuntimeError(f"the work queue did not drain within {timeout:.0f} s")


def cancel_delayed_resyncs(
    client: redis.Redis, env: dict[str, str], proc: subprocess.Popen[bytes], timeout: float = 20.0
) -> int:
    """Revoke the controller-manager's second forced start-up resync (sent with a countdown of a
    lease), which would otherwise land in the middle of the measurements; returns how many.

    Its messages sit in the broker's ``unacked`` hash once the worker reserved them.
    """
    from tasks.runtime.registry import controllers

    expected = sum(1 for c in controllers().values() if c.queue == "controllers")
    app = celery_app(env)
    found: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline and proc.poll() is None:
        for raw in client.hvals(env["KUBEQ_BROKER_PREFIX"] + "unacked"):
            try:
                headers = json.loads(raw)[0]["headers"]
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            if headers.get("task") == "kubeq.resync" and headers.get("eta"):
                found.add(headers["id"])
        time.sleep(0.1)
    if found:
        app.control.revoke(sorted(found))
    app.close()
    return len(found)


def celery_app(env: dict[str, str]) -> Any:
    """kubeq's Celery app on the run's broker (imported here: the module stays free of Celery)."""
    from cluster.settings import Settings
    from workers.celery_app import make_app

    settings = Settings(
        redis_url=env["KUBEQ_REDIS_URL"], state_prefix=env["KUBEQ_STATE_PREFIX"],
        broker_prefix=env["KUBEQ_BROKER_PREFIX"],
    )  # fmt: skip
    return make_app(settings)


def queue_controllers(queue: str = "controllers") -> list[str]:
    """The names of the controllers that run on ``queue``."""
    from tasks.runtime.registry import controllers

    return sorted(name for name, ctl in controllers().items() if ctl.queue == queue)
