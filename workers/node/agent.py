"""``kubeq node``: turn this host into a Kubernetes node.

``run_node(settings, name, data_dir, isolation, max_pods, port)``:

1. starts the runtime daemon unless ``<data-dir>/runtime.sock`` answers (``supervisor.py``);
2. installs the kubelet's runtime hook (``tasks.kubelet.runtime.install``), exports
   ``KUBEQ_NODE_NAME``, ``KUBEQ_NODE_DATA_DIR``, ``KUBEQ_NODE_ISOLATION`` and ``KUBEQ_NODE_PORT``
   for the kubelet code (and the settings as ``KUBEQ_*`` for the daemon and the tasks), and starts
   the node HTTP endpoint (``server.py``: logs, exec) on ``port``, or a free port if it is taken;
3. registers the Node (``machine.py`` facts) and its Lease, then a heartbeat thread renews the
   Lease and posts the node's status (conditions, capacity) every 10 s, restarting the runtime
   daemon if it stops answering (Ready=False while it cannot); ``podsource.py`` watches this
   node's pods, queues their kubelet keys on ``node.<name>`` and keeps the copies the syncs read
   (``tasks.kubelet.podcache``);
3b. kube-proxy: ``proxy_mode`` (``auto|nftables|userspace``, default ``$KUBEQ_PROXY_MODE`` or auto:
   nftables when root and ``nft`` works) picks the backend installed in ``tasks.proxy.backend``
   (userspace: the forwarder daemon on ``<data-dir>/proxy.sock``), shown on the Node as the
   ``kubeq.io/proxy-mode`` annotation; ``workers.proxy.source`` queues the proxy key ``<name>`` on
   every Service or EndpointSlice change. As root the agent sets ``net.ipv4.ip_forward=1`` (pods in
   ``namespaces`` isolation then get a default route, and reach Service addresses through the host);
4. runs the Celery worker ``kubelet@<name>`` on queue ``node.<name>`` (threads pool) in the
   foreground. SIGTERM stops the worker and the heartbeat; the daemon and its containers stay.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import client_for
from cluster.settings import Settings
from tasks.kubelet import podcache
from workers.node import lease, machine, supervisor
from workers.node.podsource import PodSource
from workers.proxy.source import ProxySource

NODES = lookup("", "v1", "nodes")
STATUS_SECONDS = 10.0  # lease renewal and node status update period (KUBEQ_NODE_STATUS_SECONDS: tests)
DEFAULT_PORT = 10250
DEFAULT_CONCURRENCY = 16  # kubelet sync threads: a sync mostly waits on the API server and the runtime
log = logging.getLogger(__name__)
Obj = dict[str, Any]


def resolve_isolation(isolation: str) -> str:
    """``auto`` -> ``namespaces`` when this host can make pod namespaces and veths (root, ``unshare``
    and ``ip`` work: ``workers.runtime.isolation.available``), else ``host``."""
    if isolation != "auto":
        return isolation
    from workers.runtime import isolation as ns

    return "namespaces" if ns.available() else "host"


def resolve_proxy_mode(mode: str | None) -> str:
    """``nftables`` or ``userspace``: ``auto`` (the default, also from ``$KUBEQ_PROXY_MODE``) is nftables
    when this process is root and ``workers.proxy.nftables.available()``; nftables falls back to
    userspace (with a warning) when its backend cannot be imported."""
    from tasks.proxy.model import PROXY_MODES

    mode = mode or os.environ.get("KUBEQ_PROXY_MODE") or "auto"
    if mode not in ("auto", *PROXY_MODES):
        raise ValueError(f"proxy mode must be auto, nftables or userspace, not {mode!r}")
    if mode == "userspace" or (mode == "auto" and os.geteuid() != 0):
        return "userspace"
    try:
        from workers.proxy import nftables
    except ImportError as exc:
        log.warning("the nftables proxy backend cannot be loaded (%s): using userspace", exc)
        return "userspace"
    if mode == "auto" and not nftables.available():
        return "userspace"
    return "nftables"


def enable_forwarding() -> None:
    """Set ``net.ipv4.ip_forward=1`` when root (a Kubernetes node needs it); else leave it alone."""
    path = Path("/proc/sys/net/ipv4/ip_forward")
    if os.geteuid() != 0:
        return
    try:
        if path.read_text().strip() != "1":
            path.write_text("1\n")
            log.info("net.ipv4.ip_forward set to 1")
    except OSError as exc:
        log.warning("cannot enable IPv4 forwarding: %s", exc)


def note_pod_cidr(data_dir: str, node: Obj | None) -> None:
    """Write the Node's ``spec.podCIDR`` to ``<data_dir>/pod-cidr``, where the runtime daemon reads
    its pod network (``workers.runtime.netns``); the daemon may start before the CIDR is assigned."""
    cidr = ((node or {}).get("spec") or {}).get("podCIDR")
    path = Path(data_dir) / "pod-cidr"
    if cidr and (not path.exists() or path.read_text().strip() != cidr):
        path.write_text(cidr + "\n")


def start_http(runtime_factory: Any, data_dir: str, preferred: int) -> Any:
    """The node HTTP endpoint (``workers.node.server``) on ``preferred``, or on a free port when that
    one is taken (several nodes on one host); its ``.port`` is what the Node advertises."""
    from workers.node.server import serve_node_http

    try:
        return serve_node_http(runtime_factory, "0.0.0.0", preferred, data_dir)
    except OSError as exc:
        log.info("port %d is taken (%s); the node endpoint takes a free one", preferred, exc)
        return serve_node_http(runtime_factory, "0.0.0.0", 0, data_dir)


class NodeAgent:
    """One node's registration and heartbeat; ``start()`` / ``close()`` around the Celery worker."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        data_dir: str,
        isolation: str = "auto",
        max_pods: int = 110,
        port: int = DEFAULT_PORT,
        status_seconds: float | None = None,
        proxy_mode: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.data_dir = str(Path(data_dir).expanduser().resolve())
        self.isolation = resolve_isolation(isolation)
        self.max_pods = max_pods
        self.port = port
        self.status_seconds = status_seconds or float(
            os.environ.get("KUBEQ_NODE_STATUS_SECONDS", STATUS_SECONDS)
        )
        self.client = client_for(settings, user_agent=f"kubeq-node/{name}")
        self.socket = supervisor.socket_path(self.data_dir)
        self.runtime_version = ""
        self.runtime_ok = False
        self.node: Obj | None = None
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.http: Any = None
        self.pods: PodSource | None = None
        self.proxy_mode = resolve_proxy_mode(proxy_mode)
        self.proxy: ProxySource | None = None
        self.routes: Any = None

    # ---- start / stop ----------------------------------------------------------------------
    def start(self) -> None:
        """Daemon, runtime hook, environment, Node and Lease; then the heartbeat thread."""
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self._export_environment()
        supervisor.ensure_daemon(self.data_dir, self.name)
        factory = self._install_runtime_hook()
        self._check_runtime()
        self.http = start_http(factory, self.data_dir, self.port)
        self.port = self.http.port
        os.environ["KUBEQ_NODE_PORT"] = str(self.port)
        self.register()
        self._renew_lease()
        self._thread = threading.Thread(target=self._loop, name=f"node-heartbeat-{self.name}", daemon=True)
        self._thread.start()
        pods = self.pods = PodSource(self.client, self.name, self._work_queue().add, factory).start()
        podcache.install(lambda: pods.cache)  # the kubelet's syncs read their pods there
        self._start_proxy()
        self._join_cloud()

    def _join_cloud(self) -> None:
        """List this machine in the local cloud provider's inventory and follow its route table."""
        from tasks.cloud.local import register_machine
        from workers.node.routes import RouteSync

        try:
            register_machine(self.client, self.name, machine.addresses(self.name))
        except errors.StatusError as exc:
            log.warning("node %s: cannot list the machine in the inventory: %s", self.name, exc)
        self.routes = RouteSync(self.client, self.name)
        self.routes.start()

    def _start_proxy(self) -> None:
        """Install the proxy backend hook (starting the userspace daemon) and the Service watch."""
        from tasks.proxy import backend

        enable_forwarding()
        if self.proxy_mode == "nftables":
            from workers.proxy.nftables import NftablesBackend

            name = self.name
            backend.install(lambda: NftablesBackend(name))
        else:
            from workers.proxy import client as userspace

            data_dir, name = self.data_dir, self.name
            cidr = getattr(self.settings, "service_cluster_ip_range", None)
            try:
                userspace.ensure_daemon(data_dir, name, cidr)
            except RuntimeError as exc:  # the first sync tries again
                log.warning("node %s: userspace proxy daemon did not start: %s", name, exc)
            backend.install(lambda: userspace.UserspaceBackend(data_dir, name, cidr))
        self.proxy = ProxySource(self.client, self.name, self._work_queue().add).start()

    def _work_queue(self) -> Any:
        from tasks.runtime.workqueue import WorkQueue

        return WorkQueue.from_settings(self.settings, _point_celery_at(self.settings))

    def close(self) -> None:
        self.stop.set()
        if self.pods is not None:
            self.pods.close()
        if self.proxy is not None:
            self.proxy.close()
        if self.routes is not None:
            self.routes.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.http is not None:
            self.http.stop()

    def _export_environment(self) -> None:
        env = {
            "KUBEQ_NODE_NAME": self.name,
            "KUBEQ_NODE_DATA_DIR": self.data_dir,
            "KUBEQ_NODE_ISOLATION": self.isolation,
            "KUBEQ_NODE_PORT": str(self.port),
            "KUBEQ_SERVER": self.settings.api_server,
            "KUBEQ_STATE_PREFIX": self.settings.state_prefix,
            "KUBEQ_BROKER_PREFIX": self.settings.broker_prefix,
        }
        if self.settings.kubeconfig:  # the node's credentials, for the kubelet worker and its daemons
            env["KUBEQ_KUBECONFIG"] = self.settings.kubeconfig
        env["KUBEQ_INSECURE"] = "1" if self.settings.insecure else "0"
        if self.settings.redis_url:
            env["KUBEQ_REDIS_URL"] = self.settings.redis_url
        if self.settings.broker_url:
            env["KUBEQ_BROKER_URL"] = self.settings.broker_url
        os.environ.update(env)

    def _install_runtime_hook(self) -> Any:
        """Install (and return) the factory of this process's runtime client."""
        from tasks.kubelet import runtime
        from tasks.kubelet.runtime_client import RuntimeClient

        sock = str(self.socket)

        def factory() -> Any:
            return RuntimeClient(sock)

        runtime.install(factory)
        return factory

    def _check_runtime(self) -> None:
        """Ask the daemon its version; restart it once if it does not answer."""
        try:
            self.runtime_version = supervisor.runtime_version(self.socket)
            self.runtime_ok = True
            return
        except Exception as exc:  # noqa: BLE001 - any failure: try a fresh daemon
            log.warning("runtime daemon on %s does not answer (%s); starting it", self.socket, exc)
        try:
            supervisor.ensure_daemon(self.data_dir, self.name)
            self.runtime_version = supervisor.runtime_version(self.socket)
            self.runtime_ok = True
        except Exception:  # noqa: BLE001
            log.exception("runtime daemon for %s cannot be started", self.name)
            self.runtime_ok = False

    # ---- the Node ---------------------------------------------------------------------------
    def desired_status(self, previous: list[Obj]) -> Obj:
        now = datetime.now(UTC)
        cap = machine.capacity(self.data_dir, self.max_pods)
        return {
            "capacity": cap,
            "allocatable": machine.allocatable(cap),
            "conditions": machine.conditions(
                now, machine.pressure(self.data_dir), previous, ready=self.runtime_ok
            ),
            "addresses": machine.addresses(self.name),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": machine.node_info(self.runtime_version or "unknown://"),
        }

    def register(self) -> Obj:
        """Create the Node, or lay this node's labels and status over the existing one."""
        labels = machine.labels(self.name)
        try:
            existing = self.client.get(NODES, self.name)
        except errors.NotFound:
            existing = None
        if existing is None:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": self.name, "labels": labels, "annotations": self._annotations()},
                "spec": {},
                "status": self.desired_status([]),
            }
            try:
                existing = self.client.create(body)
            except errors.AlreadyExists:
                existing = self.client.get(NODES, self.name)
        else:
            existing = self.client.patch(
                NODES, self.name, {"metadata": {"labels": labels, "annotations": self._annotations()}}
            )
        previous = (existing.get("status") or {}).get("conditions") or []
        self.node = self._patch_status(previous)
        note_pod_cidr(self.data_dir, self.node)
        log.info("node %s registered (runtime %s)", self.name, self.runtime_version)
        return self.node

    def _patch_status(self, previous: list[Obj]) -> Obj:
        """Post this node's status; a strategic merge, so conditions others own (the cloud route
        controller's NetworkUnavailable) are kept, merged by type."""
        body = {"status": self.desired_status(previous)}
        return self.client.patch(NODES, self.name, body, patch_type="strategic", subresource="status")

    def _annotations(self) -> dict[str, str]:
        from tasks.proxy.model import PROXY_MODE_ANNOTATION

        return {PROXY_MODE_ANNOTATION: self.proxy_mode}

    def post_status(self) -> None:
        """Refresh conditions and capacity; re-register if the Node was deleted."""
        previous = ((self.node or {}).get("status") or {}).get("conditions") or []
        try:
            self.node = self._patch_status(previous)
            note_pod_cidr(self.data_dir, self.node)
        except errors.NotFound:
            self.register()

    def _renew_lease(self) -> None:
        lease.renew(self.client, self.name, owner=self.node)

    def _loop(self) -> None:
        while not self.stop.wait(self.status_seconds):
            for step in (self._renew_lease, self._check_runtime, self.post_status):
                if self.stop.is_set():
                    return
                try:
                    step()
                except (errors.StatusError, OSError) as exc:
                    log.warning("node %s: %s failed: %s", self.name, step.__name__, exc)
                except Exception:  # noqa: BLE001 - the heartbeat must keep beating
                    log.exception("node %s: %s failed", self.name, step.__name__)


