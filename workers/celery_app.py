"""The Celery app every kubeq worker runs: Redis broker apart from state, late acks, task events.

Queues: ``controllers``, ``scheduler`` and one ``node.<name>`` per node, plus a broadcast exchange
for fan-out to every node. Workers are named by role (``scheduler@<host>``, ``kubelet@<node>``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue
from kombu.common import Broadcast

from cluster.settings import Settings
from cluster.store.connection import celery_broker, redbeat_settings
from tasks.runtime.workqueue import MAX_COUNTDOWN, VISIBILITY_TIMEOUT  # noqa: F401  (shared limits)

QUEUE_CONTROLLERS = "controllers"
QUEUE_SCHEDULER = "scheduler"
BROADCAST = "kubeq.nodes"  # fan-out to every node worker
BEAT_LOCK_TIMEOUT = 30  # seconds a dead beat keeps the redbeat lock before a standby takes over
BEAT_MAX_LOOP_INTERVAL = 5  # seconds between beat ticks (each tick renews the lock); < the lock timeout


def node_queue(node: str) -> str:
    return f"node.{node}"


def route(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any
) -> dict[str, str] | None:
    """``task_routes``: per-node tasks go to ``node.<kwargs['node']>`` (the sync of a controller whose
    queue is ``node``, the kubelet's and the proxy's, to the node its first key names);
    ``kubeq.<controller>.sync`` and ``kubeq.resync(controller=...)`` to that controller's queue; others
    by their name."""
    if name.startswith("kubeq.kubelet.") and kwargs and kwargs.get("node"):
        return {"queue": node_queue(kwargs["node"])}
    if name == "kubeq.resync":
        ctl = _controller((kwargs or {}).get("controller"))
        queue = ctl.queue if ctl else QUEUE_CONTROLLERS
        return {"queue": QUEUE_CONTROLLERS if queue == "node" else queue}  # listing node keys is central
    if name.startswith("kubeq.") and name.endswith(".sync"):
        ctl = _controller(name[len("kubeq.") : -len(".sync")])
        if ctl is not None and ctl.queue == "node":  # node controllers' keys start "<node>" or "<node>/"
            return {"queue": node_queue(str(args[0][0]).split("/", 1)[0])} if args and args[0] else None
        if ctl is not None:
            return {"queue": ctl.queue}
    return None


def _controller(name: str | None) -> Any:
    if not name:
        return None
    from tasks.runtime.registry import controllers

    return controllers().get(name)


def resync_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat entries: ``kubeq.resync`` of each registered controller every ``settings.resync_interval``."""
    from tasks.runtime.registry import controllers

    return {
        f"kubeq.resync.{name}": {
            "task": "kubeq.resync",
            "schedule": settings.resync_interval,
            "kwargs": {"controller": name},
        }
        for name in controllers()
    }


def make_app(settings: Settings | None = None) -> Celery:
    """A configured Celery app (tasks are registered by ``tasks.runtime``)."""
    settings = settings or Settings.from_env()
    broker_url, sentinel_options = celery_broker(settings.broker)  # redis+sentinel:// -> sentinel://
    redbeat_url, redbeat_options = redbeat_settings(settings.broker)
    app = Celery("kubeq", broker=broker_url)
    app.conf.update(
        broker_transport_options={
            "global_keyprefix": settings.broker_prefix,
            "visibility_timeout": VISIBILITY_TIMEOUT,
            **sentinel_options,
        },
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_default_queue=QUEUE_CONTROLLERS,
        task_queues=[
            Queue(QUEUE_CONTROLLERS, Exchange(QUEUE_CONTROLLERS), routing_key=QUEUE_CONTROLLERS),
            Queue(QUEUE_SCHEDULER, Exchange(QUEUE_SCHEDULER), routing_key=QUEUE_SCHEDULER),
            Broadcast(BROADCAST),
        ],
        task_routes=(route,),
        imports=("tasks.runtime.sync", "tasks.runtime.resync"),
        timezone="UTC",
        beat_schedule=resync_schedule(settings),
        beat_max_loop_interval=BEAT_MAX_LOOP_INTERVAL,
        redbeat_redis_url=redbeat_url,
        redbeat_redis_options=redbeat_options,
        redbeat_key_prefix=settings.broker_prefix + "redbeat:",
        redbeat_lock_timeout=BEAT_LOCK_TIMEOUT,
    )
    return app


app = make_app()
