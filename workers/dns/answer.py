"""One DNS query in, one reply out: the cluster's names, computed from a ``Catalog``.

``answer(catalog, request, domain)`` returns an ``Answer`` (the reply, plus a CNAME target to chase
outside the domain for A/AAAA questions) or None when the name is not the cluster's (the caller
forwards it). Names, relative to ``domain``:

- ``<svc>.<ns>.svc``: A/AAAA of the ClusterIPs; headless: of the ready endpoints (all of them when
  ``publishNotReadyAddresses``); ExternalName: a CNAME.
- ``<host>.<svc>.<ns>.svc``: a headless endpoint by its hostname or dashed IP (``10-244-1-5``).
- ``_<port>._<proto>.<svc>.<ns>.svc``: SRV per named port (target: the Service name, or each endpoint's
  name for headless Services), with the targets' addresses in the additional section.
- ``<a-b-c-d>.<ns>.pod``: A of the dashed IP (answered without looking the pod up, as CoreDNS'
  ``pods insecure`` does).
- PTR of a ClusterIP or a named endpoint IP (other reverse names are not the cluster's).
Unknown names get NXDOMAIN, existing names without records of the asked type NOERROR with no
answer; both carry the zone's SOA in the authority section. Every TTL is ``TTL``.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from dnslib import AAAA, CNAME, PTR, QTYPE, RCODE, RR, SOA, SRV, A, DNSRecord

from workers.dns.catalog import Backend, Catalog, cluster_ips, is_headless

TTL = 5
ADDRESS_TYPES = (QTYPE.A, QTYPE.AAAA, QTYPE.ANY)


@dataclass
class Answer:
    reply: DNSRecord
    chase: str = ""  # an ExternalName target outside the domain, to resolve upstream and append


class _NoName(Exception):
    """The name does not exist (NXDOMAIN)."""


def answer(catalog: Catalog, request: DNSRecord, domain: str) -> Answer | None:
    """The reply to ``request`` if its name is the cluster's, else None (see the module doc)."""
    domain = domain.strip(".").lower()
    qname = str(request.q.qname).rstrip(".").lower()
    qtype = request.q.qtype
    reply = request.reply(ra=1, aa=1)
    if qname.endswith(".in-addr.arpa") or qname.endswith(".ip6.arpa"):
        return _reverse(catalog, reply, qname, domain)
    if qname != domain and not qname.endswith("." + domain):
        return None
    labels = qname[: -len(domain)].rstrip(".").split(".") if qname != domain else []
    out = Answer(reply)
    try:
        if labels and labels[-1] == "svc":
            _service_names(catalog, out, labels[:-1], qtype, domain)
        elif labels and labels[-1] == "pod":
            _pod_names(out, labels[:-1], qtype)
        elif labels:
            raise _NoName()
        elif qtype == QTYPE.SOA:
            reply.add_answer(_soa(domain))
    except _NoName:
        reply.header.rcode = RCODE.NXDOMAIN
        reply.rr = []
        reply.ar = []
    if not reply.rr:
        reply.add_auth(_soa(domain))
    return out


def _soa(domain: str) -> RR:
    times = (int(time.time()), 7200, 1800, 86400, TTL)
    return RR(
        domain + ".", QTYPE.SOA, ttl=TTL, rdata=SOA(f"ns.dns.{domain}.", f"hostmaster.{domain}.", times)
    )


def _address_rrs(name: str, ips: list[str], qtype: int) -> list[RR]:
    out = []
    for ip in ips:
        v6 = ":" in ip
        if qtype in (QTYPE.AAAA, QTYPE.ANY) and v6:
            out.append(RR(name, QTYPE.AAAA, ttl=TTL, rdata=AAAA(ip)))
        elif qtype in (QTYPE.A, QTYPE.ANY) and not v6:
            out.append(RR(name, QTYPE.A, ttl=TTL, rdata=A(ip)))
    return out


