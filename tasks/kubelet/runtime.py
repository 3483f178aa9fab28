"""The process-wide hook to this node's container runtime: ``install(factory)`` then ``current()``.

The node agent installs a factory once at start (``install(lambda: RuntimeClient(socket))``); tests
install one around an in-process runtime. ``current()`` makes the runtime on first use and hands the
same instance to every later call; it raises ``RuntimeError`` when no hook was installed (a process
that is not a node must never run kubelet syncs).
"""

from __future__ import annotations

from tasks.kubelet.cri import RuntimeService
from tasks.runtime.hooks import Hook

_hook: Hook[RuntimeService] = Hook("container runtime")
install = _hook.install
uninstall = _hook.uninstall
installed = _hook.installed
current = _hook.current
