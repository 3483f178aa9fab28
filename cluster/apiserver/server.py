"""Running the API server under gunicorn with gevent workers (hundreds of open watches per worker)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from cluster.apiserver import onewrite
from cluster.apiserver.app import APIServer
from cluster.periodic import every
from cluster.registry import Registry, ensure_system_namespaces, ensure_system_priority_classes
from cluster.registry.bootstrap import (
    ensure_kubernetes_service,
    repair_service_allocations,
    start_allocation_repair,
)
from cluster.registry.servicealloc import ServiceAllocator
from cluster.settings import Settings
from cluster.store import Store

log = logging.getLogger("kubeq.apiserver")


def build_app(settings: Settings) -> APIServer:
    """The WSGI app on the configured Redis, with a background compactor."""
    store = Store.from_url(settings.redis_url, settings.state_prefix)
    start_compactor(store, settings)
    registry = Registry(store, ServiceAllocator.from_settings(store, settings))
    start_allocation_repair(registry)
    return APIServer(registry, heartbeat=settings.watch_heartbeat)


def start_compactor(store: Store, settings: Settings) -> threading.Event:
    """Trim the change streams every ``compaction_interval`` seconds, keeping ``compaction_keep``."""
    return every(settings.compaction_interval, lambda: store.compact(settings.compaction_keep), "compactor")


def bootstrap(settings: Settings) -> None:
    """Create what every cluster starts with (idempotent)."""
    store = Store.from_url(settings.redis_url, settings.state_prefix)
    registry = Registry(store, ServiceAllocator.from_settings(store, settings))
    ensure_system_namespaces(registry)
    ensure_system_priority_classes(registry)
    ensure_kubernetes_service(registry, settings)
    repair_service_allocations(registry)


def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (gunicorn's master handles signals and workers)."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{settings.bind_address}:{settings.port}",
                "workers": settings.apiserver_workers,
                "worker_class": "gevent",
                "worker_connections": settings.worker_connections,
                "timeout": 60,
                "graceful_timeout": 3,
                "keepalive": 75,
                "loglevel": "warning",
                "proc_name": "kubeq-apiserver",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> APIServer:
            onewrite.install()
            return build_app(settings)

    bootstrap(settings)
    _Gunicorn().run()
