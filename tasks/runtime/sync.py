"""The Celery tasks ``kubeq.<controller>.sync(keys)``: one per registered controller.

A batch controller's run first fills itself up from the keys waiting in the controller's list
(``WorkQueue.take_batch``). A task run takes the processing lock of each key it can (``WorkQueue.begin``); keys held by
another run are skipped (they were marked dirty, so the holder queues them again). It calls the
controller's ``sync_batch`` on the keys it got, then per key: success forgets the failure count,
a float or ``Requeue`` runs the key again after that many seconds, an error backs off. Finally it
releases each key and queues again those added while it ran.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task

from cluster.settings import Settings
from tasks.runtime.controller import Context, Controller, Requeue
from tasks.runtime.registry import controllers
from tasks.runtime.workqueue import WorkQueue, task_name

TASK_TIME_LIMIT = 120  # seconds; far below the visibility timeout (locks are renewed meanwhile)

log = logging.getLogger("kubeq.sync")

_lock = threading.Lock()
_state: dict[str, Any] = {}


def runtime() -> tuple[WorkQueue, Context]:
    """This process's work queue and controller Context (API client, shared caches), made on first use."""
    with _lock:
        if "wq" not in _state:
            from cluster.client.client import client_for

            settings = Settings.from_env()
            _state["wq"] = WorkQueue.from_settings(settings)
            wq = _state["wq"]
            _state["ctx"] = Context(
                client=client_for(settings, user_agent="kubeq-controllers"),
                caches={},
                enqueue=wq.add,
                redis=wq.redis,
                broker_prefix=settings.broker_prefix,
            )
        return _state["wq"], _state["ctx"]


def _renew_while_running(
    wq: WorkQueue, ctl: Controller, keys: list[str], token: str, finished: threading.Event
) -> None:
    """Keep the keys' locks alive while their run lasts; a killed worker's locks lapse in one lease."""
    while not finished.wait(wq.lease / 3):
        try:
            wq.renew_many(ctl, keys, token)
        except Exception:  # Redis away for a moment: the next round tries again
            log.warning("renewing %s locks failed", ctl.name, exc_info=True)


def run_sync(ctl: Controller, keys: list[str], token: str) -> dict[str, str]:
    """One task run over ``keys``; returns each begun key's outcome (ok/requeue/error), for logs."""
    wq, ctx = runtime()
    if ctl.batch_size > 1:  # fill the run up from the keys waiting in the controller's list
        keys = list(keys) + wq.take_batch(ctl, ctl.batch_size - len(keys))
    got = wq.begin_many(ctl, list(dict.fromkeys(keys)), token)
    if not got:
        return {}
    finished = threading.Event()
    renewer = threading.Thread(target=_renew_while_running, args=(wq, ctl, got, token, finished), daemon=True)
    renewer.start()
    try:
        results = ctl.sync_batch(got, ctx)
    except Exception as exc:  # the whole batch failed: every key backs off
        log.exception("sync %s %s failed", ctl.name, got)
        results = dict.fromkeys(got, exc)
    finally:
        finished.set()
    outcome: dict[str, str] = {}
    try:
        for key in got:
            result = results.get(key)
            if isinstance(result, Requeue):
                result = result.after
            if result is None:
                wq.forget(ctl, key)
                outcome[key] = "ok"
            elif isinstance(result, BaseException):
                delay = wq.add_rate_limited(ctl, key)
                log.warning(
                    "sync %s %s failed (%s: %s); retry in %.3fs",
                    ctl.name,
                    key,
                    type(result).__name__,
                    result,
                    delay,
                )
                outcome[key] = "error"
            else:
                wq.add_after(ctl, key, float(result))
                outcome[key] = "requeue"
    finally:
        dirty = wq.done_many(ctl, got, token)
        if dirty:
            wq.add(ctl, dirty)
    return outcome


def _register(ctl: Controller) -> Any:
    @shared_task(
        name=task_name(ctl.name),
        bind=True,
        soft_time_limit=TASK_TIME_LIMIT * 0.9,
        time_limit=TASK_TIME_LIMIT,
    )
    def sync(self: Any, keys: list[str]) -> dict[str, str]:
        return run_sync(ctl, keys, self.request.id)

    return sync


TASKS = {name: _register(ctl) for name, ctl in controllers().items()}
