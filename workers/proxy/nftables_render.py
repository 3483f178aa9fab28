"""The nftables program for one node's proxy state: pure text, no system calls.

``render_program(state, table, existing=...)`` returns the text for ``nft -f -`` that makes table
``ip <table>`` equal to the state in one transaction, counts of what it holds, and every chain's rules.
The table is kept, never deleted. A chain whose rules are the same as in the program applied last
(``applied``) is not touched; every other existing chain is flushed and declared again. The maps are
flushed and refilled, and the chains and sets named in ``existing`` (name -> ``chain``/``set``/``map``,
what the table holds now) that the state no longer needs are deleted.

Rewriting only what changed matters for open connections: a packet that starts through the rules just
before a transaction commits and reaches a replaced ``numgen ... vmap`` just after finds none of its
targets, so its connection gets no DNAT, and every retry of its SYN follows that entry. Session-affinity
sets are not flushed, so their entries outlive a re-apply; a set's name carries its timeout, so a changed
timeout makes a new set.
The table's shape:

- ``nat-prerouting`` (traffic arriving, e.g. from pods) and ``nat-output`` (traffic from the host itself)
  jump to ``services``: ``ip daddr . meta l4proto . th dport`` looked up in the ``service-ips`` verdict map
  (ClusterIPs, load-balancer and external IPs), then NodePorts for local destinations
  (``fib daddr type local``) in ``service-nodeports``.
- per Service port a ``svc-*`` chain spreads over the internal targets with ``numgen random``; an ``ext-*``
  chain (NodePort, load-balancer, external IPs) marks for masquerade under the ``Cluster`` policy and goes
  to the same spread (or its own ``svcx-*`` one when the ``Local`` policy picks other targets).
- per endpoint an ``ep-*`` chain marks hairpin traffic (source is the endpoint), records the client in
  the session-affinity set when there is one, and DNATs. Affinity sets are checked before the random pick.
- ``filter-input``/``filter-forward``/``filter-output`` reject new connections to Service ports without
  targets (TCP reset / ICMP port unreachable), or drop them when a ``Local`` policy leaves none on this node.
- ``nat-postrouting`` masquerades packets carrying the mark bit, and DNATed traffic that leaves through the
  pod bridge it came in on (pod -> Service -> pod on the same bridge).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from tasks.proxy.model import Endpoint, ProxyState, ServicePort, targets

MASQ_MARK = 0x4000
_AFFINITY_PREFIX = "aff-"
_FIXED_SETS = (
    "service-ips",
    "service-nodeports",
    "no-endpoint-services",
    "no-endpoint-nodeports",
    "service-addrs",
)
TABLE_MAX = 32
_NAME_MAX = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class Rendered(NamedTuple):
    """A program for ``nft -f -``, counts of what the table will hold, and each chain's rules."""

    text: str
    counts: dict[str, int]
    chains: dict[str, tuple[str, ...]]


def table_name(node: str) -> str:
    """``kubeq-<node>`` made safe for nft and at most 32 characters (long names end in a short hash)."""
    name = "kubeq-" + (_UNSAFE.sub("-", node).strip("-.") or "node")
    if len(name) > TABLE_MAX:
        name = name[: TABLE_MAX - 9] + "-" + _digest(node, 8)
    return name


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _ident(*parts: object) -> str:
    """A chain or set name: safe characters only, bounded length."""
    return _UNSAFE.sub("_", "-".join(str(p) for p in parts))[:_NAME_MAX]


def _is_v4(addr: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(addr), ipaddress.IPv4Address)
    except ValueError:
        return False


