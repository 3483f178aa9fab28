"""The kubelet as a controller: ``sync("<node>/<namespace>/<pod>")`` makes the node run what the pod says.

Keys route to the node's own queue (``node.<node>``), so a node's worker only syncs its own pods, on
the runtime its agent installed (``tasks.kubelet.runtime.current()``), reading the pod from the
node's watched copy (``tasks.kubelet.podcache``). A sync:

- pod gone (or replaced by a new uid, or moved): stop and remove the old pod's sandboxes;
- pod terminating: preStop hooks, stop within the grace period, remove the sandbox, then DELETE the
  pod with ``gracePeriodSeconds=0`` and a uid precondition (the kubelet's last word);
- otherwise: sandbox, volumes, init containers one at a time, then the containers, restarting per
  restartPolicy with CrashLoopBackOff; write the status (only when it changed) and return when to
  look again: a due restart or retry, or a token refresh due before the node's next resync. Nothing
  else is polled: the runtime daemon queues the key when a container exits or a probe result flips
  (``workers.runtime.notify``), the node's pod watch when the pod changes, and the node's resync
  every pod each ``NODE_RESYNC_SECONDS`` (``workers/node/podsource.py``).
  ``KUBEQ_KUBELET_RESYNC_SECONDS`` adds a periodic poll per pod.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cluster import errors, trace
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController
from tasks.kubelet import cri, podcache, runtime
from tasks.kubelet.cri import EXITED, RUNNING, SANDBOX_READY, ContainerStatus, RuntimeService, SandboxConfig
from tasks.kubelet.env import command_line, resolve_env
from tasks.kubelet.fields import ConfigError
from tasks.kubelet.lifecycle import (
    POST_START_TIMEOUT,
    container_config,
    crashloop_delay,
    grace_period,
    post_start_command,
    remove_sandbox,
    stop_all,
)
from tasks.kubelet.resolvconf import cluster_domain, host_resolv_text, resolv_conf
from tasks.kubelet.satoken import ServiceAccountTokens, lenient
from tasks.kubelet.status import (
    ContainerView,
    container_status,
    merge_conditions,
    pod_conditions,
    pod_phase,
    rfc3339,
    status_changed,
)
from tasks.kubelet.volumes import materialize, mounts
from tasks.runtime import events
from tasks.runtime.controller import Change, Context, Watch

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")
NODES = lookup("", "v1", "nodes")
SERVICES = lookup("", "v1", "services")
SERVICES_TTL = 2.0  # seconds a node reuses its list of a namespace's Services (pod env links)
DNS_SERVICE = ("kube-system", "kube-dns")  # its ClusterIP is the pods' nameserver
DNS_IP_TTL = 30.0  # seconds the kubelet trusts a looked-up kube-dns ClusterIP
ROOT_CA = "kube-root-ca.crt"  # the CA ConfigMap every projected ServiceAccount volume reads
ROOT_CA_TTL = 30.0  # seconds a node reuses a namespace's kube-root-ca.crt once it has read it
# seconds a node trusts that a namespace has no CA ConfigMap (yet: a pod waiting for it retries later)
ROOT_CA_MISS_TTL = 3.0
log = logging.getLogger("kubeq.kubelet")
CONFIG_RETRY = 10.0  # seconds before a pod whose ConfigMap/Secret is missing is tried again
TERMINAL = ("Succeeded", "Failed")
NODE_RESYNC_SECONDS = 60.0  # the node agent queues every pod of its node this often (podsource.py)


def pod_key(pod: Obj) -> str | None:
    """``<node>/<namespace>/<name>`` of a bound pod, else None."""
    node = (pod.get("spec") or {}).get("nodeName")
    md = pod.get("metadata") or {}
    return f"{node}/{md.get('namespace', 'default')}/{md['name']}" if node else None


def pod_keys(change: Change) -> list[str]:
    """The kubelet keys a pod change concerns (the pod now and before; deletions too)."""
    keys = [pod_key(obj) for obj in (change.object, change.prev) if obj]
    return list(dict.fromkeys(k for k in keys if k))


def data_dir(node: str) -> Path:
    """The node's data directory: ``$KUBEQ_NODE_DATA_DIR``, else ``~/.kubeq/node-<node>``."""
    raw = os.environ.get("KUBEQ_NODE_DATA_DIR")
    return Path(raw) if raw else Path.home() / ".kubeq" / f"node-{node}"


