"""kube-proxy's nftables mode: one node's Service rules as one nftables table, replaced atomically.

``NftablesBackend(node, table=None, runner=None)`` implements the proxy backend protocol: ``mode`` is
``"nftables"``; ``apply(state)`` makes table ``ip kubeq-<node>`` equal to the ``ProxyState`` in one
``nft -f -`` transaction (whatever a previous run left in it is gone; the table and its hooks stay in
place, so no connection misses its DNAT during a re-apply), turns on ``net.ipv4.ip_forward``
and ``net.ipv4.conf.all.route_localnet`` (NodePorts answer on 127.0.0.1) and returns counts;
``cleanup()`` deletes the table. Session-affinity entries survive a re-apply. The rule layout is
described in ``workers.proxy.nftables_render``.

``runner`` runs one command (argv, stdin text) and returns its stdout, raising ``NftError`` on failure;
``command_runner(prefix)`` makes one, e.g. ``netns_runner("ns1")`` runs everything inside a network
namespace. ``available()`` says whether this host can use the mode (root, and ``nft`` works).

``python -m workers.proxy.nftables available|render STATE.json|cleanup NODE`` for operators.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence

from tasks.proxy.model import Endpoint, ProxyState, ServicePort
from workers.proxy.nftables_render import MASQ_MARK, parse_listing, render_program, table_name

Runner = Callable[[Sequence[str], "str | None"], str]

SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet")


class NftError(RuntimeError):
    """A command the backend ran failed; the message holds its stderr."""


def command_runner(prefix: Sequence[str] = (), timeout: float = 30.0) -> Runner:
    """A runner executing ``[*prefix, *argv]`` with ``stdin`` text; stdout back, ``NftError`` on failure."""

    def run(argv: Sequence[str], stdin: str | None = None) -> str:
        cmd = [*prefix, *argv]
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NftError(f"{' '.join(cmd)}: {exc}") from exc
        if proc.returncode != 0:
            raise NftError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    return run


def netns_runner(netns: str) -> Runner:
    """A runner for commands inside network namespace ``netns`` (``ip netns exec``)."""
    return command_runner(["ip", "netns", "exec", netns])


def available(runner: Runner | None = None) -> bool:
    """True when this process is root and ``nft list tables`` works."""
    if os.geteuid() != 0 or shutil.which("nft") is None:
        return False
    try:
        (runner or command_runner())(["nft", "list", "tables"], None)
    except NftError:
        return False
    return True


class NftablesBackend:
    """The nftables proxy backend of one node (see the module docstring)."""

    mode = "nftables"

    def __init__(
        self,
        node: str,
        table: str | None = None,
        runner: Runner | None = None,
        *,
        bridge: str | None = "kubeq0",
        mark: int = MASQ_MARK,
        sysctls: bool = True,
    ) -> None:
        self.node = node
        self.table = table or table_name(node)
        self.bridge = bridge
        self.mark = mark
        self._prefixed = runner is not None
        self._run = runner or command_runner()
        self._sysctls = sysctls
        self._applied: dict[str, tuple[str, ...]] = {}

    def render(self, state: ProxyState) -> str:
        """The ``nft -f`` program ``apply`` would run for ``state`` on a node without the table yet."""
        return render_program(state, self.table, mark=self.mark, bridge=self.bridge).text

    def apply(self, state: ProxyState) -> dict[str, int]:
        """Makes the node's table hold the rules for ``state`` in one transaction, rewriting only the
        chains that changed since the last apply; returns counts (``services``, ``endpoints``,
        ``no_endpoints``, ``node_ports``, ``chains``)."""
        existing = self._existing()
        rendered = render_program(
            state, self.table, mark=self.mark, bridge=self.bridge, existing=existing, applied=self._applied
        )
        self._applied = {}
        self._run(["nft", "-f", "-"], rendered.text)
        self._applied = rendered.chains
        if self._sysctls:
            self._enable_sysctls()
        return rendered.counts

    def cleanup(self) -> None:
        """Deletes the node's table (no error when it is already gone)."""
        self._run(["nft", "-f", "-"], f"add table ip {self.table}\ndelete table ip {self.table}\n")

    def exists(self) -> bool:
        """Whether the node's table is present."""
        try:
            self._run(["nft", "list", "table", "ip", self.table], None)
        except NftError:
            return False
        return True

    def _existing(self) -> dict[str, str]:
        """What the node's table holds now (name -> chain/set/map); empty when there is no table."""
        try:
            return parse_listing(self._run(["nft", "-t", "list", "table", "ip", self.table], None))
        except NftError:
            return {}

    def _enable_sysctls(self) -> None:
        if not self._prefixed:
            for key in SYSCTLS:
                with open(f"/proc/sys/{key}", "w") as f:
                    f.write("1\n")
            return
        self._run(["sh", "-c", " && ".join(f"echo 1 > /proc/sys/{key}" for key in SYSCTLS)], None)


def state_from_json(data: dict) -> ProxyState:
    """A ``ProxyState`` from its ``dataclasses.asdict`` form (lists for tuples)."""
    services = []
    for sp in data.get("services", []):
        sp = dict(sp)
        eps = tuple(Endpoint(**e) for e in sp.pop("endpoints", []))
        for k in ("cluster_ips", "load_balancer_ips", "external_ips"):
            sp[k] = tuple(sp.get(k, ()))
        services.append(ServicePort(**sp, endpoints=eps))
    return ProxyState(node=data["node"], node_ips=tuple(data.get("node_ips", ())), services=tuple(services))


def main(argv: Sequence[str] | None = None) -> int:
    """``available``: exit 0 when usable; ``render STATE.json``: print the program; ``cleanup NODE``."""
    parser = argparse.ArgumentParser(prog="python -m workers.proxy.nftables", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("available", help="exit 0 when the nftables mode works here")
    rp = sub.add_parser("render", help="print the nft program for a ProxyState JSON file")
    rp.add_argument("state")
    cp = sub.add_parser("cleanup", help="delete a node's table")
    cp.add_argument("node")
    args = parser.parse_args(argv)
    if args.cmd == "available":
        ok = available()
        print("nftables: available" if ok else "nftables: not available (needs root and a working nft)")
        return 0 if ok else 1
    if args.cmd == "render":
        with open(args.state) as f:
            state = state_from_json(json.load(f))
        sys.stdout.write(NftablesBackend(state.node).render(state))
        return 0
    NftablesBackend(args.node).cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
