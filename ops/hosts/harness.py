"""A K-host kubeq cluster on one Linux machine: ``up(hosts, directory)`` and ``down(directory)``.

Host 0 (``172.30.0.1``) runs Redis (port 6379, state and broker), the API server (port 6443), the
control plane (controller-manager, scheduler, beat, dns, cloud-controller-manager) and a route
follower (``routes.py``, so that answers from host 0 find the pods). Host ``i >= 1`` runs
``kubeq node --name host-<i>`` with its data under ``<dir>/host-<i>/node``; each node makes its own
pod bridge inside its host, takes its pod CIDR from the cluster, and routes to the other hosts'
pods through the cloud route table. ``up`` returns once every node is Ready; the processes keep
running (sessions of their own) until ``down``. Everything is recorded in ``<dir>/state.json``;
logs are in ``<dir>/logs/<name>.log``; the kubeconfig (for the API server, reachable from the root
namespace through the bridge) is ``<dir>/kubeconfig``.

The cluster is secure: host 0 runs ``kubeq certs`` (the serving certificate names host 0's bridge
address), the API server serves TLS there with tokens, client certificates and RBAC; each control
plane component talks with a client certificate of its own identity; the admin kubeconfig carries the
CA and the admin token. ``kubeq token create`` makes a bootstrap token, and every node host joins
with ``kubeq node --join <server> --token T --ca-cert-hash H``: its credentials are its own
certificate, issued through a CertificateSigningRequest (``<dir>/host-<i>/node/kubelet.kubeconfig``). Each ``up`` starts from an empty store: it
clears the data and logs an earlier cluster left in the directory. Processes inherit this
process's environment, so ``KUBEQ_*`` variables (grace periods, say) set before ``up`` reach every
component.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.hosts import network, processes
from ops.hosts.processes import Proc

DEFAULT_DIR = "/tmp/kubeq-hosts"
REDIS_PORT = 6379
API_PORT = 6443
ROOT = str(Path(__file__).resolve().parents[2])
CONTROL_PLANE = ("controller-manager", "scheduler", "beat", "cloud-controller-manager")


@dataclass
class Cluster:
    """What ``up`` made: where it keeps its files, how to reach it, what runs where."""

    directory: str
    hosts: int
    server: str
    redis_url: str
    kubeconfig: str
    nodes: list[str]
    procs: list[Proc] = field(default_factory=list)
    ca_file: str = ""  # the cluster CA (the kubeconfig carries it too)
    token: str = ""  # the bootstrap token the nodes joined with

    def node_kubeconfig(self, name: str) -> str:
        """The kubeconfig node ``name`` got by joining (its own client certificate)."""
        return str(Path(self.directory) / name / "node" / "kubelet.kubeconfig")

    def save(self) -> None:
        data = {k: v for k, v in self.__dict__.items() if k != "procs"}
        data["procs"] = [p.as_dict() for p in self.procs]
        path = Path(self.directory) / "state.json"
        path.write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, directory: str) -> Cluster | None:
        """The cluster recorded in ``directory`` (None when nothing is recorded there)."""
        try:
            data = json.loads((Path(directory) / "state.json").read_text())
        except (OSError, ValueError):
            return None
        data["procs"] = [Proc(**p) for p in data.get("procs", [])]
        return cls(**data)


def node_name(i: int) -> str:
    return f"host-{i}"


def _wait(check: Any, timeout: float, what: str, procs: list[Proc]) -> None:
    """Poll ``check()`` until true; ``RuntimeError`` when a recorded process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        dead = [p.name for p in procs if not processes.alive(p.pid)]
        if dead:
            raise RuntimeError(f"waiting for {what}: {', '.join(dead)} exited (see logs/)")
        time.sleep(0.2)
    raise RuntimeError(f"{what} not reached within {timeout:.0f} s")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _admin(base: Path | None) -> tuple[ssl.SSLContext | None, dict[str, str]]:
    """TLS context and headers of the admin kubeconfig in ``base`` (none: plain, anonymous)."""
    if base is None or not (base / "kubeconfig").exists():
        return None, {}
    from cluster import kubeconfig

    kc = kubeconfig.read(str(base / "kubeconfig"))
    context = None
    if kc.server.startswith("https"):
        context = ssl.create_default_context(cadata=kc.ca_pem.decode() if kc.ca_pem else None)
    return context, ({"Authorization": f"Bearer {kc.token}"} if kc.token else {})


