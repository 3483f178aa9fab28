"""Where an API request's time goes: decode, admission, store and encode, summed per verb.

Contract: ``begin()`` at the start of a resource request clears this request's accumulators;
``decoded(seconds)`` adds body parsing time (handlers call it around ``codecs.decode_object``);
the Store methods and the registry's schema check wrapped by ``instrument(registry)`` add their
time by themselves; ``finish(verb, handler_seconds, encode_seconds)`` splits the handler's time
and adds every phase to per-process sums that ``flush`` (every 0.1 s, and before ``/metrics`` is
rendered) moves into ``kubeq_apiserver_phase_seconds_total{verb,phase}`` (see ``metrics``):

- decode: body parse (JSON/YAML/protobuf) + schema conversion (``check_schema``: kind/apiVersion,
  unknown and mistyped fields);
- store: wall time inside ``Store`` methods (object codec + the Redis round trips, including the
  wait for this worker's CPU while other greenlets run);
- admission: the rest of the handler (defaults, validation, strategy, managedFields, admission
  plugins; for reads: query parsing, selectors and Table rendering);
- encode: serialising the reply.

The accumulators are greenlet-local under gevent (``threading.local`` is created after gunicorn's
monkey patching, by ``instrument``) and thread-local otherwise. Cost per request: a few
``perf_counter`` calls and float additions, no allocation beyond the floats; the counters' locks
(and mmap writes in multi-process mode) are paid once per flush, not per request.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from cluster.apiserver import metrics
from cluster.periodic import every

PHASES = metrics.PHASES
# Store methods a request handler reaches; watch/consume are long-lived and stay untimed.
_STORE_METHODS = ("create", "update", "delete", "get", "list", "guaranteed_update", "current_revision")
_clock = time.perf_counter


class _State:
    """Per-request sums (seconds); one instance per greenlet/thread through ``threading.local``."""

    decode = 0.0
    store = 0.0
    depth = 0  # Store calls in progress: a method calling another is timed once


_local: Any = None
_sums: dict[str, list[float]] = {}  # verb -> pending decode, admission, store, encode seconds
FLUSH_INTERVAL = 0.1  # seconds; readers of /metrics see at most this much less
_flushing: list[threading.Event] = []


def _state() -> Any:
    global _local
    if _local is None:  # first use after gevent's monkey patching: greenlet-local then
        _local = type("_PhaseLocal", (threading.local, _State), {})()
    return _local


def begin() -> None:
    """Start timing a request on this greenlet/thread."""
    state = _state()
    state.decode = 0.0
    state.store = 0.0
    state.depth = 0


def decoded(seconds: float) -> None:
    """Add body parse / schema conversion time to the current request."""
    _state().decode += seconds


def finish(verb: str, handler_seconds: float, encode_seconds: float) -> None:
    """Add the current request's phases to this process's per-verb sums (published by ``flush``)."""
    state = _state()
    decode, store = state.decode, state.store
    sums = _sums.get(verb)
    if sums is None:
        sums = _sums[verb] = [0.0, 0.0, 0.0, 0.0]
    sums[0] += decode
    sums[1] += max(handler_seconds - decode - store, 0.0)
    sums[2] += store
    sums[3] += encode_seconds


def flush() -> None:
    """Move the pending sums into the Prometheus counters. Runs every ``FLUSH_INTERVAL`` seconds
    and before ``/metrics`` is rendered; between greenlets it cannot interleave with ``finish``
    (no I/O here), between threads an addition racing the reset may rarely be lost."""
    for verb, sums in list(_sums.items()):
        counters = metrics.phase_counters(verb)
        for i, value in enumerate(sums):
            if value:
                sums[i] = 0.0
                counters[i].inc(value)


def timed_decode(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` adding its wall time to the request's "decode" sum."""

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = _clock()
        try:
            return func(*args, **kwargs)
        finally:
            _state().decode += _clock() - t0

    timed.__kubeq_phase__ = True  # type: ignore[attr-defined]
    return timed


def timed_store(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` adding its wall time to the request's "store" sum, outermost call only."""

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        state = _state()
        if state.depth:
            return func(*args, **kwargs)
        state.depth = 1
        t0 = _clock()
        try:
            return func(*args, **kwargs)
        finally:
            state.store += _clock() - t0
            state.depth = 0

    timed.__kubeq_phase__ = True  # type: ignore[attr-defined]
    return timed


def instrument(registry: Any) -> None:
    """Time ``registry.store``'s request-path methods (as "store") and the registry's schema
    check (as "decode"). Idempotent; wraps this store instance and the registry module's name only.
    """
    _state()
    if not _flushing:
        _flushing.append(every(FLUSH_INTERVAL, flush, "phase-metrics"))
        metrics.before_render(flush)
    store = registry.store
    for name in _STORE_METHODS:
        method = getattr(store, name, None)
        if method is not None and not getattr(method, "__kubeq_phase__", False):
            setattr(store, name, timed_store(method))
    from cluster.registry import registry as generic  # the module whose create/update call it

    check = getattr(generic, "check_schema", None)
    if check is not None and not getattr(check, "__kubeq_phase__", False):
        generic.check_schema = timed_decode(check)
