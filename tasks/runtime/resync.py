"""``kubeq.resync(controller=None)``: queue every key of a controller (or of all), sent by beat.

Periodic resync repairs lost messages: each key goes through ``WorkQueue.add``, so keys already
queued are not queued twice and running keys are run once more when they end.
"""

from __future__ import annotations

import logging

from celery import shared_task

from tasks.runtime.registry import controllers
from tasks.runtime.sync import runtime

log = logging.getLogger("kubeq.resync")

RESYNC_TASK = "kubeq.resync"


@shared_task(name=RESYNC_TASK)
def resync(
    controller: str | None = None, force: bool = False, keys: list[str] | None = None
) -> dict[str, int]:
    """Add every ``resync_keys()`` key of ``controller`` (all controllers if None); returns counts sent.

    ``force`` sends keys marked queued too (not those running): after a worker died, markers of
    keys whose messages died with it would otherwise hold them back until the markers expire.
    ``keys`` (with a ``controller``) adds just those keys instead of every one.
    """
    wq, ctx = runtime()
    table = controllers()
    chosen = [table[controller]] if controller else list(table.values())
    sent: dict[str, int] = {}
    for ctl in chosen:
        wanted = list(keys) if keys is not None and controller else list(ctl.resync_keys(ctx))
        sent[ctl.name] = len(wq.add(ctl, wanted, force=force))
        log.info("resync %s: %d keys, %d queued", ctl.name, len(wanted), sent[ctl.name])
    return sent
