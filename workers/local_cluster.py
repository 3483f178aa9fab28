"""``kubeq up``: a whole local cluster in the foreground, stopped cleanly on Ctrl-C/SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from cluster import kubeconfig
from cluster.pki import ADMIN_USER, Pki, ensure_pki, issue_client_cert
from cluster.processes import die_with_parent
from cluster.settings import Settings
from cluster.store import start_embedded

RESTART_DELAY = 5.0  # seconds between restarts of a component that keeps exiting
# Client-certificate identities of the components `kubeq up` starts (user, groups).
IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "controller-manager": ("system:kube-controller-manager", ()),
    "beat": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "dns": ("system:kube-dns", ()),
    "cloud-controller-manager": ("system:cloud-controller-manager", ()),
    # hollow nodes are a test fleet writing many Nodes through one client: an admin identity
    "hollow-nodes": ("kubeq:hollow-nodes", ("system:masters",)),
}


def node_identity(name: str) -> tuple[str, tuple[str, ...]]:
    """The user and groups of node ``name``'s client certificate."""
    return f"system:node:{name}", ("system:nodes",)


def write_kubeconfig(data_dir: Path, server: str, pki: Pki | None = None) -> Path:
    """``<data-dir>/kubeconfig`` for kubectl and the Python client: with ``pki``, the CA and the admin
    token (user kubernetes-admin, group system:masters); without, a plain-http one (insecure clusters)."""
    path = data_dir / "kubeconfig"
    if pki is None:
        kubeconfig.write(str(path), server, user="admin", namespace="default")
    else:
        kubeconfig.write(
            str(path), server, pki.ca_pem(), token=pki.admin_token(), user=ADMIN_USER, namespace="default"
        )
    return path


def write_component_kubeconfig(pki: Pki, path: Path, server: str, user: str, groups: tuple[str, ...]) -> Path:
    """A kubeconfig for one component at ``path``: the CA and a new client certificate for ``user``."""
    cert, key = issue_client_cert(pki, user, groups)
    kubeconfig.write(str(path), server, pki.ca_pem(), cert_pem=cert, key_pem=key, user=user)
    return path


def wait_ready(
    url: str, timeout: float, process: subprocess.Popen[bytes], ca_file: str | None = None, token: str = ""
) -> None:
    """Poll ``url`` until it answers 200 (https: verified against ``ca_file``, with ``token`` as bearer);
    ``RuntimeError`` if the process dies or time runs out."""
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with code {process.returncode}")
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=1, context=context) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; reaps the child."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_component(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A kubeq subcommand as a child process of this one."""
    return subprocess.Popen([sys.executable, "-m", "workers.cli", *args], env=env, preexec_fn=die_with_parent)


def local_node_names(count: int) -> list[str]:
    """``<host>-<i>``: this host's name made a valid Node name (lower case, ``[a-z0-9-.]``)."""
    host = re.sub(r"[^a-z0-9.-]+", "-", socket.gethostname().lower()).strip("-.") or "node"
    return [f"{host}-{i}" for i in range(count)]


def secure_apiserver_flags(pki: Pki, audit_log: str) -> list[str]:
    """The ``kubeq apiserver`` flags of a secure cluster on ``pki``: TLS, x509, tokens, SA keys, audit."""
    return [
        "--tls-cert-file", pki.serving_cert, "--tls-private-key-file", pki.serving_key,
        "--client-ca-file", pki.ca_cert, "--token-auth-file", pki.tokens,
        "--service-account-key-file", pki.sa_pub, "--service-account-signing-key-file", pki.sa_key,
        "--audit-log-path", audit_log,
    ]  # fmt: skip


