"""The node side of routes: which host routes a node wants, and (as root) real routes in a throwaway netns."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from cluster.client.client import Client
from tasks.cloud import configstate
from tasks.cloud.local import ROUTES
from tests.e2e.scheduling import Cluster, wait_for
from workers.node.routes import PROTO, HostRoutes, RouteSync, apply_table, plan, wanted_routes

TABLE = {
    "me": {"node": "me", "cidr": "10.250.8.0/24", "gateway": "198.51.100.9"},
    "far": {"node": "far", "cidr": "10.250.7.0/24", "gateway": "198.51.100.2"},
    "near": {"node": "near", "cidr": "10.250.9.0/24", "gateway": "198.51.100.1"},
    "half": {"node": "half", "cidr": "10.250.10.0/24", "gateway": ""},
}


def test_only_other_nodes_behind_remote_gateways_are_wanted() -> None:
    wanted = wanted_routes(TABLE, "me", {"198.51.100.1", "127.0.0.1"})
    assert wanted == {"10.250.7.0/24": "198.51.100.2"}


def test_plan_replaces_moved_routes_and_removes_departed_ones() -> None:
    installed = {
        "10.250.7.0/24": "198.51.100.5",
        "10.250.1.0/24": "198.51.100.3",
        "10.250.2.0/24": "198.51.100.4",
    }
    wanted = {
        "10.250.7.0/24": "198.51.100.2",
        "10.250.2.0/24": "198.51.100.4",
        "10.250.3.0/24": "198.51.100.6",
    }
    add, remove = plan(wanted, installed)
    assert add == {"10.250.3.0/24": "198.51.100.6", "10.250.7.0/24": "198.51.100.2"}
    assert remove == ["10.250.1.0/24"]
    assert plan(wanted, wanted) == ({}, [])


def _netns_capable() -> str | None:
    """Why real routes cannot be tried here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to create a network namespace and change its routes"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    return None


@pytest.fixture
def netns() -> Iterator[str]:
    """A throwaway network namespace with a veth pair on 198.51.100.1/24 and 10.64.255.254/16."""
    reason = _netns_capable()
    if reason:
        pytest.skip(reason)
    name = f"kubeq-rt-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        for cmd in (
            "link set lo up",
            "link add v0 type veth peer name v1",
            "addr add 198.51.100.1/24 dev v0",
            "addr add 10.64.255.254/16 dev v0",
            "link set v0 up",
            "link set v1 up",
        ):
            subprocess.run(["ip", "-n", name, *cmd.split()], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def routes_in(netns: str) -> str:
    return subprocess.run(
        ["ip", "-n", netns, "-4", "route"], capture_output=True, text=True, check=True
    ).stdout


def test_real_routes_are_added_and_removed_in_a_netns(netns: str) -> None:
    host = HostRoutes(netns)
    subprocess.run(["ip", "-n", netns, "route", "add", "10.250.20.0/24", "via", "198.51.100.3"], check=True)
    added, removed = apply_table(TABLE, "me", host)
    assert added == {"10.250.7.0/24": "198.51.100.2"} and removed == []
    assert f"10.250.7.0/24 via 198.51.100.2 dev v0 proto {PROTO}" in routes_in(netns)
    assert host.installed() == {"10.250.7.0/24": "198.51.100.2"}
    assert apply_table(TABLE, "me", host) == ({}, [])  # already in place: nothing to do

    added, removed = apply_table({}, "me", host)
    assert (added, removed) == ({}, ["10.250.7.0/24"])
    assert "10.250.7.0/24" not in routes_in(netns)
    assert "10.250.20.0/24 via 198.51.100.3" in routes_in(netns), "routes not ours are left alone"


def test_route_sync_follows_the_cloud_route_table(netns: str, cluster: Cluster) -> None:
    """The thread a node agent runs, against the routes the route controller keeps for the hollow nodes."""
    client = Client(cluster.server.url)
    wait_for(lambda: len(configstate.read(client, ROUTES)[0]) >= 2, 30, "routes of the hollow nodes")
    table = configstate.read(client, ROUTES)[0]
    sync = RouteSync(client, "not-a-node", HostRoutes(netns))
    sync.start()
    try:
        for entry in table.values():
            if entry["gateway"].startswith("10.64."):
                want = f"{entry['cidr']} via {entry['gateway']}"
                wait_for(lambda w=want: w in routes_in(netns), 10, want)
    finally:
        sync.stop()