def isolation() -> str:
    """The node's isolation level (``$KUBEQ_NODE_ISOLATION``, set by the node agent; default host)."""
    level = os.environ.get("KUBEQ_NODE_ISOLATION", "host")
    return level if level in ("host", "namespaces") else "host"


def resync_seconds() -> float | None:
    """Seconds between polls of a running pod (``$KUBEQ_KUBELET_RESYNC_SECONDS``); None: no poll."""
    raw = os.environ.get("KUBEQ_KUBELET_RESYNC_SECONDS")
    return float(raw) if raw else None


def _instances(containers: list[ContainerStatus]) -> dict[str, list[ContainerStatus]]:
    """Runtime instances per container name, oldest first."""
    out: dict[str, list[ContainerStatus]] = {}
    for cs in sorted(containers, key=lambda c: (c.attempt, c.created_at)):
        out.setdefault(cs.name, []).append(cs)
    return out


class KubeletController(KeyedController):
    """Runs the pods bound to this node (see the module doc)."""

    name = "kubelet"
    queue = "node"
    batch_size = 1
    resource = PODS
    # No central watch: each node agent watches its own pods and queues their keys
    # (workers/node/podsource.py), as the kubelet does; nodes without an agent get no messages.
    watches: tuple[Watch, ...] = ()
    component = "kubelet"

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        """None centrally: each node resyncs its own pods (``workers/node/podsource.py``)."""
        return []

    # ---- the sync ------------------------------------------------------------------------------
    def sync(self, key: str, ctx: Context) -> float | None:
        node, namespace, name = key.split("/", 2)
        trace.mark(f"{namespace}/{name}", "kubelet_task")
        rt = runtime.current()
        pod = podcache.pod(ctx.client, namespace, name)
        trace.mark_pod(pod, "kubelet_sync")
        ours = [
            s for s in rt.list_pod_sandboxes(namespace, name) if cri.sandbox_of(s, namespace, name)
        ]  # filtered here too: a daemon older than the filter lists every sandbox
        if pod is None or (pod.get("spec") or {}).get("nodeName") != node:
            for sb in ours:
                remove_sandbox(rt, sb.id)
                self.tokens(ctx).forget(sb.config.pod_uid)
            return None
        uid = pod["metadata"]["uid"]
        for sb in ours:
            if sb.config.pod_uid != uid:
                remove_sandbox(rt, sb.id)
                self.tokens(ctx).forget(sb.config.pod_uid)
        mine = [s for s in ours if s.config.pod_uid == uid]
        if pod["metadata"].get("deletionTimestamp"):
            self.terminate(ctx, rt, pod, [s.id for s in mine])
            return None
        return self.run(ctx, rt, node, pod)

    def terminate(self, ctx: Context, rt: RuntimeService, pod: Obj, sandboxes: list[str]) -> None:
        """Stop the pod's containers gracefully, remove its sandboxes, and delete it for good."""
        grace = grace_period(pod)

        def killing(cs: ContainerStatus) -> None:
            self.event(ctx, pod, "Normal", "Killing", f"Stopping container {cs.name}")

        for sandbox_id in sandboxes:
            stop_all(rt, rt.list_containers(sandbox_id), grace, pod, killing)
            remove_sandbox(rt, sandbox_id)
        md = pod["metadata"]
        try:
            ctx.client.delete(
                PODS, md["name"], md.get("namespace"), preconditions={"uid": md["uid"]}, gracePeriodSeconds=0
            )
        except (errors.NotFound, errors.Conflict):
            pass

    def run(self, ctx: Context, rt: RuntimeService, node: str, pod: Obj) -> float | None:
        """Converge a live pod's containers and report its status; the requeue delay."""
        md, spec = pod["metadata"], pod.get("spec") or {}
        old_status = pod.get("status") or {}
        host_ip, allocatable = self.node_facts(ctx, node)
        pod_dir = data_dir(node) / "pods" / md["uid"]
        sandbox_id = rt.run_pod_sandbox(
            SandboxConfig(
                pod_uid=md["uid"],
                namespace=md.get("namespace", "default"),
                name=md["name"],
                hostname=spec.get("hostname") or md["name"],
                pod_dir=str(pod_dir),
                isolation=isolation(),
                labels=dict(md.get("labels") or {}),
                dns_config=self.dns_config(ctx, pod) if isolation() == "namespaces" else "",
            )
        )
        sandbox = rt.pod_sandbox_status(sandbox_id)
        trace.mark(md["uid"], "sandbox_ready")
        pod_ip = sandbox.ip or host_ip
        view_pod = {**pod, "status": {**old_status, "hostIP": host_ip, "podIP": pod_ip}}
        policy = spec.get("restartPolicy") or "Always"
        terminal = old_status.get("phase") in TERMINAL
        waits: list[float] = []
        problem: tuple[str, str] | None = None
        paths: dict[str, str] = {}
        if not terminal:
            tokens, relaxed = self.tokens(ctx), lenient(ctx.client)
            try:
                paths = materialize(
                    view_pod,
                    str(pod_dir),
                    self.lookup(ctx),
                    allocatable,
                    tokens=lambda p, src: tokens.token(ctx.client, p, src, empty_on_failure=relaxed),
                    empty_if_missing=("kube-root-ca.crt",) if relaxed else (),
                )
                trace.mark(md["uid"], "volumes_ready")
                due = tokens.refresh_due(md["uid"])
                if due is not None and due - time.time() < NODE_RESYNC_SECONDS:  # else the resync renews
                    waits.append(max(1.0, due - time.time()))
            except (ConfigError, OSError) as exc:
                problem = ("ContainerCreating", str(exc))
                self.once(
                    ctx, pod, f"mount:{exc}", "Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}"
                )
                waits.append(CONFIG_RETRY)
        overrides: dict[str, tuple[str, str]] = {}
        init_specs, main_specs = spec.get("initContainers") or [], spec.get("containers") or []
        if not terminal and problem is None:
            act = _Actor(self, ctx, rt, view_pod, sandbox_id, paths, allocatable, overrides, waits)
            for c in init_specs:
                if not act.step(c, policy if policy != "Always" else "OnFailure", init=True):
                    break
            else:
                for c in main_specs:
                    act.step(c, policy, init=False)
        groups = _instances(rt.list_containers(sandbox_id))
        self.collect_garbage(rt, groups)

        def view(c: Obj, default_wait: tuple[str, str] | None) -> ContainerView:
            got = groups.get(c["name"], [])
            v = ContainerView(c["name"], c.get("image", ""), got[-1] if got else None)
            v.previous = got[-2] if len(got) > 1 else None
            v.waiting = overrides.get(c["name"]) or (default_wait if v.latest is None else None)
            return v

        init_views = [view(c, problem or ("PodInitializing", "")) for c in init_specs]
        init_ok = all(v.outcome() == "succeeded" for v in init_views)
        main_wait = problem or (("ContainerCreating", "") if init_ok else ("PodInitializing", ""))
        main_views = [view(c, main_wait) for c in main_specs]
        phase = old_status["phase"] if terminal else pod_phase(init_views, main_views, policy)
        now = rfc3339(time.time())
        wanted = pod_conditions(init_views, main_views, phase, sandbox.state == SANDBOX_READY, now)
        status: Obj = {
            "phase": phase,
            "conditions": merge_conditions(old_status.get("conditions") or [], wanted),
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": old_status.get("startTime") or now,
            "containerStatuses": [container_status(v) for v in main_views],
        }
        if init_specs:
            status["initContainerStatuses"] = [container_status(v, init=True) for v in init_views]
        if phase in TERMINAL and not terminal:
            stop_all(rt, rt.list_containers(sandbox_id), grace_period(pod), pod)
        if status_changed(old_status, status):
            podcache.wrote(
                ctx.client.patch(
                    PODS, md["name"], {"status": status}, md.get("namespace"), subresource="status"
                )
            )
            trace.mark(md["uid"], f"status_written:{phase}")
        if phase in TERMINAL:
            return None
        poll = resync_seconds()
        due = [*waits, poll] if poll is not None else waits
        return min(due) if due else None

    # ---- helpers -------------------------------------------------------------------------------
    def node_facts(self, ctx: Context, node: str) -> tuple[str, dict[str, str]]:
        """The node's InternalIP and allocatable (read once per process, then cached)."""
        cache = ctx.caches.setdefault("kubelet.nodes", {})
        if node not in cache:
            try:
                obj = ctx.client.get(NODES, node)
            except errors.NotFound:
                return "127.0.0.1", {}
            status = obj.get("status") or {}
            addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
            cache[node] = (addresses.get("InternalIP") or "127.0.0.1", dict(status.get("allocatable") or {}))
        return cache[node]

    def event(self, ctx: Context, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Events go out on a background thread: a pod start does not wait for them."""
        events.record_async(ctx.client, obj, type_, reason, message, self.component)

    @staticmethod
    def cached(ctx: Context, key: str, ttl: float, read: Any, miss_ttl: float | None = None) -> Any:
        """``read()``, remembered per process for ``ttl`` seconds under ``key`` (the kubelet's
        informer-like view of Services: a pod start needs no fresh list of them). A None result
        is remembered for ``miss_ttl`` seconds instead, when given."""
        cache = ctx.caches.setdefault("kubelet.ttl", {})
        hit = cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            value = read()
            life = miss_ttl if value is None and miss_ttl is not None else ttl
            hit = cache[key] = (time.monotonic() + life, value)
        return hit[1]

    def dns_ip(self, ctx: Context) -> str | None:
        """The kube-dns Service's ClusterIP (None when there is none), cached ``DNS_IP_TTL`` seconds."""

        def read() -> str | None:
            try:
                spec = ctx.client.get(SERVICES, DNS_SERVICE[1], DNS_SERVICE[0]).get("spec") or {}
            except errors.NotFound:
                return None
            ip = spec.get("clusterIP")
            return ip if ip and ip != "None" else None

        return self.cached(ctx, "dns", DNS_IP_TTL, read)

    def dns_config(self, ctx: Context, pod: Obj) -> str:
        """The pod's resolv.conf text for its dnsPolicy (``tasks.kubelet.resolvconf``)."""
        return resolv_conf(pod, self.dns_ip(ctx), host_resolv_text(), cluster_domain())

    def pod_services(self, ctx: Context, pod: Obj) -> list[Obj]:
        """The Services whose links the pod's containers get: its namespace's (unless
        ``enableServiceLinks`` is false) and ``default/kubernetes``."""
        namespace = pod["metadata"].get("namespace", "default")
        found: list[Obj] = []
        if (pod.get("spec") or {}).get("enableServiceLinks") is not False:
            found = list(
                self.cached(
                    ctx, f"services/{namespace}", SERVICES_TTL, lambda: self._services(ctx, namespace)
                )
            )
        if namespace != "default" or not found:
            found += self.cached(ctx, "services/default/kubernetes", SERVICES_TTL, lambda: self._master(ctx))
        return found

    @staticmethod
    def _services(ctx: Context, namespace: str) -> list[Obj]:
        return ctx.client.list(SERVICES, namespace)["items"]

    @staticmethod
    def _master(ctx: Context) -> list[Obj]:
        try:
            return [ctx.client.get(SERVICES, "kubernetes", "default")]
        except errors.NotFound:
            return []

    @staticmethod
    def tokens(ctx: Context) -> ServiceAccountTokens:
        """This worker's ServiceAccount tokens (``satoken.py``), kept across syncs."""
        return ctx.caches.setdefault("kubelet.satokens", ServiceAccountTokens())

    def lookup(self, ctx: Context) -> Any:
        """``get(plural, namespace, name)`` for the ConfigMaps and Secrets a pod uses: a live read,
        except the cluster CA ConfigMap, which every pod start reads: it is remembered for
        ``ROOT_CA_TTL`` seconds once found (the CA changes rarely), and its absence for
        ``ROOT_CA_MISS_TTL`` seconds (an insecure cluster has none; a new namespace may not have it yet)."""

        def fresh(plural: str, namespace: str, name: str) -> Obj | None:
            try:
                return ctx.client.get(lookup("", "v1", plural), name, namespace)
            except errors.NotFound:
                return None

        def get(plural: str, namespace: str, name: str) -> Obj | None:
            if plural != "configmaps" or name != ROOT_CA:
                return fresh(plural, namespace, name)
            key = f"configmaps/{namespace}/{ROOT_CA}"
            read = lambda: fresh(plural, namespace, name)  # noqa: E731
            return self.cached(ctx, key, ROOT_CA_TTL, read, miss_ttl=ROOT_CA_MISS_TTL)

        return get

    def once(self, ctx: Context, pod: Obj, what: str, type_: str, reason: str, message: str) -> None:
        """Record an Event once per pod uid and ``what`` in this process (repeats are not re-sent)."""
        seen = ctx.caches.setdefault("kubelet.events", set())
        mark = (pod["metadata"]["uid"], what)
        if mark not in seen:
            if len(seen) > 10000:
                seen.clear()
            seen.add(mark)
            self.event(ctx, pod, type_, reason, message)

    @staticmethod
    def collect_garbage(rt: RuntimeService, groups: dict[str, list[ContainerStatus]]) -> None:
        """Remove exited instances older than the last two of each container (kept for lastState)."""
        for name, got in groups.items():
            for cs in got[:-2]:
                if cs.state == EXITED:
                    rt.remove_container(cs.id)
            groups[name] = got[-2:]


class _Actor:
    """Starts or restarts one container at a time for ``KubeletController.run``."""

    def __init__(
        self,
        kubelet: KubeletController,
        ctx: Context,
        rt: RuntimeService,
        pod: Obj,
        sandbox_id: str,
        paths: dict[str, str],
        allocatable: dict[str, str],
        overrides: dict[str, tuple[str, str]],
        waits: list[float],
    ) -> None:
        self.k, self.ctx, self.rt, self.pod, self.sandbox_id = kubelet, ctx, rt, pod, sandbox_id
        self.paths, self.allocatable, self.overrides, self.waits = paths, allocatable, overrides, waits
        self.groups = _instances(rt.list_containers(sandbox_id))

    def step(self, c: Obj, policy: str, init: bool) -> bool:
        """Move container ``c`` on; True when it is done or running (the next init may go)."""
        got = self.groups.get(c["name"], [])
        latest = got[-1] if got else None
        if latest is None:
            return self.start(c, 0) and not init
        if latest.state == RUNNING:
            if latest.liveness_failed:
                self.k.event(
                    self.ctx,
                    self.pod,
                    "Normal",
                    "Killing",
                    f"Container {c['name']} failed liveness probe, will be restarted",
                )
                self.rt.stop_container(
                    latest.id, float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                )
                latest = self.rt.container_status(latest.id)
            else:
                return not init
        if latest.state != EXITED:  # created but never started: start it now
            try:
                self.rt.start_container(latest.id)
                return not init
            except OSError as exc:
                self.overrides[c["name"]] = ("RunContainerError", str(exc))
                return False
        if latest.exit_code == 0 and (init or policy != "Always"):
            return True
        if policy == "Never" or (policy == "OnFailure" and latest.exit_code == 0):
            return False
        ran = max(0.0, latest.finished_at - latest.started_at) if latest.started_at else 0.0
        due = latest.finished_at + crashloop_delay(latest.attempt, ran)
        left = due - time.time()
        if left > 0:
            md = self.pod["metadata"]
            message = (
                f"back-off {crashloop_delay(latest.attempt, ran):g}s restarting failed container={c['name']} "
                f"pod={md['name']}_{md.get('namespace')}({md['uid']})"
            )
            self.overrides[c["name"]] = ("CrashLoopBackOff", message)
            self.k.once(
                self.ctx,
                self.pod,
                f"backoff:{latest.id}",
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {c['name']} in pod {md['name']}_{md.get('namespace')}({md['uid']})",
            )
            self.waits.append(left)
            return False
        return self.start(c, latest.attempt + 1) and not init

    def start(self, c: Obj, attempt: int) -> bool:
        """Create and start instance ``attempt`` of ``c``; False (with a waiting reason) if it cannot."""
        name = c["name"]
        try:
            services = self.k.pod_services(self.ctx, self.pod)
            env = resolve_env(self.pod, c, self.k.lookup(self.ctx), self.allocatable, services)
            command = command_line(c, env)
            if not command:
                raise _NoCommand(
                    f'container "{name}" has no command: kubeq runs processes and cannot pull or run the '
                    f'image "{c.get("image", "")}"; give the container a command'
                )
            # probes reach the pod at its own IP; with host isolation the pod shares the host's network
            pod_ip = (self.pod.get("status") or {}).get("podIP") or "127.0.0.1"
            probe_host = pod_ip if isolation() == "namespaces" else "127.0.0.1"
            config = container_config(self.pod, c, command, env, mounts(c, self.paths), attempt, probe_host)
        except ConfigError as exc:
            self.fail(c, "CreateContainerConfigError", str(exc))
            self.waits.append(CONFIG_RETRY)
            return False
        except _NoCommand as exc:
            self.fail(c, "CreateContainerError", str(exc))
            return False
        container_id = self.rt.create_container(self.sandbox_id, config)
        trace.mark_pod(self.pod, "container_created")
        self.k.event(self.ctx, self.pod, "Normal", "Created", f"Created container {name}")
        try:
            self.rt.start_container(container_id)
        except OSError as exc:
            self.rt.remove_container(container_id)
            self.fail(c, "RunContainerError", f"failed to start container {name}: {exc}")
            self.waits.append(crashloop_delay(attempt))
            return False
        trace.mark_pod(self.pod, "container_started")
        self.k.event(self.ctx, self.pod, "Normal", "Started", f"Started container {name}")
        if not self.post_start(c, container_id):
            self.waits.append(crashloop_delay(attempt))
            return False
        return True  # each container is stepped once per sync: no need to read its status back here

    def post_start(self, c: Obj, container_id: str) -> bool:
        """Run the postStart exec hook right after the start; a failed hook kills the container
        (it is then restarted per the restart policy), as the kubelet does."""
        hook = post_start_command(c)
        if not hook:
            return True
        try:
            result = self.rt.exec_sync(container_id, hook, POST_START_TIMEOUT)
            failure = (
                "" if result.exit_code == 0 else f"exited with {result.exit_code}: {result.stderr[-500:]!r}"
            )
        except Exception as exc:  # the runtime could not run it: as bad as a failing hook
            failure = str(exc)
        if not failure:
            return True
        self.k.event(
            self.ctx,
            self.pod,
            "Warning",
            "FailedPostStartHook",
            f"PostStartHook failed for container {c['name']}: {failure}",
        )
        self.rt.stop_container(container_id, grace_period(self.pod))
        return False

    def fail(self, c: Obj, reason: str, message: str) -> None:
        self.overrides[c["name"]] = (reason, message)
        self.k.once(
            self.ctx, self.pod, f"{reason}:{c['name']}:{message}", "Warning", "Failed", f"Error: {message}"
        )


class _NoCommand(Exception):
    pass
