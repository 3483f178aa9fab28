"""Pod networking for the ``namespaces`` isolation level: a node bridge, a veth pair and an IP per pod.

Every pod sandbox gets an address of the node's pod CIDR on the bridge (``kubeq0`` unless
``$KUBEQ_POD_BRIDGE``; the gateway is the CIDR's first address, held by the bridge), reached
through a veth pair whose pod end is ``eth0`` in the sandbox's network namespace, with loopback up
and a default route via the gateway. The host routes the CIDR to the bridge, so it reaches pods by
IP (probes, curl). When the host forwards IPv4, pods get a default route and their traffic to other
networks is masqueraded (``egress.py``); when it does not, pods get routes to the host's addresses
only (no default route), so nothing beyond the host is reachable. The pod CIDR is, in order: the one stored with live allocations, then
``$KUBEQ_NODE_POD_CIDR``, then ``$KUBEQ_NODE_DATA_DIR/pod-cidr`` (the Node's ``spec.podCIDR``,
written by the node agent; a node whose CIDR is not assigned yet refuses to make pod networks, and
the kubelet retries), then, outside a node, ``10.244.<n>.0/24`` with ``n`` from a hash of the name.
Allocations live in ``<state_dir>/ipam.json`` (under a file lock), so a restarted daemon frees
the right addresses. Several nodes on one host share the bridge, each adding its own gateway.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from workers.runtime import egress

DEFAULT_BRIDGE = "kubeq0"


def run_ip(args: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``ip <args>``; ``RuntimeError`` with its stderr when it fails and ``check``."""
    proc = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, timeout=10)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def fallback_cidr(node: str) -> str:
    """``10.244.<n>.0/24``, ``n`` from a stable hash of the node name (no ``spec.podCIDR`` known)."""
    n = int(hashlib.sha1(node.encode()).hexdigest(), 16) % 256
    return f"10.244.{n}.0/24"


def configured_cidr() -> str:
    """The node's pod CIDR from the environment or the agent's ``pod-cidr`` file, else the fallback."""
    if os.environ.get("KUBEQ_NODE_POD_CIDR"):
        return os.environ["KUBEQ_NODE_POD_CIDR"].strip()
    data_dir = os.environ.get("KUBEQ_NODE_DATA_DIR")
    if data_dir:
        try:
            with open(os.path.join(data_dir, "pod-cidr")) as f:
                cidr = f.read().strip()
            if cidr:
                return cidr
        except OSError:
            pass
    if data_dir:  # a node's runtime: wait for the Node's podCIDR rather than guess one no host routes
        raise RuntimeError("this node has no podCIDR yet (node IPAM has not assigned one); try again")
    return fallback_cidr(os.environ.get("KUBEQ_NODE_NAME") or os.uname().nodename)


def forwarding() -> bool:
    """True when the host forwards IPv4 (then pods get a default route; egress NAT is the admin's)."""
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def pod_routes(net: ipaddress.IPv4Network) -> list[str]:
    """Routes a pod gets via the gateway: ``default`` when the host forwards; else only the host's
    own addresses, so traffic that could go nowhere (DNS, say) fails at once instead of hanging."""
    if forwarding():
        return ["default"]
    out = run_ip(["-4", "-o", "addr", "show"]).stdout.split("\n")
    addrs = [line.split()[3].split("/")[0] for line in out if len(line.split()) > 3]
    return [f"{a}/32" for a in addrs if not a.startswith("127.") and ipaddress.ip_address(a) not in net]


def veth_name(sandbox_id: str) -> str:
    """The host end of a pod's veth pair (15 characters at most)."""
    return f"kq{sandbox_id[:11]}"


class PodNetwork:
    """Allocates pod IPs and wires sandboxes to the bridge; see the module docstring."""

    def __init__(self, state_dir: str, bridge: str | None = None) -> None:
        self.state_dir = state_dir
        self.bridge = bridge or os.environ.get("KUBEQ_POD_BRIDGE") or DEFAULT_BRIDGE
        os.makedirs(state_dir, exist_ok=True)
        self._file = os.path.join(state_dir, "ipam.json")

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The IPAM record, read and written back under an exclusive lock."""
        with open(os.path.join(self.state_dir, "ipam.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self._file) as f:
                    rec = json.load(f)
            except (OSError, ValueError):
                rec = {}
            rec.setdefault("ips", {})
            yield rec
            tmp = f"{self._file}.tmp"
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.replace(tmp, self._file)

    def allocations(self) -> dict[str, str]:
        """sandbox id -> IP, as stored."""
        with self._locked() as rec:
            return dict(rec["ips"])

    def _allocate(self, sandbox_id: str) -> tuple[str, ipaddress.IPv4Network]:
        with self._locked() as rec:
            if not rec["ips"] or not rec.get("cidr"):
                rec["cidr"] = configured_cidr()
            net = ipaddress.ip_network(rec["cidr"], strict=False)
            if sandbox_id in rec["ips"]:
                return rec["ips"][sandbox_id], net
            used = set(rec["ips"].values())
            hosts = list(net.hosts())
            for addr in hosts[1:]:  # hosts[0] is the gateway
                if str(addr) not in used:
                    rec["ips"][sandbox_id] = str(addr)
                    return str(addr), net
        raise RuntimeError(f"pod CIDR {net} has no free address")

    def release(self, sandbox_id: str) -> None:
        with self._locked() as rec:
            rec["ips"].pop(sandbox_id, None)

    def ensure_bridge(self, net: ipaddress.IPv4Network) -> str:
        """Make the bridge (if missing), give it the gateway address (if missing), bring it up."""
        gateway = str(next(net.hosts()))
        if run_ip(["link", "show", self.bridge], check=False).returncode != 0:
            run_ip(["link", "add", self.bridge, "type", "bridge"], check=False)
        addrs = run_ip(["-4", "-o", "addr", "show", "dev", self.bridge]).stdout
        if f" {gateway}/" not in addrs:
            run_ip(["addr", "add", f"{gateway}/{net.prefixlen}", "dev", self.bridge])
        run_ip(["link", "set", self.bridge, "up"])
        if forwarding():
            egress.ensure(str(net))
        return gateway

    def attach(self, sandbox_id: str, pid: int) -> str:
        """Wire the network namespace of ``pid`` to the bridge; the pod's IP."""
        ip, net = self._allocate(sandbox_id)
        try:
            gateway = self.ensure_bridge(net)
            host_end, pod_end = veth_name(sandbox_id), f"kp{sandbox_id[:11]}"
            run_ip(["link", "del", host_end], check=False)  # a leftover of an earlier attempt
            run_ip(["link", "add", host_end, "type", "veth", "peer", "name", pod_end])
            run_ip(["link", "set", pod_end, "netns", str(pid)])
            run_ip(["link", "set", host_end, "master", self.bridge, "up"])
            inside = (
                f"link set lo up\nlink set {pod_end} name eth0\n"
                f"addr add {ip}/{net.prefixlen} dev eth0\nlink set eth0 up\n"
            ) + "".join(f"route add {dest} via {gateway}\n" for dest in pod_routes(net))
            proc = subprocess.run(
                ["nsenter", "--target", str(pid), "--net", "ip", "-batch", "-"],
                input=inside, capture_output=True, text=True, timeout=10,
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"pod network setup: {proc.stderr.strip()}")
        except Exception:
            self.detach(sandbox_id)
            raise
        return ip

    def detach(self, sandbox_id: str) -> None:
        """Remove the host end of the veth pair (if still there) and free the IP. Idempotent."""
        run_ip(["link", "del", veth_name(sandbox_id)], check=False)
        self.release(sandbox_id)
