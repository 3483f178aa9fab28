"""A controller for the work-queue tests: records every run in Redis and obeys per-key orders.

Orders (Redis keys under ``<broker prefix>sample:``): ``sleep:<key>`` seconds to sleep in the run,
``fail:<key>`` present -> the run returns an error, ``requeue:<key>`` seconds -> requeue after.
Records: ``starts`` gets ``{"key", "start", "pid"}`` when a run begins and ``runs`` gets
``{"key", "start", "end", "pid", "batch"}`` when it ends (JSON, RPUSH). ``all`` (a set) holds the
keys ``resync_keys`` returns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

import redis

from cluster.settings import Settings
from tasks.runtime.controller import Context, Watch, own_key


class Sample:
    name = "sample"
    queue = "controllers"
    watches = (Watch("configmaps", own_key),)
    batch_size = 1

    def __init__(self) -> None:
        settings = Settings.from_env()
        self.prefix = settings.broker_prefix + "sample:"
        self._url = settings.broker
        self._redis: redis.Redis | None = None

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(self._url, decode_responses=True)
        return self._redis

    def sync_batch(self, keys: list[str], ctx: Context) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in keys:
            start = time.time()
            self.redis.rpush(
                self.prefix + "starts", json.dumps({"key": key, "start": start, "pid": os.getpid()})
            )
            sleep, fail, requeue = self.redis.mget(
                [self.prefix + f"{kind}:{key}" for kind in ("sleep", "fail", "requeue")]
            )
            if sleep:
                time.sleep(float(sleep))
            record = {"key": key, "start": start, "end": time.time(), "pid": os.getpid(), "batch": keys}
            self.redis.rpush(self.prefix + "runs", json.dumps(record))
            out[key] = RuntimeError(f"{key}: told to fail") if fail else (float(requeue) if requeue else None)
        return out

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        return sorted(self.redis.smembers(self.prefix + "all"))
