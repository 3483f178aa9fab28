"""Remove everything a node's proxy left behind: what ``kubeq up`` calls for each node on exit.

``teardown(node, data_dir)`` stops the userspace daemon of ``data_dir`` and, when this host can use
nftables, deletes the node's nftables table. Proxy state is meant to outlive a restarting agent, so a
lone ``kubeq node`` never calls this. Returns what it removed ("userspace", "nftables").
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from workers.proxy import client

log = logging.getLogger(__name__)


def teardown(node: str, data_dir: str | Path) -> list[str]:
    removed = []
    if client.stop_daemon(data_dir):
        removed.append("userspace")
    with contextlib.suppress(ImportError):
        from workers.proxy import nftables

        if nftables.available():
            try:
                nftables.NftablesBackend(node).cleanup()
                removed.append("nftables")
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                log.warning("node %s: cannot remove its nftables table: %s", node, exc)
    return removed