def component_envs(
    pki: Pki, directory: Path, server: str, names: list[str], env: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Each component's environment: ``env`` plus KUBEQ_KUBECONFIG, its own kubeconfig with a client
    certificate (``node <name>`` as ``system:node:<name>``); the controller-manager also gets the CA as
    the CSR signer's keys. Flower talks to no API server and gets ``env`` unchanged."""
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, str]] = {}
    for name in names:
        if name.startswith("node "):
            user, groups = node_identity(name.split(" ", 1)[1])
        elif name in IDENTITIES:
            user, groups = IDENTITIES[name]
        else:
            out[name] = env
            continue
        path = directory / f"{name.replace(' ', '-')}.kubeconfig"
        write_component_kubeconfig(pki, path, server, user, groups)
        out[name] = dict(env, KUBEQ_KUBECONFIG=str(path))
        if name == "controller-manager":
            out[name].update(
                KUBEQ_CLUSTER_SIGNING_CERT_FILE=pki.ca_cert, KUBEQ_CLUSTER_SIGNING_KEY_FILE=pki.ca_key
            )
    return out


def service_range(settings: Settings) -> str:
    """The ClusterIP range: the configured one; for a non-root ``up`` left at the default, 127.96.0.0/16
    (an unprivileged userspace proxy can listen only on loopback addresses it needs not add)."""
    default = Settings.__dataclass_fields__["service_cluster_ip_range"].default
    if os.geteuid() != 0 and settings.service_cluster_ip_range == default:
        return "127.96.0.0/16"
    return settings.service_cluster_ip_range


