"""Routes to every node's pods for a host that runs no node: ``python -m ops.hosts.routes --server URL``.

The control-plane host has no node agent, so nothing there follows the cloud route table; without
it, answers from host 0 (DNS, the API server) to a pod's address would leave by the default route
and be lost. This runs the node agent's ``RouteSync`` for the host it is started in, under a name no
node has (``--name``, default ``host-0``): every route of the table whose gateway is another host
becomes a route here. It runs in the foreground until SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.hosts.routes", description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="API server URL (insecure clusters; else --kubeconfig)")
    parser.add_argument("--kubeconfig", help="kubeconfig with the server, CA and credentials")
    parser.add_argument("--name", default="host-0", help="this host's name in the route table")
    args = parser.parse_args(argv)
    if not (args.server or args.kubeconfig):
        parser.error("--server or --kubeconfig is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from cluster.client.client import Client
    from workers.node.routes import RouteSync

    agent = f"kubeq-hosts-routes/{args.name}"
    client = (
        Client.from_kubeconfig(args.kubeconfig, user_agent=agent)
        if args.kubeconfig
        else Client(args.server, user_agent=agent)
    )
    sync = RouteSync(client, args.name)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    sync.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