def _get(url: str, base: Path | None = None) -> Any:
    context, headers = _admin(base)
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=2, context=context) as resp:
            return json.loads(resp.read() or b"null") if resp.status == 200 else None
    except (OSError, ValueError):
        return None


def ready_nodes(server: str, base: Path | None = None) -> list[str]:
    """Names of the Nodes that are Ready (empty when the API server does not answer).

    With ``base`` (the harness directory), a node counts only once its pod network is ready too:
    it has a pod CIDR, the route controller reported ``NetworkUnavailable=False``, and its agent
    wrote the CIDR to ``<base>/<node>/node/pod-cidr`` where its runtime reads it (a pod started
    before that would take an address no other host routes to).
    """
    listed = _get(server + "/api/v1/nodes", base) or {}
    names = []
    for node in listed.get("items") or []:
        name, cidr = node["metadata"]["name"], (node.get("spec") or {}).get("podCIDR")
        status = node.get("status") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if conditions.get("Ready") != "True":
            continue
        if base is not None and not (
            cidr
            and conditions.get("NetworkUnavailable") == "False"
            and _read(base / name / "node" / "pod-cidr") == cidr
        ):
            continue
        names.append(name)
    return sorted(names)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _redis_argv(data: Path) -> list[str]:
    from cluster.store.embedded import SETTINGS, redis_server_binary

    data.mkdir(parents=True, exist_ok=True)
    argv = [redis_server_binary(), "--port", str(REDIS_PORT), "--bind", network.address(0), "127.0.0.1"]
    argv += ["--dir", str(data), "--logfile", str(data / "redis.log")]
    for name, value in {**SETTINGS, "protected-mode": "no"}.items():  # no password yet: reached by IP
        argv += [f"--{name}", value]
    return argv


def _kubeq(*args: str) -> list[str]:
    return [sys.executable, "-m", "workers.cli", *args]


def up(hosts: int, directory: str = DEFAULT_DIR, ready_timeout: float = 90.0) -> Cluster:
    """Bring up ``hosts`` hosts (1 control-plane host + ``hosts - 1`` nodes; see the module docstring).

    ``RuntimeError`` when the network exists already, a component exits early, or the nodes are not
    Ready within ``ready_timeout`` seconds; then whatever was started is torn down again.
    """
    if hosts < 2:
        raise ValueError("at least 2 hosts: one for the control plane, one node")
    base = Path(directory).resolve()
    base.mkdir(parents=True, exist_ok=True)
    api_host = network.address(0)
    server = f"https://{api_host}:{API_PORT}"
    cluster = Cluster(
        directory=str(base),
        hosts=hosts,
        server=server,
        redis_url=f"redis://{api_host}:{REDIS_PORT}/0",
        kubeconfig=str(base / "kubeconfig"),
        nodes=[node_name(i) for i in range(1, hosts)],
    )
    logs = base / "logs"
    network.create(hosts)  # first, outside the clean-up: a network that exists is someone else's
    try:
        clear(base)
        cluster.save()
        redis = processes.start(
            0, "redis", _redis_argv(base / "host-0" / "redis"), dict(os.environ), logs, ROOT
        )
        cluster.procs.append(redis)
        cluster.save()
        _wait(lambda: _answers(api_host, REDIS_PORT), 20, "Redis", cluster.procs)
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
            KUBEQ_REDIS_URL=cluster.redis_url,
            KUBEQ_SERVER=server,
            KUBEQ_DATA_DIR=str(base / "host-0"),
        )
        env.pop("KUBEQ_BROKER_URL", None)
        env.pop("KUBEQ_INSECURE", None)
        env.pop("KUBEQ_KUBECONFIG", None)
        pki = _certs(base, api_host, env)
        cluster.ca_file = pki.ca_cert
        from workers.local_cluster import component_envs, secure_apiserver_flags, write_kubeconfig

        audit = str(base / "logs" / "audit.log")
        api_argv = _kubeq("apiserver", "--bind-address", api_host, "--port", str(API_PORT))
        api = processes.start(0, "apiserver", api_argv + secure_apiserver_flags(pki, audit), env, logs, ROOT)
        cluster.procs.append(api)
        cluster.save()
        write_kubeconfig(base, server, pki)
        _wait(lambda: _get(server + "/version", base) is not None, 60, "API server", cluster.procs)
        envs = component_envs(pki, base / "host-0" / "components", server, [*CONTROL_PLANE, "dns"], env)
        for role in CONTROL_PLANE:
            cluster.procs.append(processes.start(0, role, _kubeq(role), envs[role], logs, ROOT))
        routes = [sys.executable, "-m", "ops.hosts.routes", "--kubeconfig", cluster.kubeconfig]
        cluster.procs.append(processes.start(0, "routes", routes + ["--name", node_name(0)], env, logs, ROOT))
        dns = _kubeq("dns", "--advertise-address", api_host)
        cluster.procs.append(processes.start(0, "dns", dns, envs["dns"], logs, ROOT))
        cluster.token, join = _token(cluster.kubeconfig, env)
        for i in range(1, hosts):
            name = node_name(i)
            node_dir = base / name / "node"
            node_env = dict(env, KUBEQ_DATA_DIR=str(base / name))
            argv = _kubeq("node", "--name", name, "--data-dir", str(node_dir), *join)
            cluster.procs.append(processes.start(i, name, argv, node_env, logs, ROOT))
        cluster.save()
        _wait(
            lambda: ready_nodes(server, base) == sorted(cluster.nodes),
            ready_timeout,
            "Ready nodes",
            cluster.procs,
        )
    except BaseException:
        down(str(base))
        raise
    return cluster


