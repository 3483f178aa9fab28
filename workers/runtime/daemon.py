"""The node's container supervisor: ``python -m workers.runtime.daemon --socket S --root R --node N``.

It becomes a child subreaper (orphaned container descendants are re-parented to it and reaped
here), runs a ``ProcessRuntime`` over R (so a restarted daemon finds its running containers again)
and serves every ``RuntimeService`` method on the Unix socket S as JSON lines (``cri_codec``; one
thread per connection, any number of requests per connection). When a container exits or a probe
result flips it queues the pod's kubelet key (``workers.runtime.notify``) unless ``--no-notify``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import socketserver
import threading
from collections.abc import Callable
from typing import Any

from tasks.kubelet import cri_codec
from workers.runtime import procfs
from workers.runtime.notify import KubeletNotifier
from workers.runtime.process import ProcessRuntime

log = logging.getLogger("kubeq.runtime.daemon")
PR_SET_CHILD_SUBREAPER = 36
REAP_INTERVAL = 0.5


def set_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def handle(runtime: Any, line: bytes) -> bytes:
    """One request line -> one reply line."""
    try:
        req = json.loads(line)
        method = req["method"]
        if method not in cri_codec.METHODS:
            raise ValueError(f"unknown method {method!r}")
        params = cri_codec.decode_params(method, req.get("params") or {})
        return cri_codec.dumps({"result": getattr(runtime, method)(**params)})
    except Exception as exc:  # noqa: BLE001  (every failure goes back to the caller)
        return cri_codec.dumps({"error": cri_codec.error(exc)})


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            if line.strip():
                self.wfile.write(handle(self.server.runtime, line))  # type: ignore[attr-defined]
                self.wfile.flush()


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    # Every kubelet sync thread of the node connects at once under load; socketserver's backlog of
    # 5 makes a Unix socket refuse the rest with EAGAIN ("does not answer").
    request_queue_size = 256

    def __init__(self, path: str, runtime: Any) -> None:
        if os.path.exists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.runtime = runtime
        super().__init__(path, _Handler)
        os.chmod(path, 0o600)


def reap_loop(runtime: ProcessRuntime, stop: threading.Event) -> None:
    """Reap exited children the runtime does not wait for itself (adopted orphans)."""
    me = os.getpid()
    while not stop.wait(REAP_INTERVAL):
        own = runtime.child_pids()
        for pid in procfs.zombie_children(me):
            if pid not in own:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass


def serve(socket_path: str, root: str, node: str, notify: bool = True) -> None:
    set_subreaper()
    notifier = KubeletNotifier(node) if notify else None
    on_change: Callable[..., None] | None = None
    if notifier is not None:
        on_change = notifier
    runtime = ProcessRuntime(root, on_change=on_change)
    if notifier is not None:
        notifier.sandbox_of = runtime.pod_sandbox_status
    stop = threading.Event()
    threading.Thread(target=reap_loop, args=(runtime, stop), daemon=True, name="reaper").start()
    server = Server(socket_path, runtime)

    def shutdown(signum: int, _frame: Any) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("runtime daemon for node %s on %s (root %s)", node, socket_path, root)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        runtime.close()  # containers keep running; the next daemon re-adopts them
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers.runtime.daemon", description=__doc__)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--no-notify", action="store_true", help="do not queue kubelet keys")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.socket, args.root, args.node, notify=not args.no_notify)


if __name__ == "__main__":
    main()
