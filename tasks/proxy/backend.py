"""How a node's proxy rules are made real: the ``ProxyBackend`` protocol and the process-wide hook.

A backend makes the node's packet filter or forwarder equal to a ``ProxyState``: ``apply(state)``
installs exactly what the state says (removing everything else it installed before) and returns
summary counts for the log; ``cleanup()`` removes everything it ever installed. The node agent installs
a factory once (``install(lambda: NftablesBackend(node))``); the proxy sync asks ``current()``, which
raises ``RuntimeError`` in a process that is not a node.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tasks.proxy.model import ProxyState
from tasks.runtime.hooks import Hook


@runtime_checkable
class ProxyBackend(Protocol):
    """One way of enforcing Services on a node (``mode`` is one of ``model.PROXY_MODES``)."""

    mode: str

    def apply(self, state: ProxyState) -> dict:
        """Make the node's rules equal to ``state``; summary counts (services, endpoints, ...)."""
        ...

    def cleanup(self) -> None:
        """Remove every rule or listener this backend installed."""
        ...


_hook: Hook[ProxyBackend] = Hook("proxy backend")
install = _hook.install
uninstall = _hook.uninstall
installed = _hook.installed
current = _hook.current