def _certs(base: Path, api_host: str, env: dict[str, str]) -> Any:
    """Run ``kubeq certs`` for host 0 (serving certificate for ``api_host``); the ``Pki``."""
    from cluster.pki import Pki

    data = base / "host-0"
    argv = _kubeq("certs", "--data-dir", str(data), "--bind-address", api_host, "--port", str(API_PORT))
    subprocess.run(
        argv + ["--ips", api_host], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120
    )
    return Pki(str(data / "pki"))


def _token(kubeconfig: str, env: dict[str, str]) -> tuple[str, list[str]]:
    """Run ``kubeq token create``; the token and the ``--join ...`` flags of the command it printed."""
    argv = _kubeq("token", "create", "--kubeconfig", kubeconfig)
    out = subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=120)
    token, command = out.stdout.strip().splitlines()[-2:]
    words = command.split()
    return token, words[words.index("--join") :]


def clear(base: Path) -> None:
    """Remove the data and logs an earlier cluster left in ``base``: every ``up`` starts empty."""
    for stale in [*base.glob("host-*"), base / "logs", base / "kubeconfig"]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def down(directory: str = DEFAULT_DIR, grace: float = 5.0) -> list[str]:
    """Stop every process ``up`` started in ``directory`` (node agents first, then the nodes' runtime
    and proxy daemons with their containers, then the control plane and Redis), kill whatever is
    left in the hosts, and delete the network; what was removed. Safe to run twice, or after a
    failed ``up``."""
    from workers.node import supervisor
    from workers.proxy import client as proxy_client

    base = Path(directory).resolve()
    cluster = Cluster.load(str(base))
    procs = cluster.procs if cluster else []
    nodes = [p for p in procs if p.host != 0]
    processes.stop(nodes, grace)
    for p in nodes:
        node_dir = base / p.name / "node"
        supervisor.stop_daemon(node_dir, grace)
        proxy_client.stop_daemon(node_dir)
    processes.stop([p for p in procs if p.host == 0 and p.name != "redis"], grace)
    processes.stop([p for p in procs if p.name == "redis"], grace)
    leftovers = processes.pids_mentioning(str(base))
    for ns in network.namespaces():
        leftovers += network.namespace_pids(ns)
    processes.kill_all(sorted(set(leftovers)), 2.0)
    removed = network.destroy()
    (base / "state.json").unlink(missing_ok=True)
    return removed


def cut(i: int) -> None:
    """Cut host ``i`` off the network: its node stops renewing its Lease, nothing reaches its pods."""
    network.cut(i)


def heal(i: int) -> None:
    """Put host ``i`` back on the network."""
    network.heal(i)
