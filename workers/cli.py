"""The ``kubeq`` command: ``kubeq up`` for a local cluster, and one subcommand per component."""

from __future__ import annotations

import argparse
import logging
import sys

from cluster.settings import Settings
from workers import gctuning


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
    for parser_ in (api, up):
        parser_.add_argument(
            "--insecure",
            action="store_true",
            default=None,
            help="development only: plain HTTP, no authentication, every request allowed",
        )
        parser_.add_argument("--audit-log-path", help="audit log, JSON lines (up: <data-dir>/audit.log)")
    for flag, text in (
        ("--tls-cert-file", "serving certificate (default: self-signed PKI in <data-dir>/pki)"),
        ("--tls-private-key-file", "its private key"),
        ("--client-ca-file", "CA that verifies client certificates"),
        ("--token-auth-file", 'static bearer tokens, CSV: token,user,uid,"group1,group2"'),
        ("--service-account-key-file", "public key that verifies ServiceAccount tokens"),
        ("--service-account-signing-key-file", "private key that signs ServiceAccount tokens"),
        ("--service-account-issuer", "the iss of ServiceAccount tokens"),
    ):
        api.add_argument(flag, help=text)
    api.add_argument("--data-dir", help="where the self-signed PKI is made when no TLS files are given")

    certs = sub.add_parser("certs", help="make the cluster PKI and the admin kubeconfig (idempotent)")
    certs.add_argument("--data-dir", help="default ~/.kubeq; the PKI goes to <data-dir>/pki")
    certs.add_argument("--pki-dir", help="where the PKI goes (default <data-dir>/pki)")
    certs.add_argument(
        "--hosts", default="", help="extra DNS names of the serving certificate, comma-separated"
    )
    certs.add_argument(
        "--ips", default="", help="extra IP addresses of the serving certificate, comma-separated"
    )
    certs.add_argument("--server", help="API server URL in the kubeconfig (default https://<bind>:<port>)")
    certs.add_argument("--port", type=int, help="API server port (default 6443)")
    certs.add_argument("--bind-address", help="API server address (default 127.0.0.1)")
    certs.add_argument(
        "--components",
        action="store_true",
        help="also write <data-dir>/kubeconfigs/<component>.kubeconfig with client certificates",
    )
    certs.add_argument(
        "--node",
        action="append",
        default=[],
        dest="node_names",
        help="also write <data-dir>/kubeconfigs/node-<NAME>.kubeconfig (system:node:<NAME>); repeatable",
    )

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
        _client_flags(role)

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
    _client_flags(hollow)

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
    _client_flags(node)
    node.add_argument("--redis-url", help="Redis holding cluster state and the broker (or KUBEQ_REDIS_URL)")
    node.add_argument("--join", dest="join_url", help="join the cluster at this https URL with --token")
    node.add_argument("--token", dest="join_token", help="bootstrap token <id>.<secret> (kubeq token create)")
    node.add_argument("--ca-cert-hash", dest="join_ca_hash", help="the cluster CA's pin, sha256:<hex>")
    node.add_argument(
        "--ca-file", dest="join_ca_file", help="the cluster CA certificate (instead of the pin)"
    )
    node.add_argument(
        "--join-timeout", type=float, default=300, help="seconds to wait for the node's certificate (300)"
    )

    token = sub.add_parser("token", help="bootstrap tokens for joining nodes")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    token_create = token_sub.add_parser(
        "create", help="make a bootstrap token; print it and the join command"
    )
    token_create.add_argument("--ttl", default="24h", help="lifetime (Go duration, 0: never expires)")
    token_create.add_argument("--kubeconfig", help="the admin kubeconfig (default <data-dir>/kubeconfig)")
    token_create.add_argument(
        "--server", dest="join_url", help="URL nodes join at (default: the kubeconfig's)"
    )

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


