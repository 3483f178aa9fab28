"""The work queue: client-go's coalescing semantics on Redis, delivering keys as Celery tasks.

Guarantees (each key is per controller):

- a key already queued is not queued again (``pending`` marker, set before the message is sent);
- one key never runs on two workers at once (``proc`` lock with a lease, taken by ``begin``);
- a key added while it runs is marked ``dirty`` and queued exactly once more when ``done``;
- failures back off per key (5 ms doubling up to ``MAX_COUNTDOWN``) and through a token bucket
  per controller (``rate``/s, ``burst``), whichever is longer.

Controllers with ``batch_size`` > 1 (the scheduler) do not get one message per add: an add
sends its keys in a run only when no run is outstanding (the ``kick`` marker) and otherwise
appends them to the list ``batch:<controller>``; every run fills itself up to ``batch_size``
from that list (``take_batch``) and kicks another run if keys are left. A backlog thus becomes a
few large runs, not thousands of small ones. The kick marker lives ``KICK_TTL`` seconds, so a
lost run delays the list by that much at most.

Keys live under ``<broker prefix>wq:`` and are coordination, not cluster state. Every multi-step
change is one Lua script, so concurrent adders, workers and dispatchers never interleave.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import celery

from cluster.store.connection import redis_client

if TYPE_CHECKING:
    import redis

    from cluster.settings import Settings
    from tasks.runtime.controller import Controller

VISIBILITY_TIMEOUT = 3600  # seconds before the Redis broker re-delivers an unacknowledged message
MAX_COUNTDOWN = 300  # the longest delay (backoff, requeue) a key waits; far below the visibility timeout
LEASE = 30  # seconds a ``proc`` lock lives if its holder dies (a running task renews it every LEASE/3)
PENDING_TTL = VISIBILITY_TIMEOUT  # a pending marker whose message was lost expires (resync repairs it)
DIRTY_TTL = 2 * LEASE
KICK_TTL = 5  # seconds an outstanding kick holds off the next one (a lost kick stalls no longer)
FAILS_TTL = 4 * MAX_COUNTDOWN  # a key that stopped failing long ago starts its backoff afresh

# KEYS: (pending, proc, dirty) per key. ARGV: pending ttl ms, dirty ttl ms.
# Returns the 0-based indexes of the keys newly marked pending (to be sent).
_ADD = """
local out = {}
for i = 1, #KEYS, 3 do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    if redis.call('EXISTS', KEYS[i + 1]) == 1 then
      redis.call('SET', KEYS[i + 2], '1', 'PX', ARGV[2])
    else
      redis.call('SET', KEYS[i], '1', 'PX', ARGV[1])
      out[#out + 1] = (i - 1) / 3
    end
  end
end
return out
"""

# KEYS: (pending, proc, dirty, after) per key. ARGV: token, lease ms, dirty ttl ms.
# Returns 1 per key whose lock was taken (free or already held by this token), else 0 (marked dirty).
# A delayed message that arrives clears ``after``, so the next ``add_after`` sends again.
_BEGIN = """
local out = {}
for i = 1, #KEYS, 4 do
  redis.call('DEL', KEYS[i], KEYS[i + 3])
  local holder = redis.call('GET', KEYS[i + 1])
  if (not holder) or holder == ARGV[1] then
    redis.call('SET', KEYS[i + 1], ARGV[1], 'PX', ARGV[2])
    redis.call('DEL', KEYS[i + 2])
    out[#out + 1] = 1
  else
    redis.call('SET', KEYS[i + 2], '1', 'PX', ARGV[3])
    out[#out + 1] = 0
  end
end
return out
"""

# KEYS: proc per key. ARGV: token, lease ms. Extends the locks this token holds.
_RENEW = """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    n = n + 1
  end
end
return n
"""

# KEYS: (proc, dirty) per key. ARGV: token. Releases locks this token holds (or that expired);
# returns 1 per key that was dirty (the caller queues it again), else 0.
_DONE = """
local out = {}
for i = 1, #KEYS, 2 do
  local holder = redis.call('GET', KEYS[i])
  if holder == ARGV[1] or not holder then
    if holder then redis.call('DEL', KEYS[i]) end
    out[#out + 1] = redis.call('DEL', KEYS[i + 1])
  else
    out[#out + 1] = 0
  end
end
return out
"""

# KEYS: fails, bucket. ARGV: base s, cap s, rate /s, burst, fails ttl s.
# Counts a failure and returns the delay (seconds, as a string): max(per-key backoff, bucket wait).
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
local base, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local per = cap
if n < 64 then per = math.min(cap, base * 2 ^ (n - 1)) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate) - 1
tokens = math.max(tokens, -rate * cap)
redis.call('HSET', KEYS[2], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[2], math.ceil(burst / rate + cap) + 1)
local wait = 0
if tokens < 0 then wait = -tokens / rate end
return string.format('%.6f', math.min(cap, math.max(per, wait)))
"""

# KEYS: after. ARGV: delay ms. Returns 1 if a delayed message should be sent (none due sooner).
_AFTER = """
local t = redis.call('TIME')
local due = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur and cur <= due then return 0 end
redis.call('SET', KEYS[1], string.format('%d', due), 'PX', tonumber(ARGV[1]) + 1)
return 1
"""


def task_name(controller: str) -> str:
    """The Celery task that syncs ``controller``'s keys: ``kubeq.<controller>.sync``."""
    return f"kubeq.{controller}.sync"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


class WorkQueue:
    """Coalescing, rate-limited delivery of controller keys as ``kubeq.<controller>.sync`` tasks.

    ``prefix`` is the broker key prefix (``Settings.broker_prefix``); every process that adds or
    processes keys must use the same one. ``controller`` arguments take a Controller or its name
    (looked up in ``tasks.runtime.registry``). Messages go through ``app`` (default: Celery's
    current app), whose router picks the controller's queue.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        prefix: str,
        app: celery.Celery | None = None,
        *,
        base_delay: float = 0.005,
        max_delay: float = MAX_COUNTDOWN,
        rate: float = 10.0,
        burst: int = 100,
        lease: float = LEASE,
    ) -> None:
        self.redis = redis_client
        self.prefix = prefix + "wq:"
        self._app = app
        self.base_delay, self.max_delay = base_delay, min(max_delay, MAX_COUNTDOWN)
        self.rate, self.burst, self.lease = rate, burst, lease
        self._add = redis_client.register_script(_ADD)
        self._begin = redis_client.register_script(_BEGIN)
        self._done = redis_client.register_script(_DONE)
        self._renew = redis_client.register_script(_RENEW)
        self._fail = redis_client.register_script(_FAIL)
        self._after = redis_client.register_script(_AFTER)

    @classmethod
    def from_settings(cls, settings: Settings, app: celery.Celery | None = None) -> WorkQueue:
        """The queue on ``settings.broker``; the bucket from $KUBEQ_WORKQUEUE_RATE / _BURST (10/s, 100)."""

        client = redis_client(settings.broker)  # a plain or a redis+sentinel:// URL
        rate = _env_float("KUBEQ_WORKQUEUE_RATE", 10.0)
        burst = int(_env_float("KUBEQ_WORKQUEUE_BURST", 100))
        return cls(client, settings.broker_prefix, app, rate=rate, burst=burst)

    @property
    def app(self) -> celery.Celery:
        return self._app or celery.current_app

    # -- adding ---------------------------------------------------------------------------------

    def add(
        self, controller: Controller | str, keys: Iterable[str], force: bool = False, delay: float = 0.0
    ) -> list[str]:
        """Queue the keys not already queued; returns those sent (in tasks of ``batch_size`` keys).

        A key that is running is marked dirty instead: it is queued once more when its run ends.
        ``force`` also sends keys already marked queued (for re-delivered changes, whose first
        sender may have died between marking and sending). ``delay`` > 0 runs each key after that
        many seconds instead (``add_after``: adds meanwhile join the run already due).
        """
        ctl = _controller(controller)
        keys = list(dict.fromkeys(keys))
        if delay > 0 and not force:
            return [key for key in keys if self.add_after(ctl, key, delay)]
        if not keys:
            return []
        names: list[str] = []
        for key in keys:
            names += [self._k("pending", ctl.name, key), self._k("proc", ctl.name, key)]
            names.append(self._k("dirty", ctl.name, key))
        picked = self._add(keys=names, args=[int(PENDING_TTL * 1000), int(DIRTY_TTL * 1000)])
        fresh = [keys[int(i)] for i in picked]
        if force:
            chosen = set(fresh)
            fresh += [
                k for k in keys if k not in chosen and not self.redis.exists(self._k("proc", ctl.name, k))
            ]
        size = max(1, int(getattr(ctl, "batch_size", 1) or 1))
        if size > 1 and fresh:
            try:
                self._add_batched(ctl.name, fresh, size)
            except Exception:
                self.redis.delete(*[self._k("pending", ctl.name, k) for k in fresh])
                raise
            return fresh
        for start in range(0, len(fresh), size):
            chunk = fresh[start : start + size]
            try:
                self._send(ctl.name, chunk, None)
            except Exception:
                self.redis.delete(*[self._k("pending", ctl.name, k) for k in fresh[start:]])
                raise
        return fresh

    def add_after(self, controller: Controller | str, key: str, seconds: float) -> bool:
        """Run ``key`` again after ``seconds`` (at most ``MAX_COUNTDOWN``); False if one is due sooner."""
        ctl = _controller(controller)
        delay = min(max(0.0, float(seconds)), self.max_delay)
        if delay <= 0:
            return bool(self.add(ctl, [key]))
        if not self._after(keys=[self._k("after", ctl.name, key)], args=[int(delay * 1000)]):
            return False
        self._send(ctl.name, [key], delay)
        return True

    def add_rate_limited(self, controller: Controller | str, key: str) -> float:
        """Count a failure of ``key`` and run it again after its backoff; returns the delay (s)."""
        ctl = _controller(controller)
        keys = [self._k("fails", ctl.name, key), self.prefix + f"bucket:{ctl.name}"]
        args = [repr(self.base_delay), repr(self.max_delay), repr(self.rate), self.burst, int(FAILS_TTL)]
        delay = float(self._fail(keys=keys, args=args))
        self.add_after(ctl, key, delay)
        return delay

    def running(self, controller: Controller | str) -> list[str]:
        """The keys of ``controller`` some worker holds the run lock of (live, or dead with its lock
        not lapsed yet)."""
        head = self._k("proc", _controller(controller).name, "")
        return [
            (name.decode() if isinstance(name, bytes) else name)[len(head) :]
            for name in self.redis.scan_iter(match=re.sub(r"([\\*?\[\]])", r"\\\1", head) + "*", count=1000)
        ]

    def forget(self, controller: Controller | str, key: str) -> None:
        """Reset ``key``'s failure count (after a success)."""
        self.redis.delete(self._k("fails", _controller(controller).name, key))

    def failures(self, controller: Controller | str, key: str) -> int:
        """How many times ``key`` failed since it was last forgotten."""
        return int(self.redis.get(self._k("fails", _controller(controller).name, key)) or 0)

    def take_batch(self, controller: Controller | str, room: int | None = None) -> list[str]:
        """Up to ``room`` (default ``batch_size``) keys from the controller's list, for the run
        about to start; kicks again when more are left, so another run takes them."""
        ctl = _controller(controller)
        size = max(1, int(getattr(ctl, "batch_size", 1) or 1))
        room = size if room is None else room
        listed, kick = self._batch_names(ctl.name)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(kick)  # first: an add from now on kicks anew
        if room > 0:
            pipe.lpop(listed, room)
        pipe.llen(listed)
        got = pipe.execute()
        keys, left = (got[1], got[2]) if room > 0 else (None, got[1])
        if left:
            self._kick(ctl.name)
        return [k.decode() if isinstance(k, bytes) else k for k in keys or []]

    # -- processing -----------------------------------------------------------------------------

    def begin(self, controller: Controller | str, key: str, token: str) -> bool:
        """Start processing ``key`` under ``token``; False (key marked dirty) if another run holds it."""
        return bool(self.begin_many(controller, [key], token))

    def begin_many(self, controller: Controller | str, keys: Sequence[str], token: str) -> list[str]:
        """``begin`` for several keys in one step; returns the keys this token now holds."""
        name = _controller(controller).name
        names: list[str] = []
        for key in keys:
            names += [self._k("pending", name, key), self._k("proc", name, key)]
            names += [self._k("dirty", name, key), self._k("after", name, key)]
        if not names:
            return []
        got = self._begin(keys=names, args=[token, int(self.lease * 1000), int(DIRTY_TTL * 1000)])
        return [key for key, ok in zip(keys, got, strict=True) if ok]

    def done(self, controller: Controller | str, key: str, token: str) -> bool:
        """End processing ``key``; True if it was added meanwhile (the caller adds it again)."""
        return bool(self.done_many(controller, [key], token))

    def renew_many(self, controller: Controller | str, keys: Sequence[str], token: str) -> int:
        """Extend the ``proc`` locks ``token`` holds on ``keys`` by a lease; returns how many it held."""
        ctl = _controller(controller)
        names = [self._k("proc", ctl.name, k) for k in keys]
        return int(self._renew(keys=names, args=[token, int(self.lease * 1000)]))

    def done_many(self, controller: Controller | str, keys: Sequence[str], token: str) -> list[str]:
        """``done`` for several keys in one step; returns the keys that were dirty."""
        name = _controller(controller).name
        names: list[str] = []
        for key in keys:
            names += [self._k("proc", name, key), self._k("dirty", name, key)]
        if not names:
            return []
        dirty = self._done(keys=names, args=[token])
        return [key for key, d in zip(keys, dirty, strict=True) if d]

    # -- internals ------------------------------------------------------------------------------

    def _k(self, kind: str, controller: str, key: str) -> str:
        return f"{self.prefix}{kind}:{controller}:{key}"

    def _batch_names(self, controller: str) -> tuple[str, str]:
        return f"{self.prefix}batch:{controller}", f"{self.prefix}kick:{controller}"

    def _add_batched(self, controller: str, keys: list[str], size: int) -> None:
        """Send the first ``size`` keys in a run when no run is kicked yet (so Flower shows them),
        and put the rest in the list for the runs to take."""
        listed, kick = self._batch_names(controller)
        rest = keys
        if self.redis.set(kick, "1", nx=True, ex=KICK_TTL):
            self._send(controller, keys[:size], None)
            rest = keys[size:]
        if rest:
            self.redis.rpush(listed, *rest)
            self._kick(controller)

    def _kick(self, controller: str) -> None:
        """Send an empty run (it takes its keys from the list) unless one is outstanding."""
        _, kick = self._batch_names(controller)
        if self.redis.set(kick, "1", nx=True, ex=KICK_TTL):
            self._send(controller, [], None)

    def _send(self, controller: str, keys: list[str], countdown: float | None) -> None:
        options: dict[str, Any] = {"task_id": uuid.uuid4().hex}
        if countdown:
            options["countdown"] = countdown
        self.app.send_task(task_name(controller), args=[keys], **options)


def _controller(controller: Controller | str) -> Controller:
    if not isinstance(controller, str):
        return controller
    from tasks.runtime.registry import controllers

    found = controllers().get(controller)
    if found is None:
        raise KeyError(f"no controller named {controller!r} is registered")
    return found
