"""``kubeq cloud-controller-manager``: the Celery worker ``cloud@<host>`` on queue ``cloud``.

``main(argv)`` queues a forced resync of every ``cloud``-queue controller (now and once more a lease
later, as the controller-manager does for its own: keys of a killed replica run again), then runs
the worker in the foreground (threads pool). The dispatcher of the controller-manager feeds the
queue; any number of these workers may consume it (a key never runs on two at once). The provider
is ``$KUBEQ_CLOUD_PROVIDER`` (default ``local``; its address pool ``$KUBEQ_LB_POOL``).
Runnable as ``python -m workers.cloud``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

QUEUE_CLOUD = "cloud"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeq cloud-controller-manager", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--redis-url", help="Redis holding cluster state and the broker (or KUBEQ_REDIS_URL)")
    parser.add_argument("--server", help="API server URL (or KUBEQ_SERVER)")
    parser.add_argument("--cloud-provider", help="provider name (or KUBEQ_CLOUD_PROVIDER; default local)")
    parser.add_argument(
        "--lb-pool", help="load-balancer addresses, IPs/CIDRs comma-separated (or KUBEQ_LB_POOL)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads (default 4)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the cloud-controller-manager worker until SIGTERM; 2 on an unknown provider."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Flags become the environment before the Celery app (built from it at import) is loaded.
    for flag, env in (
        (args.redis_url, "KUBEQ_REDIS_URL"),
        (args.server, "KUBEQ_SERVER"),
        (args.cloud_provider, "KUBEQ_CLOUD_PROVIDER"),
        (args.lb_pool, "KUBEQ_LB_POOL"),
    ):
        if flag:
            os.environ[env] = flag
    from tasks.cloud.provider import known, provider_name

    if provider_name() not in known():
        print(f"unknown cloud provider {provider_name()!r} (known: {', '.join(known())})", file=sys.stderr)
        return 2
    from workers.roles import hostname, resync_at_start, run_worker

    names = resync_at_start(QUEUE_CLOUD)
    if not names:
        logging.getLogger("kubeq.cloud").warning(
            "no controller runs on queue %r: add tasks.cloud controllers to the registry", QUEUE_CLOUD
        )
    run_worker(QUEUE_CLOUD, f"cloud@{hostname()}", "threads", args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