@dataclass
class _Table:
    """Collected pieces of the table, written out by ``text()``."""

    name: str
    chains: dict[str, list[str]] = field(default_factory=dict)
    service_ips: list[str] = field(default_factory=list)
    nodeports: list[str] = field(default_factory=list)
    no_ep_services: list[str] = field(default_factory=list)
    no_ep_nodeports: list[str] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)
    affinity_sets: list[str] = field(default_factory=list)
    affinity_names: set[str] = field(default_factory=set)

    def text(
        self,
        node: str,
        mark: int,
        bridge: str | None,
        existing: Mapping[str, str],
        applied: Mapping[str, Sequence[str]],
    ) -> tuple[str, dict[str, tuple[str, ...]]]:
        """The program, and every chain's rules as this program leaves them."""
        chains = {
            name: tuple(body) for name, body in {**self._base_chains(mark, bridge), **self.chains}.items()
        }
        same = {
            n
            for n, body in chains.items()
            if existing.get(n) == "chain" and tuple(applied.get(n, ())) == body
        }
        out = [f"add table ip {self.name}"]
        out += [
            f"flush chain ip {self.name} {n}"
            for n, kind in existing.items()
            if kind == "chain" and n not in same
        ]
        out += self._clear(existing, set(chains))
        out.append(f"table ip {self.name} {{")
        out.append(f'\tcomment "kubeq proxy rules of node {_UNSAFE.sub("_", node)}"')
        out += _map("service-ips", "ipv4_addr . inet_proto . inet_service : verdict", self.service_ips)
        out += _map("service-nodeports", "inet_proto . inet_service : verdict", self.nodeports)
        out += _map(
            "no-endpoint-services", "ipv4_addr . inet_proto . inet_service : verdict", self.no_ep_services
        )
        out += _map("no-endpoint-nodeports", "inet_proto . inet_service : verdict", self.no_ep_nodeports)
        out += _map("service-addrs", "ipv4_addr", sorted(self.addresses), kind="set")
        out += self.affinity_sets
        for name, body in chains.items():
            if name not in same:
                out += _chain(name, body)
        out.append("}")
        return "\n".join(out) + "\n", chains

    def _clear(self, existing: Mapping[str, str], chains: set[str]) -> list[str]:
        """Flushes the existing maps and plain sets and deletes what the new content does not hold.

        Runs after the changed chains were flushed, so no rule refers to a chain or set that goes; maps
        are flushed before chains are deleted because their elements may still jump to them."""
        kept_sets = {*_FIXED_SETS, *self.affinity_names}
        out = []
        for name, kind in existing.items():
            if kind in ("map", "set") and not name.startswith(_AFFINITY_PREFIX):
                out.append(f"flush {kind} ip {self.name} {name}")
        for name, kind in existing.items():
            if (kind == "chain" and name not in chains) or (kind in ("map", "set") and name not in kept_sets):
                out.append(f"delete {kind} ip {self.name} {name}")
        return out

    @staticmethod
    def _base_chains(mark: int, bridge: str | None) -> dict[str, list[str]]:
        check = ["ct state new jump endpoints-check"]
        post = ["jump masquerading"]
        if bridge:
            post.append(f'ct status dnat iifname "{bridge}" oifname "{bridge}" masquerade fully-random')
        return {
            "mark-for-masquerade": [f"meta mark set meta mark | {mark:#x}"],
            "masquerading": [
                f"meta mark & {mark:#x} == 0 return",
                f"meta mark set meta mark ^ {mark:#x}",
                "masquerade fully-random",
            ],
            "reject-chain": ["meta l4proto tcp reject with tcp reset", "reject"],
            "services": [
                "ip daddr . meta l4proto . th dport vmap @service-ips",
                "fib daddr type local meta l4proto . th dport vmap @service-nodeports",
            ],
            "endpoints-check": [
                "ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
                "fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports",
            ],
            "nat-prerouting": ["type nat hook prerouting priority -100; policy accept;", "jump services"],
            "nat-output": [
                "type nat hook output priority -100; policy accept;",
                "ip daddr @service-addrs jump mark-for-masquerade",
                "jump services",
            ],
            "nat-postrouting": ["type nat hook postrouting priority 100; policy accept;", *post],
            "filter-input": ["type filter hook input priority -110; policy accept;", *check],
            "filter-forward": ["type filter hook forward priority -110; policy accept;", *check],
            "filter-output": ["type filter hook output priority -110; policy accept;", *check],
        }


def _map(name: str, type_: str, elements: Sequence[str], kind: str = "map") -> list[str]:
    lines = [f"\t{kind} {name} {{", f"\t\ttype {type_}"]
    if elements:
        lines.append("\t\telements = { " + ", ".join(elements) + " }")
    return lines + ["\t}"]


def _chain(name: str, body: Iterable[str]) -> list[str]:
    return [f"\tchain {name} {{", *(f"\t\t{line}" for line in body), "\t}"]


def render_program(
    state: ProxyState,
    table: str,
    *,
    mark: int = MASQ_MARK,
    bridge: str | None = "kubeq0",
    existing: Mapping[str, str] | None = None,
    applied: Mapping[str, Sequence[str]] | None = None,
) -> Rendered:
    """The ``nft -f`` program that makes ``ip <table>`` equal to ``state``, counts of its content, and
    every chain's rules.

    ``existing``: what the table holds now, name -> ``chain``, ``set`` or ``map`` (see ``parse_listing``);
    empty for a table that does not exist yet. ``applied``: the ``chains`` of the program applied last;
    an existing chain whose rules are the same is left alone.
    """
    t = _Table(table)
    counts = {"services": 0, "endpoints": 0, "no_endpoints": 0, "node_ports": 0}
    for sp in state.services:
        _add_service(t, sp, state.node, counts)
    counts["chains"] = len(t.chains) + len(_Table._base_chains(mark, bridge))
    text, chains = t.text(state.node, mark, bridge, existing or {}, applied or {})
    return Rendered(text, counts, chains)


