"""Run callables at given monotonic times on a small thread pool.

One thread holds a heap of due times and hands due work to the pool, so thousands of pending timers
(lease renewals, pod starts) cost a heap entry each, not a thread each. Errors are logged, not raised.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class Timers:
    """``at(when, fn)`` runs ``fn()`` on the pool at monotonic time ``when``; ``close()`` stops."""

    def __init__(self, workers: int, name: str = "hollow") -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"{name}-timers", daemon=True)
        self._thread.start()

    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at monotonic time ``when`` (at once if past)."""
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (when, next(self._seq), fn))
            if self._heap[0][2] is fn:  # the new earliest: wake the loop to re-arm its wait
                self._cond.notify()

    def after(self, delay: float, fn: Callable[[], None]) -> None:
        self.at(time.monotonic() + delay, fn)

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pool now."""
        if not self._closed:
            self.pool.submit(self._run, fn)

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def close(self) -> None:
        """Drop pending timers, stop the timer thread, let running work finish in the background."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
        self._thread.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                self.pool.submit(self._run, fn)
            except RuntimeError:  # pool shut down
                return

    @staticmethod
    def _run(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("hollow task %r failed", fn)
