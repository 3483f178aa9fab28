"""The dispatcher: every change in the resource streams, mapped to controller keys and enqueued.

It reads the streams as one consumer of a Redis consumer group (``Store.consume``), so several
dispatchers share the work, a restarted one resumes with what it had not acknowledged, and a dead
one's entries are taken over once idle. For each batch it asks every controller's watches which
keys each change concerns, hands them to the work queue (``workqueue_add(controller, keys)``) and
only then acknowledges the batch: a crash between the two re-delivers, never loses (the work queue
coalesces the duplicates).

A watch mapper that raises does not lose the change: the error is logged, the other controllers'
keys are still enqueued, and the entry is left unacknowledged, so the group hands it out again
after the claim idle time (to this dispatcher or another one). After ``max_attempts`` failures
seen by this process the entry is acknowledged anyway, with an error logged, so a mapper bug
cannot wedge an entry forever; the controller's periodic resync repairs what it missed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cluster import trace
from cluster.settings import Settings
from cluster.store import Store, StreamChange
from cluster.store.consumer import CLAIM_IDLE_MS
from tasks.runtime.controller import Change, Controller, Watch

log = logging.getLogger("kubeq.dispatcher")

GROUP = "kubeq-dispatch"
AddKeys = Callable[..., Any]  # add(controller, keys, force=False)


def default_consumer() -> str:
    """``<host>-<pid>``: unique per process; a restarted process's leftovers are claimed when idle."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Dispatcher:
    """Consume change batches, enqueue the keys they concern per controller, then acknowledge."""

    def __init__(
        self,
        store: Store,
        workqueue_add: AddKeys,
        controllers: Iterable[Controller],
        group: str = GROUP,
        consumer: str | None = None,
        *,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        max_attempts: int = 5,
    ) -> None:
        self.store = store
        self.workqueue_add = workqueue_add
        self.group = group
        self.consumer = consumer or default_consumer()
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.watches: dict[str, list[tuple[str, Watch]]] = {}  # resource -> [(controller name, watch)]
        for controller in controllers:
            for watch in controller.watches:
                self.watches.setdefault(watch.resource, []).append((controller.name, watch))
        self.resources = sorted(self.watches)
        self._unfinished: list[StreamChange] = []  # a batch whose keys could not be enqueued yet
        self._failures: dict[str, int] = {}  # entry id -> mapper failures seen here

    def run_once(self) -> int:
        """Handle one batch (waiting up to ``block_ms`` for one); returns how many changes it held.

        Raises what ``workqueue_add`` raises; the batch is then retried by the next call.
        """
        batch = self._unfinished or self.store.consume(
            self.group,
            self.consumer,
            self.resources,
            count=self.batch,
            block_ms=self.block_ms,
            claim_idle_ms=self.claim_idle_ms,
        )
        if not batch:
            return 0
        trace.mark_pods((c.object for c in batch if c.resource == "pods" and c.type == "ADDED"), "dispatched")
        self._unfinished = batch
        keys, failed = self.map([c for c in batch if not c.redelivered])
        again, failed_again = self.map([c for c in batch if c.redelivered])
        failed |= failed_again
        for (controller, delay), controller_keys in keys.items():
            forced = set(again.get((controller, delay), ()))
            fresh = [k for k in controller_keys if k not in forced]
            if fresh and delay:
                self.workqueue_add(controller, fresh, delay=delay)
            elif fresh:
                self.workqueue_add(controller, fresh)
        for (controller, _), controller_keys in again.items():
            # Re-delivered changes: their keys are sent even if marked queued, since the process that
            # marked them may have died before sending. A duplicate message costs one extra sync.
            self.workqueue_add(controller, controller_keys, force=True)
        self._unfinished = []
        self.store.ack(self.group, [c for c in batch if not self._keep_pending(c, c.id in failed)])
        return len(batch)

    def map(self, batch: list[StreamChange]) -> tuple[dict[tuple[str, float], list[str]], set[str]]:
        """Keys per (controller, watch delay) (each once, in order of first appearance) and the
        IDs of changes some mapper failed on."""
        keys: dict[tuple[str, float], dict[str, None]] = {}
        failed: set[str] = set()
        for entry in batch:
            change = Change(entry.resource, entry.type, entry.object, entry.prev, entry.revision)
            for controller, watch in self.watches.get(entry.resource, ()):
                try:
                    mapped = list(watch.keys(change))
                except Exception:
                    log.exception(
                        "%s: watch on %s failed for change %s", controller, entry.resource, entry.id
                    )
                    failed.add(entry.id)
                    continue
                if mapped:
                    keys.setdefault((controller, watch.delay), {}).update(dict.fromkeys(mapped))
        return {group: list(k) for group, k in keys.items()}, failed

    def _keep_pending(self, entry: StreamChange, failed: bool) -> bool:
        """Whether to leave ``entry`` unacknowledged so that it is handed out again later."""
        if not failed:
            self._failures.pop(entry.id, None)
            return False
        attempts = self._failures[entry.id] = self._failures.get(entry.id, 0) + 1
        if attempts < self.max_attempts:
            return True
        log.error("giving up on change %s of %s after %d failed attempts", entry.id, entry.resource, attempts)
        del self._failures[entry.id]
        return False

    def run(self, stop: threading.Event) -> None:
        """``run_once`` until ``stop`` is set; errors are logged and retried with a growing pause."""
        pause = 0.1
        while not stop.is_set():
            try:
                self.run_once()
                pause = 0.1
            except Exception:
                log.exception("dispatch failed; retrying in %.1fs", pause)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)