_DECLARATION = re.compile(r"^\t(chain|set|map) (\S+) \{$", re.MULTILINE)


def parse_listing(listing: str) -> dict[str, str]:
    """Name -> kind (``chain``, ``set``, ``map``) of what ``nft -t list table`` printed."""
    return {name: kind for kind, name in _DECLARATION.findall(listing)}


def _add_service(t: _Table, sp: ServicePort, node: str, counts: dict) -> None:
    proto = sp.protocol.lower()
    tag = _digest(f"{sp.key}/{proto}", 8)
    base = _ident(tag, sp.namespace, sp.name, proto, sp.port_name or sp.port)
    internal = [e for e in targets(sp, node, external=False) if _is_v4(e.ip)]
    external = [e for e in targets(sp, node, external=True) if _is_v4(e.ip)]
    usable = any(e.ready or (e.serving and e.terminating) for e in sp.endpoints)
    none_verdict = "goto reject-chain" if not usable else "drop"
    cluster_ips = [ip for ip in sp.cluster_ips if _is_v4(ip)]
    outside_ips = [ip for ip in (*sp.load_balancer_ips, *sp.external_ips) if _is_v4(ip)]
    t.addresses.update(cluster_ips + outside_ips)
    counts["services"] += 1

    def spread(name: str, eps: list[Endpoint]) -> None:
        if name in t.chains:
            return
        body = []
        chains = [_endpoint_chain(t, sp, proto, tag, e, counts) for e in eps]
        if sp.affinity_seconds:
            body += [f"ip saddr @{aff} goto {ch}" for ch, aff in chains]
        if len(chains) == 1:
            body.append(f"goto {chains[0][0]}")
        else:
            picks = ", ".join(f"{i} : goto {ch}" for i, (ch, _) in enumerate(chains))
            body.append(f"numgen random mod {len(chains)} vmap {{ {picks} }}")
        t.chains[name] = body

    for ip in cluster_ips:
        if internal:
            spread(f"svc-{base}", internal)
            t.service_ips.append(f"{ip} . {proto} . {sp.port} : goto svc-{base}")
        else:
            t.no_ep_services.append(f"{ip} . {proto} . {sp.port} : {none_verdict}")
            counts["no_endpoints"] += 1
    if not (outside_ips or sp.node_port):
        return
    if sp.node_port:
        counts["node_ports"] += 1
    if not external:
        t.no_ep_services += [f"{ip} . {proto} . {sp.port} : {none_verdict}" for ip in outside_ips]
        if sp.node_port:
            t.no_ep_nodeports.append(f"{proto} . {sp.node_port} : {none_verdict}")
        counts["no_endpoints"] += len(outside_ips) + bool(sp.node_port)
        return
    target = f"svc-{base}" if external == internal else f"svcx-{base}"
    spread(target, external)
    masq = "ip saddr 127.0.0.0/8 " if sp.external_local else ""
    t.chains[f"ext-{base}"] = [f"{masq}jump mark-for-masquerade", f"goto {target}"]
    t.service_ips += [f"{ip} . {proto} . {sp.port} : goto ext-{base}" for ip in outside_ips]
    if sp.node_port:
        t.nodeports.append(f"{proto} . {sp.node_port} : goto ext-{base}")


def affinity_set_name(sp: ServicePort, ep: Endpoint) -> str:
    """The session-affinity set of one endpoint of one Service port: stable across applies while the
    affinity timeout stays the same."""
    key = f"{sp.key}/{sp.protocol.lower()}/{ep.ip}/{ep.port}/{sp.affinity_seconds}"
    return _AFFINITY_PREFIX + _digest(key, 16)


def _endpoint_chain(
    t: _Table,
    sp: ServicePort,
    proto: str,
    tag: str,
    ep: Endpoint,
    counts: dict,
) -> tuple[str, str]:
    """Adds (once) the DNAT chain of ``ep`` and its affinity set; returns (chain name, set name)."""
    name = _ident("ep", tag, ep.ip, ep.port)
    aff = affinity_set_name(sp, ep)
    if name in t.chains:
        return name, aff
    body = [f"ip saddr {ep.ip} jump mark-for-masquerade"]
    if sp.affinity_seconds:
        t.affinity_names.add(aff)
        t.affinity_sets += [
            f"\tset {aff} {{",
            "\t\ttype ipv4_addr",
            "\t\tflags dynamic,timeout",
            f"\t\ttimeout {sp.affinity_seconds}s",
            "\t}",
        ]
        body.append(f"update @{aff} {{ ip saddr }}")
    body.append(f"meta l4proto {proto} dnat to {ep.ip}:{ep.port}")
    t.chains[name] = body
    counts["endpoints"] += 1
    return name, aff
