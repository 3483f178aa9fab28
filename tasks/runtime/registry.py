"""The table of controllers every kubeq process agrees on.

``controllers()`` instantiates the classes named in ``CONTROLLERS`` plus those in
``$KUBEQ_EXTRA_CONTROLLERS`` (comma-separated ``module:Class``, e.g. a test's sample controller),
keyed by ``Controller.name``. The dispatcher, the work queue, the sync tasks, the router and beat
all read this one table, so they agree on names, queues and batch sizes.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache

from tasks.runtime.controller import Controller

# Import paths of the built-in controllers, in registration order.
CONTROLLERS: list[str] = [
    "tasks.scheduler.controller:SchedulerController",
    "tasks.controllers.events:EventTTLController",
    "tasks.controllers.replicaset:ReplicaSetController",
    "tasks.controllers.deployment:DeploymentController",
    "tasks.controllers.gc:GarbageCollector",
    "tasks.controllers.namespace:NamespaceController",
    "tasks.controllers.serviceaccount:ServiceAccountController",
    "tasks.controllers.rootca:RootCAController",
    "tasks.controllers.job:JobController",
    "tasks.controllers.cronjob:CronJobController",
    "tasks.kubelet.controller:KubeletController",
    "tasks.proxy.controller:ProxyController",
    "tasks.controllers.nodelifecycle:NodeLifecycleController",
    "tasks.controllers.nodeipam:NodeIPAMController",
    "tasks.controllers.disruption:DisruptionController",
    "tasks.controllers.endpointslice:EndpointSliceController",
    "tasks.controllers.endpoints:EndpointsController",
    "tasks.cloud.service:ServiceLBController",
    "tasks.cloud.route:RouteController",
    "tasks.cloud.node:CloudNodeController",
    "tasks.controllers.certificates:CSRApprovingController",
    "tasks.controllers.certificates:CSRSigningController",
]


def load(path: str) -> type:
    """The class named by ``module:Class``; ImportError/AttributeError if it does not exist."""
    module, _, attr = path.strip().partition(":")
    if not module or not attr:
        raise ValueError(f"controller path must look like 'module:Class', got {path!r}")
    return getattr(importlib.import_module(module), attr)


def paths() -> tuple[str, ...]:
    """The built-in paths followed by the extra ones from the environment (duplicates dropped)."""
    extra = [p.strip() for p in os.environ.get("KUBEQ_EXTRA_CONTROLLERS", "").split(",") if p.strip()]
    return tuple(dict.fromkeys([*CONTROLLERS, *extra]))


def controllers() -> dict[str, Controller]:
    """Every registered controller by name (instantiated once per process and path list)."""
    return dict(_build(paths()))


@lru_cache(maxsize=8)
def _build(import_paths: tuple[str, ...]) -> tuple[tuple[str, Controller], ...]:
    table: dict[str, Controller] = {}
    for path in import_paths:
        ctl = load(path)()
        if ctl.name in table:
            raise ValueError(f"two controllers are named {ctl.name!r}")
        table[ctl.name] = ctl
    return tuple(table.items())
