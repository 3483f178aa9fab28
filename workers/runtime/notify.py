"""Telling the kubelet a container changed: queue its pod's key on the ``kubelet`` work queue.

``KubeletNotifier(node)`` is the daemon's default ``on_change``: it maps a container to its pod
(via the sandbox) and adds ``<node>/<namespace>/<pod>`` through ``WorkQueue.add("kubelet", ...)``.
Best-effort: failures (no broker, ...) are logged, never raised into the runtime.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from tasks.kubelet import cri

log = logging.getLogger(__name__)


def pod_key(node: str, sandbox: cri.SandboxStatus) -> str:
    return f"{node}/{sandbox.config.namespace}/{sandbox.config.name}"


class KubeletNotifier:
    """``__call__(status)`` queues the pod's kubelet key; ``sandbox_of`` finds the container's pod."""

    def __init__(
        self, node: str, sandbox_of: Callable[[str], cri.SandboxStatus] | None = None, queue: Any = None
    ) -> None:
        self.node = node
        self.sandbox_of = sandbox_of
        self._queue: Any = queue  # a WorkQueue; made from $KUBEQ_* settings on first use when None
        self._lock = threading.Lock()

    def queue(self) -> Any:
        with self._lock:
            if self._queue is None:
                from cluster.settings import Settings
                from tasks.runtime.workqueue import WorkQueue
                from workers.celery_app import app

                self._queue = WorkQueue.from_settings(Settings.from_env(), app)
            return self._queue

    def __call__(self, status: cri.ContainerStatus) -> None:
        try:
            assert self.sandbox_of is not None
            key = pod_key(self.node, self.sandbox_of(status.sandbox_id))
            self.queue().add("kubelet", [key])
        except Exception:  # noqa: BLE001  (best-effort: the kubelet's resync catches up)
            log.warning("could not queue kubelet key for container %s", status.id, exc_info=True)
