"""Process-wide hooks: a node agent installs a factory once, tasks ask for the instance it makes.

``Hook(what)``: ``install(factory)`` replaces any earlier factory and instance; ``current()`` makes
the instance on first use and hands the same one to every later call; it raises ``RuntimeError``
naming ``what`` when nothing was installed (a process that is not a node must never run node syncs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Hook(Generic[T]):
    """One lazily made, shared instance of ``T`` behind an installable factory."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self._factory: Callable[[], T] | None = None
        self._instance: T | None = None

    def install(self, factory: Callable[[], T]) -> None:
        with self._lock:
            self._factory, self._instance = factory, None

    def uninstall(self) -> None:
        with self._lock:
            self._factory, self._instance = None, None

    def installed(self) -> bool:
        return self._factory is not None

    def current(self) -> T:
        with self._lock:
            if self._instance is None:
                if self._factory is None:
                    raise RuntimeError(f"no {self.what} installed in this process (not a node agent)")
                self._instance = self._factory()
            return self._instance
