"""``python -m ops.hosts up --hosts K [--dir D] | down [--dir D] | cut I | heal I`` (as root)."""

from __future__ import annotations

import argparse
import os
import sys

from ops.hosts import harness, network


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.hosts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="make K hosts and start the cluster on them; returns when nodes are Ready")
    up.add_argument("--hosts", type=int, default=3, help="hosts: 1 control plane + K-1 nodes (default 3)")
    up.add_argument(
        "--dir", default=harness.DEFAULT_DIR, help=f"state and logs (default {harness.DEFAULT_DIR})"
    )
    up.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for Ready nodes")
    down = sub.add_parser("down", help="stop everything and delete the hosts and their network")
    down.add_argument("--dir", default=harness.DEFAULT_DIR)
    for name, text in (("cut", "cut host I off the network"), ("heal", "put host I back on the network")):
        sub.add_parser(name, help=text).add_argument("host", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("ops.hosts needs root (network namespaces, veths, a bridge)", file=sys.stderr)
        return 2
    if args.command == "up":
        try:
            cluster = harness.up(args.hosts, args.dir, args.timeout)
        except (RuntimeError, ValueError) as exc:
            print(f"ops.hosts up: {exc}", file=sys.stderr)
            return 1
        print(f"API server {cluster.server}; Redis {cluster.redis_url}")
        for i in range(cluster.hosts):
            role = "control plane" if i == 0 else f"node {harness.node_name(i)}"
            print(f"host {i}: {network.namespace(i)} {network.address(i)} ({role})")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        return 0
    if args.command == "down":
        removed = harness.down(args.dir)
        print("removed: " + (", ".join(removed) or "nothing"))
        return 0
    try:
        (harness.cut if args.command == "cut" else harness.heal)(args.host)
    except RuntimeError as exc:
        print(f"ops.hosts {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