def _point_celery_at(settings: Settings) -> Any:
    """The Celery app, configured for ``settings``'s broker even if it was made before they were known."""
    from cluster.store.connection import celery_broker
    from workers.celery_app import app

    app.conf.broker_url, sentinel_options = celery_broker(settings.broker)
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, **sentinel_options}
    return app


def run_node(
    settings: Settings,
    name: str,
    data_dir: str | None = None,
    isolation: str = "auto",
    max_pods: int = 110,
    port: int = DEFAULT_PORT,
    concurrency: int | None = None,
    proxy_mode: str | None = None,
) -> None:
    """Run node ``name`` until SIGTERM/SIGINT (see the module docstring); data under ``data_dir``
    (default ``<settings.data_dir>/nodes/<name>``); ``proxy_mode`` None: ``$KUBEQ_PROXY_MODE`` or auto."""
    data_dir = data_dir or os.path.join(os.path.expanduser(settings.data_dir), "nodes", name)
    agent = NodeAgent(settings, name, data_dir, isolation, max_pods, port, proxy_mode=proxy_mode)
    agent.start()
    try:
        from workers.celery_app import node_queue
        from workers.roles import run_worker

        _point_celery_at(settings)
        threads = concurrency or int(os.environ.get("KUBEQ_NODE_CONCURRENCY", DEFAULT_CONCURRENCY))
        run_worker(node_queue(name), f"kubelet@{name}", "threads", threads)
    finally:
        agent.close()
