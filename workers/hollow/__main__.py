"""``python -m workers.hollow --count N``: run N hollow nodes until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from cluster.settings import Settings
from workers.hollow.fleet import Registration, run_hollow_nodes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubeq hollow-nodes", description="run hollow (fake) nodes")
    p.add_argument("--count", type=int, required=True, help="how many nodes")
    p.add_argument("--prefix", default="hollow", help="node names are <prefix>-<i> (default hollow)")
    p.add_argument("--cpu", default="32", help="cpu capacity per node (default 32)")
    p.add_argument("--memory", default="256Gi", help="memory capacity per node (default 256Gi)")
    p.add_argument("--pods", type=int, default=110, help="pod capacity per node (default 110)")
    p.add_argument("--startup-ms", type=int, default=0, help="delay before a bound pod runs")
    p.add_argument("--lease-renew-seconds", type=float, default=10.0, help="lease renewal interval (10)")
    p.add_argument("--server", help="API server URL (default from KUBEQ_SERVER / settings)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.from_env(server=args.server)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def report(registration: Registration) -> None:
        print(registration, flush=True)

    run_hollow_nodes(
        settings,
        args.count,
        args.prefix,
        cpu=args.cpu,
        memory=args.memory,
        pods=args.pods,
        startup_ms=args.startup_ms,
        stop=stop,
        on_registered=report,
        lease_seconds=args.lease_renew_seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
