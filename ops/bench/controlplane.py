"""The benchmarks' view of a running controller-manager: its work queue and its start-up resync.

A controller-manager resyncs every controller when it starts (see ``workers/roles.py``). Benchmarks
that time something else wait for that work to drain first, so that it does not land inside their
measurements.
"""

from __future__ import annotations

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


def settle(admin: redis.Redis, env: dict[str, str], cm: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait until a controller-manager's start-up resync has drained from its work queue, so that it
    does not land inside a measurement; returns the seconds it took."""
    t0 = time.monotonic()
    WorkQueueProbe(admin, env["KUBEQ_BROKER_PREFIX"], queue_controllers()).wait_drained(
        timeout, cm, quiet=1.0
    )
    return time.monotonic() - t0
