"""Real Celery workers and beats as subprocesses on the test Redis, and the sample controller's records.

Each ``Harness`` has its own broker prefix, so its queues, work-queue keys, redbeat schedule and the
sample's records are apart from every other test module's. Processes start in their own session and
are stopped by process group (SIGTERM, then SIGKILL), so none outlive the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from cluster.settings import Settings
from tasks.runtime.workqueue import WorkQueue

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "tests.workers.sample_controller:Sample"


def wait_for(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """``cond()``'s first truthy value within ``timeout`` s; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


@dataclass
class Proc:
    """A started worker or beat process and its log file."""

    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)  # the group: prefork children too
        self.process.wait(5)


@dataclass
class Harness:
    redis_url: str
    tmp: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"test-wq-{uuid.uuid4().hex[:8]}:")
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings = Settings(redis_url=self.redis_url, broker_prefix=self.prefix)
        from workers.celery_app import make_app

        self.app = make_app(self.settings)
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.wq = WorkQueue(redis.Redis.from_url(self.redis_url), self.prefix, self.app)
        self.sample = self.prefix + "sample:"

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            KUBEQ_REDIS_URL=self.redis_url,
            KUBEQ_BROKER_PREFIX=self.prefix,
            KUBEQ_EXTRA_CONTROLLERS=SAMPLE,
            KUBEQ_SERVER="http://127.0.0.1:9",  # the sample never calls the API
            PYTHONPATH=str(ROOT),
            **self.env_extra,
        )

    def _spawn(self, argv: list[str], name: str) -> Proc:
        log = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
        out = open(log.with_suffix(".out"), "wb")  # the child keeps its own copy
        process = subprocess.Popen(
            [sys.executable, *argv, "--logfile", str(log)],
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        proc = Proc(process, log)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, pool: str = "prefork", concurrency: int = 2) -> Proc:
        """Start ``celery worker`` consuming ``controllers`` (not waiting for it: see ``ready``)."""
        argv = ["-m", "celery", "-A", "workers.celery_app", "worker", "-P", pool, "-c", str(concurrency)]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"]
        return self._spawn([*argv, "-Q", "controllers", "-l", "INFO"], name)

    def beat(self, name: str, lock_timeout: int, loop: float) -> Proc:
        argv = ["-m", "workers.beat", "--lock-timeout", str(lock_timeout), "--max-loop-interval", str(loop)]
        return self._spawn(argv, name)

    def ready(self, *procs: Proc, timeout: float = 30) -> None:
        for proc in procs:
            wait_for(lambda p=proc: " ready." in p.text() or p.process.poll() is not None, timeout, "worker")
            assert proc.process.poll() is None, proc.text()

    # -- the sample controller ------------------------------------------------------------------

    def order(self, kind: str, key: str, value: str | float = "1") -> None:
        self.redis.set(f"{self.sample}{kind}:{key}", value)

    def cancel(self, kind: str, key: str) -> None:
        self.redis.delete(f"{self.sample}{kind}:{key}")

    def runs(self, key: str | None = None) -> list[dict[str, Any]]:
        """Finished runs in the order they ended (optionally of one key)."""
        runs = [json.loads(r) for r in self.redis.lrange(self.sample + "runs", 0, -1)]
        return [r for r in runs if key is None or r["key"] == key]

    def starts(self, key: str | None = None) -> list[dict[str, Any]]:
        starts = [json.loads(r) for r in self.redis.lrange(self.sample + "starts", 0, -1)]
        return [r for r in starts if key is None or r["key"] == key]

    def settle(self, quiet: float = 0.4, timeout: float = 15) -> None:
        """Wait until no run started or ended for ``quiet`` seconds."""
        last = (-1, -1)
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            now = (self.redis.llen(self.sample + "starts"), self.redis.llen(self.sample + "runs"))
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet and now[0] == now[1]:
                return
            time.sleep(0.02)
        raise AssertionError("the sample never went quiet")

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        keys = list(self.redis.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()
