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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kubeq`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    overrides = {k: v for k, v in vars(args).items() if k != "command"}
    settings = Settings.from_env(**overrides)
    if args.command == "up":
        from workers.local_cluster import up

        return up(settings)
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