def _service_names(catalog: Catalog, out: Answer, labels: list[str], qtype: int, domain: str) -> None:
    reply, qname = out.reply, str(out.reply.q.qname)
    if len(labels) <= 1:  # "svc." or "<ns>.svc.": names that exist but hold no records
        if labels and not catalog.namespace_known(labels[0]):
            raise _NoName()
        return
    svc = catalog.service(labels[-1], labels[-2])
    if svc is None:
        raise _NoName()
    ns, name = labels[-1], labels[-2]
    spec = svc.get("spec") or {}
    base = f"{name}.{ns}.svc.{domain}."
    backends = catalog.backends(ns, name, include_unready=bool(spec.get("publishNotReadyAddresses")))
    if len(labels) == 2:
        if spec.get("type") == "ExternalName":
            target = str(spec.get("externalName", "")).rstrip(".") + "."
            reply.add_answer(RR(qname, QTYPE.CNAME, ttl=TTL, rdata=CNAME(target)))
            inside = target.rstrip(".").lower().endswith("." + domain)
            if qtype in ADDRESS_TYPES and not inside:
                out.chase = target
            return
        ips = cluster_ips(svc) or ([b.ip for b in backends] if is_headless(svc) else [])
        for rr in _address_rrs(qname, ips, qtype):
            reply.add_answer(rr)
        return
    if len(labels) == 3 and is_headless(svc):  # <host>.<svc>.<ns>.svc
        matching = [b for b in backends if b.label == labels[0]]
        if not matching:
            raise _NoName()
        for rr in _address_rrs(qname, [b.ip for b in matching], qtype):
            reply.add_answer(rr)
        return
    if len(labels) == 4 and labels[0].startswith("_") and labels[1].startswith("_"):
        _srv(reply, svc, backends, labels[0][1:], labels[1][1:], qtype, base)
        return
    raise _NoName()


def _srv(
    reply: DNSRecord, svc: dict, backends: list[Backend], port_name: str, proto: str, qtype: int, base: str
) -> None:
    qname = str(reply.q.qname)
    records: list[tuple[int, str, list[str]]] = []  # (port, target, target addresses)
    if is_headless(svc):
        for b in backends:
            for name, protocol, port in b.ports:
                if name == port_name and protocol.lower() == proto:
                    records.append((port, f"{b.label}.{base}", [b.ip]))
    else:
        for p in (svc.get("spec") or {}).get("ports") or []:
            if p.get("name") == port_name and str(p.get("protocol") or "TCP").lower() == proto:
                records.append((int(p["port"]), base, cluster_ips(svc)))
    if not records:
        raise _NoName()
    if qtype not in (QTYPE.SRV, QTYPE.ANY):
        return
    weight = max(1, 100 // len(records))
    targets_done: set[str] = set()
    for port, target, ips in records:
        reply.add_answer(RR(qname, QTYPE.SRV, ttl=TTL, rdata=SRV(0, weight, port, target)))
        if target not in targets_done:
            targets_done.add(target)
            for rr in _address_rrs(target, ips, QTYPE.ANY):
                reply.add_ar(rr)


def _pod_names(out: Answer, labels: list[str], qtype: int) -> None:
    if len(labels) <= 1:
        return
    if len(labels) != 2:
        raise _NoName()
    dashed = labels[0]
    try:
        ip = str(
            ipaddress.ip_address(
                dashed.replace("-", ".") if dashed.count("-") == 3 else dashed.replace("-", ":")
            )
        )
    except ValueError:
        raise _NoName() from None
    for rr in _address_rrs(str(out.reply.q.qname), [ip], qtype):
        out.reply.add_answer(rr)


def _reverse(catalog: Catalog, reply: DNSRecord, qname: str, domain: str) -> Answer | None:
    try:
        if qname.endswith(".in-addr.arpa"):
            ip = ".".join(reversed(qname[: -len(".in-addr.arpa")].split(".")))
        else:
            nibbles = "".join(reversed(qname[: -len(".ip6.arpa")].split(".")))
            ip = ":".join(nibbles[i : i + 4] for i in range(0, 32, 4))
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        return None
    names = catalog.names_for_ip(ip)
    if not names:
        return None
    if reply.q.qtype in (QTYPE.PTR, QTYPE.ANY):
        for ns, svc, host in names:
            target = f"{host + '.' if host else ''}{svc}.{ns}.svc.{domain}."
            reply.add_answer(RR(str(reply.q.qname), QTYPE.PTR, ttl=TTL, rdata=PTR(target)))
    return Answer(reply)
