"""The virtual network of the multi-host harness: one network namespace per host on one bridge.

Host ``i`` is the network namespace ``kqh-<i>`` with ``eth0`` at ``172.30.0.<i+1>/24``, the pod
end of a veth pair whose other end, ``kqh<i>``, is a port of the bridge ``kqhbr0`` in the root
namespace. The bridge holds ``172.30.0.254``: it is every host's default gateway and lets the root
namespace (kubectl, tests) reach every host. Each host forwards IPv4. Nothing else is made here: no
routes in the root namespace, no nftables. ``cut(i)`` / ``heal(i)`` take the root end of host
``i``'s veth down / up: the host keeps its address and routes but no packet leaves or reaches it.

Every function needs root and ``ip``; ``RuntimeError`` (with ``ip``'s message) when a command fails.
"""

from __future__ import annotations

import json
import os
import subprocess

BRIDGE = "kqhbr0"
PREFIX = "172.30.0"
PREFIX_LEN = 24
GATEWAY = f"{PREFIX}.254"
NS_PREFIX = "kqh-"
MAX_HOSTS = 253


def namespace(i: int) -> str:
    """The network namespace of host ``i``."""
    return f"{NS_PREFIX}{i}"


def address(i: int) -> str:
    """Host ``i``'s IPv4 address (``172.30.0.<i+1>``)."""
    return f"{PREFIX}.{i + 1}"


def veth(i: int) -> str:
    """The root-namespace end of host ``i``'s veth pair (a port of the bridge)."""
    return f"kqh{i}"


def netns_path(i: int) -> str:
    return f"/run/netns/{namespace(i)}"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ip <args>``; ``RuntimeError`` with its stderr when it fails and ``check``."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def in_namespace(i: int, argv: list[str]) -> list[str]:
    """``argv`` run in host ``i``'s network namespace, and only that: unlike ``ip netns exec``,
    ``nsenter --net`` keeps the mount namespace, so ``/sys/fs/cgroup`` stays visible to the runtime."""
    return ["nsenter", f"--net={netns_path(i)}", "--", *argv]


def namespaces() -> list[str]:
    """The harness's namespaces that exist now (``kqh-*``)."""
    out = ip("-j", "netns", "list", check=False).stdout.strip()
    names = [entry.get("name", "") for entry in json.loads(out)] if out else []
    return sorted(n for n in names if n.startswith(NS_PREFIX))


def link_exists(name: str) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


def create(count: int) -> list[str]:
    """Make the bridge and ``count`` hosts (see the module docstring); their addresses.

    ``ValueError`` for a count outside 1..253; ``RuntimeError`` when a host or the bridge exists (then
    nothing is touched) or a step fails (then what was made is deleted again).
    """
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"hosts must be between 1 and {MAX_HOSTS}, not {count}")
    if link_exists(BRIDGE) or namespaces():
        raise RuntimeError(f"{BRIDGE} or {NS_PREFIX}* namespaces exist already: run `down` first")
    try:
        _create(count)
    except BaseException:
        destroy()
        raise
    return [address(i) for i in range(count)]


def _create(count: int) -> None:
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{GATEWAY}/{PREFIX_LEN}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    for i in range(count):
        ns, outer, inner = namespace(i), veth(i), f"kqh{i}p"
        ip("netns", "add", ns)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", ns)
        ip("link", "set", outer, "master", BRIDGE, "up")
        for args in (
            ("link", "set", "lo", "up"),
            ("link", "set", inner, "name", "eth0"),
            ("addr", "add", f"{address(i)}/{PREFIX_LEN}", "dev", "eth0"),
            ("link", "set", "eth0", "up"),
            ("route", "add", "default", "via", GATEWAY),
        ):
            ip("-n", ns, *args)
        set_forwarding(i)


def set_forwarding(i: int) -> None:
    """``net.ipv4.ip_forward=1`` inside host ``i`` (``/proc/sys/net`` is per network namespace)."""
    argv = in_namespace(i, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip_forward in {namespace(i)}: {done.stderr.strip()}")


def namespace_pids(name: str) -> list[int]:
    """Pids of the processes in network namespace ``name`` (empty when it is gone)."""
    out = ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]


def destroy() -> list[str]:
    """Delete every ``kqh-*`` namespace, every ``kqh<i>`` veth end left in the root namespace and
    the bridge; what was deleted. Processes still in a namespace keep it alive (kill them first)."""
    removed = []
    for ns in namespaces():
        ip("netns", "del", ns, check=False)
        removed.append(ns)
    links = json.loads(ip("-j", "link", "show", check=False).stdout or "[]")
    for link in links:
        name = link.get("ifname", "")
        if name.startswith("kqh") and name != BRIDGE and name[3:].isdigit():
            ip("link", "del", name, check=False)
            removed.append(name)
    if link_exists(BRIDGE):
        ip("link", "del", BRIDGE, check=False)
        removed.append(BRIDGE)
    return removed


def cut(i: int) -> None:
    """Cut host ``i`` off the network (its veth's bridge end down)."""
    ip("link", "set", veth(i), "down")


def heal(i: int) -> None:
    """Undo ``cut(i)``."""
    ip("link", "set", veth(i), "up")
