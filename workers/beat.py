"""``run_beat(settings)``: Celery beat with celery-redbeat, one active beat and standbys.

The schedule (``kubeq.resync`` per controller every ``Settings.resync_interval``) lives in Redis
under the broker prefix. A beat holds redbeat's lock while it runs and renews it every tick; a
standby started beside it blocks on the lock and takes over when the active beat dies and its lock
expires (``lock_timeout`` seconds, which must stay above ``max_loop_interval``).

    python -m workers.beat [--lock-timeout S] [--max-loop-interval S] [--loglevel INFO]
"""

from __future__ import annotations

import argparse
import sys

from cluster.settings import Settings
from workers.celery_app import BEAT_LOCK_TIMEOUT, BEAT_MAX_LOOP_INTERVAL, make_app

SCHEDULER = "redbeat.RedBeatScheduler"


def run_beat(
    settings: Settings,
    *,
    lock_timeout: int = BEAT_LOCK_TIMEOUT,
    max_loop_interval: float = BEAT_MAX_LOOP_INTERVAL,
    loglevel: str = "INFO",
    logfile: str | None = None,
) -> None:
    """Run beat in the foreground until stopped; ValueError unless lock_timeout > max_loop_interval."""
    if lock_timeout <= max_loop_interval:
        raise ValueError("the beat lock timeout must be longer than the loop interval")
    app = make_app(settings)
    app.conf.update(redbeat_lock_timeout=lock_timeout, beat_max_loop_interval=max_loop_interval)
    app.Beat(
        scheduler=SCHEDULER,
        max_interval=max_loop_interval,
        loglevel=loglevel,
        logfile=logfile,
        quiet=True,
    ).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.beat", description=__doc__.splitlines()[0])
    parser.add_argument("--lock-timeout", type=int, default=BEAT_LOCK_TIMEOUT)
    parser.add_argument("--max-loop-interval", type=float, default=BEAT_MAX_LOOP_INTERVAL)
    parser.add_argument("--resync-interval", type=float, help="seconds between resyncs (Settings)")
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--logfile")
    args = parser.parse_args(argv)
    settings = Settings.from_env(resync_interval=args.resync_interval)
    run_beat(
        settings,
        lock_timeout=args.lock_timeout,
        max_loop_interval=args.max_loop_interval,
        loglevel=args.loglevel,
        logfile=args.logfile,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
