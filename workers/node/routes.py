"""Host routes to the other nodes' pod CIDRs, from the cloud's route table (``kube-system/kubeq-routes``).

``RouteSync(client, node_name)`` is a daemon thread for the node agent: it watches the route table and
makes this host's routes match it. Every route of another node whose gateway is not an address of this
host becomes ``ip route replace <cidr> via <gateway> proto 151``; routes with ``proto 151`` that left
the table are deleted. The protocol number marks what this code installed, so nothing else is
touched and a restarted agent still finds (and cleans) what it added before. Nodes sharing this host
(one bridge, local gateways) need no route, and get none. Without root it does nothing.

``wanted_routes`` and ``plan`` are the pure part: the table and this host's state in, what to add
and remove out.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterable
from typing import Any

from cluster.api.resources import lookup
from tasks.cloud import configstate
from tasks.cloud.local import ROUTES

CONFIGMAPS = lookup("", "v1", "configmaps")
PROTO = 151  # "proto 151" on a route: installed by kubeq's route sync (a number iproute2 names nothing)
RETRY_SECONDS = 2.0
log = logging.getLogger("kubeq.node.routes")
Obj = dict[str, Any]


def wanted_routes(table: dict[str, Obj], node_name: str, local_addresses: Iterable[str]) -> dict[str, str]:
    """``{cidr: gateway}`` this host needs: the routes of other nodes whose gateway is not local."""
    local = set(local_addresses)
    out: dict[str, str] = {}
    for entry in table.values():
        cidr, gateway = entry.get("cidr"), entry.get("gateway")
        if not cidr or not gateway or entry.get("node") == node_name or gateway in local:
            continue
        out[cidr] = gateway
    return out


def plan(wanted: dict[str, str], installed: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """``(to add or replace {cidr: gateway}, cidrs to delete)`` turning ``installed`` into ``wanted``."""
    add = {cidr: gw for cidr, gw in sorted(wanted.items()) if installed.get(cidr) != gw}
    remove = sorted(cidr for cidr in installed if cidr not in wanted)
    return add, remove


class HostRoutes:
    """This host's (or network namespace ``netns``'s) IPv4 routes, through ``ip``."""

    def __init__(self, netns: str | None = None) -> None:
        self.prefix = ["ip", "-n", netns] if netns else ["ip"]

    def _ip(self, *args: str) -> str:
        done = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def installed(self) -> dict[str, str]:
        """``{cidr: gateway}`` of the routes marked ``proto 151``."""
        routes = json.loads(self._ip("-j", "-4", "route", "show", "proto", str(PROTO)) or "[]")
        return {r["dst"]: r.get("gateway", "") for r in routes if r.get("dst")}

    def local_addresses(self) -> set[str]:
        links = json.loads(self._ip("-j", "-4", "addr", "show") or "[]")
        return {a["local"] for link in links for a in link.get("addr_info") or [] if a.get("local")}

    def replace(self, cidr: str, gateway: str) -> None:
        self._ip("route", "replace", cidr, "via", gateway, "proto", str(PROTO))

    def delete(self, cidr: str) -> None:
        self._ip("route", "del", cidr, "proto", str(PROTO))


def apply_table(table: dict[str, Obj], node_name: str, host: HostRoutes) -> tuple[dict[str, str], list[str]]:
    """Make ``host``'s routes match ``table``; what was added and removed. A route that fails is
    logged and left for the next pass."""
    add, remove = plan(wanted_routes(table, node_name, host.local_addresses()), host.installed())
    done_add: dict[str, str] = {}
    done_remove: list[str] = []
    for cidr in remove:
        try:
            host.delete(cidr)
            done_remove.append(cidr)
        except OSError as exc:
            log.warning("route sync: %s", exc)
    for cidr, gateway in add.items():
        try:
            host.replace(cidr, gateway)
            done_add[cidr] = gateway
        except OSError as exc:
            log.warning("route sync: %s", exc)
    if done_add or done_remove:
        log.info("routes to other nodes: added %s, removed %s", done_add, done_remove)
    return done_add, done_remove


class RouteSync(threading.Thread):
    """Keeps this host's routes equal to the cloud route table (see the module docstring)."""

    def __init__(self, client: Any, node_name: str, host: HostRoutes | None = None) -> None:
        super().__init__(name=f"route-sync-{node_name}", daemon=True)
        self.client = client
        self.node_name = node_name
        self.host = host or HostRoutes()
        self.stopping = threading.Event()

    def start(self) -> None:
        """Start watching, unless this process is not root (then routes are not ours to change)."""
        if os.geteuid() != 0:
            log.info("route sync: not root, host routes to other nodes are left alone")
            return
        super().start()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._watch()
            except Exception as exc:  # noqa: BLE001 - the API server away for a while: watch again
                log.warning("route sync: watch failed: %s", exc)
            self.stopping.wait(RETRY_SECONDS)

    def _watch(self) -> None:
        table: dict[str, Obj] = {}
        events = self.client.list_and_watch(
            CONFIGMAPS, configstate.NAMESPACE, field_selector=f"metadata.name={ROUTES}", synced_marker=True
        )
        for event in events:
            if self.stopping.is_set():
                return
            if event["type"] in ("ADDED", "MODIFIED"):
                table = configstate.decode(event["object"])
            elif event["type"] == "DELETED":
                table = {}
            apply_table(table, self.node_name, self.host)
