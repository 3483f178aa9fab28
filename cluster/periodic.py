"""Background loops: ``every(interval, fn, name)`` runs ``fn`` in a daemon thread every ``interval`` s.

A failing round is logged and the next one runs as planned (Redis away for a moment must not end the
loop). The returned event stops the loop when set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kubeq.periodic")


def every(interval: float, fn: Callable[[], Any], name: str) -> threading.Event:
    """Start the loop; ``name`` names the thread and the log lines of failed rounds."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                fn()
            except Exception:
                log.warning("%s failed; trying again in %.0f s", name, interval, exc_info=True)

    threading.Thread(target=loop, name=name, daemon=True).start()
    return stop