def _client_flags(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--insecure`` of the components that talk to the API server."""
    parser.add_argument(
        "--kubeconfig", help="kubeconfig with the server, CA and credentials (or KUBEQ_KUBECONFIG)"
    )
    parser.add_argument(
        "--insecure", action="store_true", default=None, help="plain-http API server (development clusters)"
    )


def _export_client_flags(args: argparse.Namespace) -> None:
    """``--kubeconfig``/``--insecure`` into the environment: Celery tasks build their settings from it."""
    import os

    if getattr(args, "kubeconfig", None):
        os.environ["KUBEQ_KUBECONFIG"] = os.path.abspath(args.kubeconfig)
    if getattr(args, "insecure", None) is not None:
        os.environ["KUBEQ_INSECURE"] = "1" if args.insecure else "0"


def _take_flag(rest: list[str], flag: str) -> str | None:
    """Remove ``flag VALUE`` / ``flag=VALUE`` from ``rest``; the value, or None."""
    for i, arg in enumerate(rest):
        if arg == flag and i + 1 < len(rest):
            value = rest[i + 1]
            del rest[i : i + 2]
            return value
        if arg.startswith(flag + "="):
            del rest[i]
            return arg.split("=", 1)[1]
    return None


def _passthrough(command: str, rest: list[str]) -> int:
    """``kubeq dns ...`` and ``kubeq cloud-controller-manager ...``: their modules parse the flags.

    ``--kubeconfig`` and ``--insecure`` are taken here and handed on as KUBEQ_KUBECONFIG/KUBEQ_INSECURE.
    """
    import os

    rest = list(rest)
    kubeconfig = _take_flag(rest, "--kubeconfig")
    if kubeconfig:
        os.environ["KUBEQ_KUBECONFIG"] = kubeconfig
    if "--insecure" in rest:
        rest.remove("--insecure")
        os.environ["KUBEQ_INSECURE"] = "1"
    if command == "dns":
        from workers.dns.daemon import main as dns_main

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        server = Settings.from_env().api_server
        dns_main(rest if "--server" in rest else ["--server", server, *rest])
        return 0
    from workers.cloud import main as cloud_main

    return cloud_main(rest)


def _token_create(settings: Settings, args: argparse.Namespace) -> int:
    """``kubeq token create``: a bootstrap token and cluster-info; prints the token and the join command."""
    import os

    from cluster import kubeconfig
    from cluster.client.client import Client
    from workers.node import join

    data_dir = os.path.expanduser(settings.data_dir)
    path = args.kubeconfig or settings.kubeconfig or os.path.join(data_dir, "kubeconfig")
    kc = kubeconfig.read(path)
    if not kc.server.startswith("https://") or not kc.ca_pem:
        print(f"kubeq token create: {path} has no https server with CA data", file=sys.stderr)
        return 2
    client = Client.from_kubeconfig(path, user_agent="kubeq-token")
    server = args.join_url or kc.server
    try:
        ttl = join.parse_ttl(args.ttl)
    except ValueError as exc:
        print(f"kubeq token create: {exc}", file=sys.stderr)
        return 2
    token = join.create_token(client, server, kc.ca_pem, ttl)
    print(token.token)
    print(join.join_command(server, token.token, kc.ca_pem))
    return 0


def _join(settings: Settings, args: argparse.Namespace) -> Settings:
    """``kubeq node --join``: the node's kubeconfig (bootstrapped if missing) in settings and the environment."""
    import dataclasses
    import os

    from workers.node.join import JoinError, join

    node_dir = args.node_data_dir or os.path.join(os.path.expanduser(settings.data_dir), "nodes", args.name)
    try:
        path = join(
            node_dir,
            args.name,
            args.join_url,
            args.join_token or "",
            ca_cert_hash=args.join_ca_hash,
            ca_file=args.join_ca_file,
            timeout=args.join_timeout,
        )
    except (JoinError, OSError) as exc:
        print(f"kubeq node --join: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    os.environ["KUBEQ_KUBECONFIG"] = path
    os.environ["KUBEQ_INSECURE"] = "0"
    return dataclasses.replace(settings, kubeconfig=path, insecure=False)


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
    gctuning.tune()
    if args.command == "certs":
        from workers.local_cluster import make_certs

        hosts = [h for h in args.hosts.split(",") if h]
        ips = [i for i in args.ips.split(",") if i]
        for path in make_certs(settings, hosts, ips, components=args.components, nodes=args.node_names):
            print(path)
        return 0
    _export_client_flags(args)
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
    if args.command == "token":
        return _token_create(settings, args)
    if args.command == "node":
        from workers.node import run_node

        if args.join_url:
            settings = _join(settings, args)

        gctuning.freeze()
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

        gctuning.freeze()
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

        gctuning.freeze()
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

        gctuning.freeze()
        serve(settings)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
