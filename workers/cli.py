"""The ``kubeq`` command: ``kubeq up`` for a local cluster, and one subcommand per component."""

from __future__ import annotations

import argparse
import logging
import sys

from cluster.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeq", description="Kubernetes as a distributed task queue.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser(
        "up", help="start a local cluster (embedded Redis unless --redis-url) in the foreground"
    )
    up.add_argument("--data-dir", help="state, kubeconfig and the embedded Redis (default ~/.kubeq)")
    up.add_argument("--port", type=int, help="API server port (default 6443)")
    up.add_argument("--redis-url", help="use this Redis instead of starting the embedded one")

    api = sub.add_parser("apiserver", help="run the Kubernetes API server")
    api.add_argument("--port", type=int, help="port to listen on (default 6443)")
    api.add_argument("--bind-address", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--redis-url", help="Redis holding cluster state (or KUBEQ_REDIS_URL)")
    api.add_argument("--workers", type=int, dest="apiserver_workers", help="gunicorn worker processes")
    for parser_ in (api, up):
        parser_.add_argument(
            "--service-cluster-ip-range",
            help="CIDR of Service ClusterIPs (default 10.96.0.0/16; 127.96.0.0/16 for a non-root `up`)",
        )
        parser_.add_argument("--service-node-port-range", help="NodePort range (default 30000-32767)")
    for name, text in (
        ("dns", "run the cluster DNS server (python -m workers.dns --help for its flags)"),
        ("cloud-controller-manager", "run the cloud-controller-manager worker (queue cloud; --help)"),
    ):
        passthrough = sub.add_parser(name, help=text, add_help=False)
        passthrough.add_argument("rest", nargs=argparse.REMAINDER)

    for name, text in (
        ("scheduler", "run the scheduler worker (scheduler@<host>, queue scheduler)"),
        ("controller-manager", "run the dispatcher and the controllers worker"),
        ("beat", "run beat (periodic resync; a second one stands by)"),
    ):
        role = sub.add_parser(name, help=text)
        role.add_argument("--redis-url", help="Redis holding cluster state (or KUBEQ_REDIS_URL)")
        role.add_argument("--server", help="API server URL (or KUBEQ_SERVER)")

    flower = sub.add_parser("flower", help="run Flower with basic auth (credentials in the data dir)")
    flower.add_argument("--port", type=int, dest="flower_port", default=5555)
    flower.add_argument("--address", dest="flower_address", default="127.0.0.1", help="address to listen on")
    flower.add_argument("--redis-url", help="Redis holding cluster state (or KUBEQ_REDIS_URL)")
    flower.add_argument("--data-dir", help="where flower-credentials is kept (default ~/.kubeq)")

    hollow = sub.add_parser(
        "hollow-nodes", help="register N hollow nodes (kwok-like) that run pods without processes"
    )
    hollow.add_argument("--count", type=int, required=True)
    hollow.add_argument("--prefix", default="hollow")
    hollow.add_argument("--cpu", default="32")
    hollow.add_argument("--memory", default="256Gi")
    hollow.add_argument("--pods", type=int, default=110)
    hollow.add_argument("--startup-ms", type=int, default=0)
    hollow.add_argument("--server", help="API server URL (or KUBEQ_SERVER)")

    node = sub.add_parser("node", help="make this host a node: runtime daemon, Node, Lease, kubelet@<name>")
    node.add_argument("--name", required=True, help="the Node's name (its queue is node.<name>)")
    node.add_argument("--data-dir", dest="node_data_dir", help="node state (default <data-dir>/nodes/<name>)")
    node.add_argument("--isolation", choices=("auto", "host", "namespaces"), default="auto")
    node.add_argument("--max-pods", type=int, default=110)
    node.add_argument(
        "--proxy-mode",
        choices=("auto", "nftables", "userspace"),
        help="kube-proxy mode (default $KUBEQ_PROXY_MODE or auto: nftables as root where nft works)",
    )
    node.add_argument(
        "--port", type=int, dest="kubelet_port", default=10250, help="node HTTP port (busy: a free one)"
    )
    node.add_argument("--server", help="API server URL (or KUBEQ_SERVER)")
    node.add_argument("--redis-url", help="Redis holding cluster state and the broker (or KUBEQ_REDIS_URL)")

    up.add_argument("--hollow-nodes", type=int, default=0, help="also start N hollow nodes")
    up.add_argument("--nodes", type=int, default=2, help="also start N real nodes (default 2)")
    up.add_argument(
        "--isolation",
        choices=("auto", "host", "namespaces"),
        default="auto",
        help="the real nodes' pod isolation (default auto: namespaces where it can)",
    )
    up.add_argument("--flower-port", type=int, default=5555, help="Flower's port (default 5555)")
    up.add_argument(
        "--proxy-mode", choices=("auto", "nftables", "userspace"), help="the nodes' kube-proxy mode"
    )
    return parser


def _passthrough(command: str, rest: list[str]) -> int:
    """``kubeq dns ...`` and ``kubeq cloud-controller-manager ...``: their modules parse the flags."""
    if command == "dns":
        from workers.dns.daemon import main as dns_main

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        server = Settings.from_env().api_server
        dns_main(rest if "--server" in rest else ["--server", server, *rest])
        return 0
    from workers.cloud import main as cloud_main

    return cloud_main(rest)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kubeq`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("dns", "cloud-controller-manager"):  # their own parsers take every flag
        return _passthrough(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fields = {f for f in Settings.__dataclass_fields__}
    overrides = {k: v for k, v in vars(args).items() if k in fields}
    settings = Settings.from_env(**overrides)
    if args.command == "up":
        from workers.local_cluster import up

        return up(
            settings,
            hollow_nodes=args.hollow_nodes,
            flower_port=args.flower_port,
            nodes=args.nodes,
            isolation=args.isolation,
            proxy_mode=args.proxy_mode,
        )
    if args.command == "node":
        from workers.node import run_node

        run_node(
            settings,
            args.name,
            data_dir=args.node_data_dir,
            isolation=args.isolation,
            max_pods=args.max_pods,
            port=args.kubelet_port,
            proxy_mode=args.proxy_mode,
        )
        return 0

    if args.command in ("scheduler", "controller-manager", "beat", "flower"):
        from workers import roles

        if args.command == "scheduler":
            roles.run_scheduler(settings)
        elif args.command == "controller-manager":
            roles.run_controller_manager(settings)
        elif args.command == "beat":
            from workers.beat import run_beat

            run_beat(settings)
        else:
            roles.run_flower(settings, args.flower_port, args.flower_address)
        return 0
    if args.command == "hollow-nodes":
        from workers.hollow import run_hollow_nodes

        run_hollow_nodes(
            settings,
            args.count,
            prefix=args.prefix,
            cpu=args.cpu,
            memory=args.memory,
            pods=args.pods,
            startup_ms=args.startup_ms,
        )
        return 0
    if args.command == "apiserver":
        if not settings.redis_url:
            print("kubeq apiserver: --redis-url or KUBEQ_REDIS_URL is required", file=sys.stderr)
            return 2
        from gevent import monkey  # before redis/ssl are imported: the workers are gevent workers

        monkey.patch_all()
        from cluster.apiserver.server import serve

        serve(settings)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
