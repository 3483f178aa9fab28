"""How kubeq's long-running processes set Python's cyclic garbage collector.

The control plane holds large, long-lived caches (a scheduler's nodes and pods, a node's watch of
its pods, an informer's objects) and allocates many short-lived dicts per request or sync. With the
default thresholds (700, 10, 10) the collector runs every 700 net container allocations and, every
hundred of those, walks every object the process holds; a LIST page or a cache refill triggers it
hundreds of times. ``tune()`` raises the young threshold so collections run far less often, and
``freeze()`` moves what a process holds after start-up (modules, settings, caches filled at start)
out of the collector's reach for good. Neither changes what is freed by reference counting, which is
nearly everything the control plane drops; only cyclic garbage waits longer.

``KUBEQ_GC_THRESHOLD=700,10,10`` restores Python's defaults (or sets any other thresholds).
"""

from __future__ import annotations

import gc
import os

DEFAULT = (50_000, 20, 100)


def thresholds(text: str | None = None) -> tuple[int, int, int]:
    """The thresholds from ``text`` (``"a,b,c"``; ``KUBEQ_GC_THRESHOLD`` when None), else ``DEFAULT``."""
    raw = os.environ.get("KUBEQ_GC_THRESHOLD", "") if text is None else text
    try:
        a, b, c = (int(x) for x in raw.split(","))
    except ValueError:
        return DEFAULT
    return (a, b, c) if min(a, b, c) >= 0 else DEFAULT


def tune() -> tuple[int, int, int]:
    """Sets this process's collector thresholds (see the module docstring); returns them."""
    chosen = thresholds()
    gc.set_threshold(*chosen)
    return chosen


def freeze() -> int:
    """Moves every object this process holds now out of the collector's reach; returns how many
    objects are frozen. Call once start-up is done, before serving."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
