"""Running the API server under gunicorn with gevent workers (hundreds of open watches per worker)."""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
from typing import Any

from cluster.apiserver import onewrite
from cluster.apiserver.app import APIServer
from cluster.apiserver.security import security_from_settings
from cluster.periodic import every
from cluster.registry import Registry, ensure_system_namespaces, ensure_system_priority_classes
from cluster.registry.bootstrap import (
    ensure_kubernetes_service,
    repair_service_allocations,
    start_allocation_repair,
)
from cluster.registry.rbac_defaults import ensure_default_rbac
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
    security = security_from_settings(settings, registry)
    return APIServer(registry, heartbeat=settings.watch_heartbeat, security=security)


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
    ensure_default_rbac(registry)


def with_self_signed_pki(settings: Settings) -> Settings:
    """Secure settings missing TLS files get them from the PKI in ``settings.pki`` (made if missing).

    Like kube-apiserver's self-signed fallback, but the whole cluster PKI: the serving certificate, the
    client CA, the static token file and the ServiceAccount key pair fill every field left empty.
    Insecure settings, and settings that name their own serving certificate, are returned unchanged.
    """
    if settings.insecure or settings.tls_cert_file:
        return settings
    from cluster.pki import ensure_pki

    ips = [settings.bind_address] if settings.bind_address else []
    pki = ensure_pki(settings.pki, ips=ips, service_cidr=settings.service_cluster_ip_range)
    filled = {
        "tls_cert_file": pki.serving_cert,
        "tls_private_key_file": pki.serving_key,
        "client_ca_file": pki.ca_cert,
        "token_auth_file": pki.tokens,
        "service_account_key_file": pki.sa_pub,
        "service_account_signing_key_file": pki.sa_key,
    }
    return dataclasses.replace(settings, **{k: v for k, v in filled.items() if not getattr(settings, k)})


def tls_options(settings: Settings) -> dict[str, Any]:
    """gunicorn's TLS options: the serving pair, and client certificates verified against the client CA
    when a client sends one (``CERT_OPTIONAL``: bearer-token and anonymous clients send none)."""
    if settings.insecure:
        return {}
    if not (settings.tls_cert_file and settings.tls_private_key_file):
        raise ValueError("a secure API server needs --tls-cert-file and --tls-private-key-file")
    options: dict[str, Any] = {"certfile": settings.tls_cert_file, "keyfile": settings.tls_private_key_file}
    if settings.client_ca_file:
        options["ca_certs"] = settings.client_ca_file
        options["cert_reqs"] = ssl.CERT_OPTIONAL
    return options


def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (gunicorn's master handles signals and workers).

    Plain HTTP when ``settings.insecure``; otherwise TLS (see ``with_self_signed_pki``/``tls_options``).
    """
    from gunicorn.app.base import BaseApplication

    settings = with_self_signed_pki(settings)

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
            options.update(tls_options(settings))
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> APIServer:
            onewrite.install()
            return build_app(settings)

    bootstrap(settings)
    _Gunicorn().run()
