"""The process-wide hook to this node's container runtime: ``install(factory)`` then ``current()``.

The node agent installs a factory once at start (``install(lambda: RuntimeClient(socket))``); tests
install one around an in-process runtime. ``current()`` makes the runtime on first use and hands the
same instance to every later call; it raises ``RuntimeError`` when no hook was installed (a process
that is not a node must never run kubelet syncs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tasks.kubelet.cri import RuntimeService

_lock = threading.Lock()
_factory: Callable[[], RuntimeService] | None = None
_instance: RuntimeService | None = None


def install(factory: Callable[[], RuntimeService]) -> None:
    """Use ``factory`` to make this process's runtime (replacing any earlier hook and instance)."""
    global _factory, _instance
    with _lock:
        _factory, _instance = factory, None


def uninstall() -> None:
    """Forget the hook and its instance (tests)."""
    global _factory, _instance
    with _lock:
        _factory, _instance = None, None


def installed() -> bool:
    return _factory is not None


def current() -> RuntimeService:
    """The node's RuntimeService, made by the installed factory on first use."""
    global _instance
    with _lock:
        if _instance is None:
            if _factory is None:
                raise RuntimeError("no container runtime installed in this process (not a node agent)")
            _instance = _factory()
        return _instance
