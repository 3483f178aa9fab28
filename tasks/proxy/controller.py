"""kube-proxy as a controller: ``sync("<node>")`` makes the node's proxy rules match every Service.

Keys are node names and route to the node's own queue (``node.<node>``); the node agent watches
Services and EndpointSlices itself and queues its own name (``workers/proxy/source.py``), so the
central dispatcher maps nothing here. A sync lists all Services and EndpointSlices (one consistent
read each), reads this node's addresses from its Node, builds the ``ProxyState`` and hands it to the
backend the agent installed (``tasks.proxy.backend.current()``). Level-triggered: every run sends the
whole state, so a lost or repeated message does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController
from tasks.proxy import backend
from tasks.proxy.state import build_state
from tasks.runtime.controller import Context, Watch

SERVICES = lookup("", "v1", "services")
SLICES = lookup("discovery.k8s.io", "v1", "endpointslices")
NODES = lookup("", "v1", "nodes")
ADDRESS_TYPES = ("InternalIP", "ExternalIP")
log = logging.getLogger("kubeq.proxy")


def node_ips(node: dict[str, Any] | None) -> list[str]:
    """The Node's InternalIP and ExternalIP addresses, in the order it lists them."""
    addresses = ((node or {}).get("status") or {}).get("addresses") or []
    return [a["address"] for a in addresses if a.get("type") in ADDRESS_TYPES and a.get("address")]


class ProxyController(KeyedController):
    """Keeps one node's Service rules converged (see the module docstring)."""

    name = "proxy"
    queue = "node"
    batch_size = 1
    resource = NODES
    watches: tuple[Watch, ...] = ()  # each node agent feeds its own key (workers/proxy/source.py)
    component = "kube-proxy"

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        """None centrally: each node resyncs itself (``workers/proxy/source.py``)."""
        return []

    def sync(self, key: str, ctx: Context) -> float | None:
        node = key.split("/", 1)[0]
        proxy = backend.current()
        services = ctx.client.list(SERVICES)["items"]
        slices = ctx.client.list(SLICES)["items"]
        try:
            node_obj = ctx.client.get(NODES, node)
        except errors.NotFound:
            node_obj = None
        state = build_state(node, node_ips(node_obj), services, slices)
        summary = proxy.apply(state)
        log.debug("node %s: proxy (%s) applied %s", node, proxy.mode, summary)
        return None
