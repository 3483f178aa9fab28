"""The long-running control-plane roles: a Celery worker per role, the dispatcher, Flower."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import socket
import threading
import time
from pathlib import Path

from cluster.settings import Settings
from workers.celery_app import QUEUE_CONTROLLERS, QUEUE_SCHEDULER, app

_QUIET = ["--without-gossip", "--without-mingle", "-E", "-l", "INFO"]


def hostname() -> str:
    return socket.gethostname()


def run_worker(queue: str, name: str, pool: str, concurrency: int = 1) -> None:
    """A Celery worker consuming ``queue``, named ``name`` (``scheduler@host``), with task events."""
    argv = ["worker", "-Q", queue, "-n", name, "-P", pool, *_QUIET]
    if pool != "solo":
        argv += ["-c", str(concurrency)]
    app.worker_main(argv)


def run_scheduler(settings: Settings) -> None:
    """``scheduler@<host>``: one process, solo pool (its cache of nodes and pods lives in it)."""
    take_over_scheduling(settings)
    run_worker(QUEUE_SCHEDULER, f"scheduler@{hostname()}", "solo")


def take_over_scheduling(settings: Settings) -> None:
    """What a starting scheduler worker does first, so a scheduler killed mid-pass loses no pod.

    A SIGKILLed worker leaves its task's message unacknowledged (until the visibility timeout),
    the work-queue locks of that task's pod keys held (until their lease) and its delayed retries
    lost. So: drop the scheduler's work-queue locks and queued markers, then send
    ``kubeq.resync(controller="scheduler")``, which this worker runs first and which queues every
    pod still waiting for a node. Safe beside a live scheduler worker: passes are serialised by the
    scheduling lock and the API refuses a second binding, so a key run twice costs one extra look.
    """
    from tasks.runtime.workqueue import WorkQueue

    wq = WorkQueue.from_settings(settings, app)
    for kind in ("proc", "pending"):
        stale = list(wq.redis.scan_iter(f"{wq.prefix}{kind}:scheduler:*", count=1000))
        for start in range(0, len(stale), 500):
            wq.redis.delete(*stale[start : start + 500])
    app.send_task("kubeq.resync", kwargs={"controller": "scheduler"})


def resync_at_start(queue: str = QUEUE_CONTROLLERS, settings: Settings | None = None) -> list[str]:
    """Queue every key of every controller on ``queue`` now, and, a lease later, once more the keys
    a worker was running when this one started; returns the controllers' names.

    Repairs what happened while no worker ran (an owner deleted, a worker killed in the middle of a
    sync). The first pass is forced: a killed worker's fetched-but-unrun messages leave their keys
    marked queued. Keys it was running are skipped by that pass (their run locks are still held);
    the locks lapse within one lease, so those keys alone are sent again a lease later. A full
    second pass would repeat every controller's whole resync in the middle of normal work.
    """
    from tasks.runtime.registry import controllers
    from tasks.runtime.workqueue import LEASE, WorkQueue

    wq = WorkQueue.from_settings(settings or Settings.from_env(), app)
    names = [name for name, ctl in controllers().items() if ctl.queue == queue]
    for name in names:
        app.send_task("kubeq.resync", kwargs={"controller": name, "force": True})
        held = wq.running(name)
        if held:
            app.send_task(
                "kubeq.resync",
                kwargs={"controller": name, "force": True, "keys": held},
                countdown=LEASE + 2,
            )
    return names


def _dispatcher_process(settings: Settings) -> None:
    """The dispatcher's own process: it ends with its controller-manager, even a SIGKILLed one
    (the parent-death signal, and a watchdog on the parent pid for when that signal is lost)."""
    from cluster.processes import die_with_parent
    from workers import gctuning
    from workers.dispatcher import run_dispatcher

    gctuning.tune()
    gctuning.freeze()
    die_with_parent()
    parent = os.getppid()

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)  # orphaned: the controller-manager is gone, so is its dispatcher

    threading.Thread(target=watchdog, name="parent-watchdog", daemon=True).start()
    run_dispatcher(settings)


def run_controller_manager(settings: Settings, concurrency: int = 8) -> None:
    """The dispatcher and ``controllers@<host>`` (a thread pool). The dispatcher runs in a process of
    its own: it reads every change in the cluster, and in one process with the sync threads it got
    about a tenth of the interpreter's time under load (the scale benchmark's profile). A dispatcher
    that dies is started again (its consumer group hands it what it had not acknowledged)."""
    stop = threading.Event()
    supervisor = threading.Thread(
        target=supervise_dispatcher, args=(settings, stop), name="dispatcher-supervisor", daemon=True
    )
    supervisor.start()
    resync_at_start(QUEUE_CONTROLLERS, settings)
    try:
        run_worker(QUEUE_CONTROLLERS, f"controllers@{hostname()}", "threads", concurrency)
    finally:
        stop.set()
        supervisor.join(10)


def supervise_dispatcher(settings: Settings, stop: threading.Event, restart_delay: float = 1.0) -> None:
    """Keep one dispatcher process running until ``stop`` is set; then stop it."""
    context = multiprocessing.get_context("spawn")
    while not stop.is_set():
        dispatcher = context.Process(
            target=_dispatcher_process, args=(settings,), name="dispatcher", daemon=True
        )
        dispatcher.start()
        while dispatcher.is_alive() and not stop.wait(0.5):
            pass
        if dispatcher.is_alive():
            dispatcher.terminate()
            dispatcher.join(5)
            return
        print(f"kubeq: dispatcher exited with code {dispatcher.exitcode}; restarting", flush=True)
        stop.wait(restart_delay)


def flower_credentials(data_dir: str) -> tuple[str, str]:
    """``(user, password)`` for Flower's basic auth, generated once into ``<data-dir>/flower-credentials``."""
    path = Path(data_dir).expanduser() / "flower-credentials"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"admin:{secrets.token_urlsafe(12)}\n")
        path.chmod(0o600)
    user, _, password = path.read_text().strip().partition(":")
    return user, password


def run_flower(settings: Settings, port: int, address: str = "127.0.0.1") -> None:
    """Flower over every worker, with basic auth from the data dir."""
    user, password = flower_credentials(settings.data_dir)
    os.environ.setdefault("FLOWER_PERSISTENT", "False")
    app.start(["flower", f"--port={port}", f"--address={address}", f"--basic-auth={user}:{password}"])
