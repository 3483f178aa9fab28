"""``kubeq up``: a whole local cluster in the foreground, stopped cleanly on Ctrl-C/SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from cluster.processes import die_with_parent
from cluster.settings import Settings
from cluster.store import start_embedded

RESTART_DELAY = 5.0  # seconds between restarts of a component that keeps exiting
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: kubeq
  cluster:
    server: {server}
contexts:
- name: kubeq
  context:
    cluster: kubeq
    user: admin
    namespace: default
current-context: kubeq
users:
- name: admin
  user: {{}}
"""


def write_kubeconfig(data_dir: Path, server: str) -> Path:
    """``<data-dir>/kubeconfig`` pointing kubectl and the Python client at ``server``."""
    path = data_dir / "kubeconfig"
    path.write_text(KUBECONFIG.format(server=server))
    path.chmod(0o600)
    return path


def wait_ready(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Poll ``url`` until it answers 200; ``RuntimeError`` if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
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
        server = f"http://{settings.bind_address}:{settings.port}"
        env = dict(
            os.environ,
            KUBEQ_REDIS_URL=redis_url,
            KUBEQ_STATE_PREFIX=settings.state_prefix,
            KUBEQ_SERVER=server,
            KUBEQ_DATA_DIR=str(data_dir),
            KUBEQ_BROKER_PREFIX=settings.broker_prefix,
            KUBEQ_SERVICE_CLUSTER_IP_RANGE=service_range(settings),
            KUBEQ_SERVICE_NODE_PORT_RANGE=settings.service_node_port_range,
        )
        if proxy_mode:
            env["KUBEQ_PROXY_MODE"] = proxy_mode
        api = start_component(
            ["apiserver", "--port", str(settings.port), "--bind-address", settings.bind_address], env
        )
        stack.callback(stop_process, api)
        wait_ready(server + "/readyz", ready_timeout, api)
        kubeconfig = write_kubeconfig(data_dir, server)
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
        children = {name: start_component(args, env) for name, args in components.items()}
        for child in children.values():
            stack.callback(stop_process, child)
        print(
            f"kubeq: Flower at http://127.0.0.1:{flower_port} (user {user}, password {password})", flush=True
        )
        print(f"kubeq: kubeconfig at {kubeconfig}  (export KUBECONFIG={kubeconfig})", flush=True)
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
                    children[name] = start_component(components[name], env)
                    stack.callback(stop_process, children[name])
            time.sleep(0.2)
        print("kubeq: stopping", flush=True)
    return 0