def up(
    settings: Settings,
    hollow_nodes: int = 0,
    flower_port: int = 5555,
    ready_timeout: float = 60.0,
    nodes: int = 2,
    isolation: str = "auto",
    proxy_mode: str | None = None,
) -> int:
    """Start Redis (embedded unless ``redis_url`` is set), the API server, the control plane and
    ``nodes`` real nodes (``kubeq node``, data under ``<data-dir>/nodes/<name>``).

    Then waits for SIGINT/SIGTERM and stops everything it started, newest first; the nodes'
    runtime daemons (which a lone ``kubeq node`` leaves running) and their containers too.
    """
    data_dir = Path(settings.data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ExitStack() as stack:
        redis_url = settings.redis_url
        if not redis_url:
            embedded = start_embedded(str(data_dir / "redis"))
            stack.callback(embedded.stop)
            redis_url = embedded.url
            print(f"kubeq: embedded Redis at {redis_url} (data in {data_dir / 'redis'})", flush=True)
        insecure = settings.insecure
        server = f"{'http' if insecure else 'https'}://{settings.bind_address}:{settings.port}"
        env = dict(
            os.environ,
            KUBEQ_REDIS_URL=redis_url,
            KUBEQ_STATE_PREFIX=settings.state_prefix,
            KUBEQ_SERVER=server,
            KUBEQ_DATA_DIR=str(data_dir),
            KUBEQ_BROKER_PREFIX=settings.broker_prefix,
            KUBEQ_SERVICE_CLUSTER_IP_RANGE=service_range(settings),
            KUBEQ_SERVICE_NODE_PORT_RANGE=settings.service_node_port_range,
            KUBEQ_INSECURE="1" if insecure else "0",
        )
        env.pop("KUBEQ_KUBECONFIG", None)  # each component gets its own below
        if proxy_mode:
            env["KUBEQ_PROXY_MODE"] = proxy_mode
        api_args = ["apiserver", "--port", str(settings.port), "--bind-address", settings.bind_address]
        pki: Pki | None = None
        if insecure:
            api_args.append("--insecure")
        else:
            pki = ensure_pki(settings.pki, ips=[settings.bind_address], service_cidr=service_range(settings))
            api_args += secure_apiserver_flags(pki, settings.audit_log_path or str(data_dir / "audit.log"))
        api = start_component(api_args, env)
        stack.callback(stop_process, api)
        wait_ready(
            server + "/readyz",
            ready_timeout,
            api,
            ca_file=pki.ca_cert if pki else None,
            token=pki.admin_token() if pki else "",
        )
        kubeconfig_path = write_kubeconfig(data_dir, server, pki)
        print(f"kubeq: API server at {server}", flush=True)
        components = {
            "controller-manager": ["controller-manager"],
            "scheduler": ["scheduler"],
            "beat": ["beat"],
            "flower": ["flower", "--port", str(flower_port)],
            "dns": ["dns", "--port", "0"],  # pods reach it on kube-dns's ClusterIP:53 through the proxy
            "cloud-controller-manager": ["cloud-controller-manager"],
        }
        if hollow_nodes:
            components["hollow-nodes"] = ["hollow-nodes", "--count", str(hollow_nodes)]
        from workers.node.supervisor import stop_daemon
        from workers.proxy.teardown import teardown

        for i, name in enumerate(local_node_names(nodes)):
            node_dir = data_dir / "nodes" / name
            stack.callback(stop_daemon, node_dir)  # after the node agents (callbacks run newest first)
            stack.callback(teardown, name, str(node_dir))  # the node's proxy rules or forwarder
            components[f"node {name}"] = [
                "node", "--name", name, "--data-dir", str(node_dir), "--port", str(10250 + i),
                "--isolation", isolation,
            ]  # fmt: skip
        from workers.roles import flower_credentials

        user, password = flower_credentials(str(data_dir))  # before Flower starts and reads them
        envs = {name: env for name in components}
        if pki is not None:
            envs = component_envs(pki, data_dir / "kubeconfigs", server, list(components), env)
        children = {name: start_component(args, envs[name]) for name, args in components.items()}
        for child in children.values():
            stack.callback(stop_process, child)
        print(
            f"kubeq: Flower at http://127.0.0.1:{flower_port} (user {user}, password {password})", flush=True
        )
        print(f"kubeq: kubeconfig at {kubeconfig_path}  (export KUBECONFIG={kubeconfig_path})", flush=True)
        print("kubeq: ready; Ctrl-C stops everything", flush=True)
        restart_at: dict[str, float] = {}
        while not stopping:
            if api.poll() is not None:
                print(f"kubeq: API server exited with code {api.returncode}", file=sys.stderr, flush=True)
                return 1
            for name, child in list(children.items()):
                if child.poll() is not None and time.monotonic() >= restart_at.get(name, 0.0):
                    print(
                        f"kubeq: {name} exited with code {child.returncode}; restarting",
                        file=sys.stderr,
                        flush=True,
                    )
                    restart_at[name] = time.monotonic() + RESTART_DELAY
                    children[name] = start_component(components[name], envs[name])
                    stack.callback(stop_process, children[name])
            time.sleep(0.2)
        print("kubeq: stopping", flush=True)
    return 0


def make_certs(
    settings: Settings,
    hosts: Sequence[str] = (),
    ips: Sequence[str] = (),
    components: bool = False,
    nodes: Sequence[str] = (),
) -> list[str]:
    """``kubeq certs``: the PKI in ``settings.pki`` and the admin kubeconfig, plus (``components``) one
    client-certificate kubeconfig per control-plane component and one per node name in ``nodes``, under
    ``<data-dir>/kubeconfigs``. Idempotent for the PKI; kubeconfigs are rewritten. Returns the paths."""
    data_dir = Path(settings.data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(
        settings.pki, list(hosts), [settings.bind_address, *ips], service_cidr=service_range(settings)
    )
    server = settings.server or f"https://{settings.bind_address}:{settings.port}"
    files = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub", "tokens.csv")
    written = [pki.path(name) for name in files] + [str(write_kubeconfig(data_dir, server, pki))]
    names = [n for n in IDENTITIES if components and n != "hollow-nodes"] + [f"node {n}" for n in nodes]
    envs = component_envs(pki, data_dir / "kubeconfigs", server, names, {})
    return written + [envs[name]["KUBEQ_KUBECONFIG"] for name in names]