# -- entry point ---------------------------------------------------------------------------------


def _work_queue_add(settings: Settings) -> AddKeys:
    """``WorkQueue.add`` on the broker of ``settings``, sending through kubeq's Celery app."""
    try:
        from tasks.runtime.workqueue import WorkQueue
    except ImportError as err:
        raise RuntimeError(f"the dispatcher needs the work queue (tasks.runtime.workqueue): {err}") from err
    from workers.celery_app import make_app

    app = make_app(settings)
    app.set_current()
    return WorkQueue.from_settings(settings, app).add


def _controllers() -> list[Controller]:
    try:
        from tasks.runtime.registry import controllers
    except ImportError as err:
        raise RuntimeError(
            f"the dispatcher needs the controller registry (tasks.runtime.registry): {err}"
        ) from err
    found = controllers()
    return list(found.values()) if isinstance(found, Mapping) else list(found)


def run_dispatcher(
    settings: Settings,
    *,
    group: str = GROUP,
    consumer: str | None = None,
    claim_idle_ms: int = CLAIM_IDLE_MS,
    stop: threading.Event | None = None,
) -> None:
    """Dispatch for every registered controller until ``stop`` is set (or SIGTERM/SIGINT when
    called from the main thread without ``stop``)."""
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
    store = Store.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", settings.state_prefix)
    dispatcher = Dispatcher(
        store, _work_queue_add(settings), _controllers(), group, consumer, claim_idle_ms=claim_idle_ms
    )
    log.info(
        "dispatcher %s of group %s watching %s", dispatcher.consumer, group, ", ".join(dispatcher.resources)
    )
    dispatcher.run(stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers.dispatcher", description=__doc__.split("\n")[0])
    parser.add_argument("--group", default=GROUP, help="consumer group (default %(default)s)")
    parser.add_argument("--consumer", default=None, help="consumer name (default <host>-<pid>)")
    parser.add_argument(
        "--claim-idle",
        type=float,
        default=CLAIM_IDLE_MS / 1000,
        help="seconds after which another consumer's unacknowledged changes are taken over",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_dispatcher(
        Settings.from_env(),
        group=args.group,
        consumer=args.consumer,
        claim_idle_ms=int(args.claim_idle * 1000),
    )


if __name__ == "__main__":
    main()
