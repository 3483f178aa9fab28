"""A pod's ``/etc/resolv.conf``, as the kubelet writes it for each ``dnsPolicy``.

``resolv_conf(pod, dns_ip, host_text, domain)`` returns the file's text:

- ``ClusterFirst`` (the default; for ``hostNetwork`` pods only ``ClusterFirstWithHostNet``):
  ``nameserver <dns_ip>``, ``search <ns>.svc.<domain> svc.<domain> <domain>`` then the host's search
  domains, ``options ndots:5``. Without a cluster DNS address it falls back to ``Default``.
- ``Default``: the host's nameservers, search domains and options (``host_text``).
- ``None``: nothing but ``spec.dnsConfig``.
Then ``spec.dnsConfig`` is merged in as Kubernetes does: its nameservers and searches appended
(duplicates dropped), its options replacing same-named ones; at most 3 nameservers and 32 search
domains are kept.
"""

from __future__ import annotations

import os
from typing import Any

Obj = dict[str, Any]
HOST_RESOLV_CONF = "/etc/resolv.conf"
MAX_NAMESERVERS, MAX_SEARCHES = 3, 32
CLUSTER_FIRST_OPTIONS = ["ndots:5"]


def cluster_domain() -> str:
    """The cluster's DNS domain (``$KUBEQ_CLUSTER_DOMAIN``, else ``cluster.local``)."""
    return os.environ.get("KUBEQ_CLUSTER_DOMAIN", "").strip(". ") or "cluster.local"


def host_resolv_text(path: str = HOST_RESOLV_CONF) -> str:
    """The host's resolv.conf ("" when it cannot be read)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def parse(text: str) -> tuple[list[str], list[str], list[str]]:
    """``(nameservers, search domains, options)`` of resolv.conf text (the last search line wins)."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = words[1:]
        elif words[0] == "options":
            options.extend(words[1:])
    return servers, searches, options


def _merge_options(base: list[str], extra: list[Obj]) -> list[str]:
    merged: dict[str, str] = {}
    for opt in base:
        name, _, _ = opt.partition(":")
        merged[name] = opt
    for opt in extra:
        name = str(opt.get("name") or "")
        if name:
            value = opt.get("value")
            merged[name] = f"{name}:{value}" if value not in (None, "") else name
    return list(merged.values())


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def resolv_conf(pod: Obj, dns_ip: str | None, host_text: str, domain: str = "cluster.local") -> str:
    """The text of ``pod``'s resolv.conf (see the module doc)."""
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_servers, host_searches, host_options = parse(host_text)
    cluster_first = dns_ip and (
        policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork"))
    )
    if policy == "None":
        servers, searches, options = [], [], []
    elif cluster_first:
        servers = [str(dns_ip)]
        searches = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches]
        options = list(CLUSTER_FIRST_OPTIONS)
    else:  # Default, or ClusterFirst with no cluster DNS / on the host's network
        servers, searches, options = host_servers, host_searches, host_options
    config = spec.get("dnsConfig") or {}
    servers = _unique([*servers, *(config.get("nameservers") or [])])[:MAX_NAMESERVERS]
    searches = _unique([*searches, *(config.get("searches") or [])])[:MAX_SEARCHES]
    options = _merge_options(options, config.get("options") or [])
    lines = [f"nameserver {s}" for s in servers]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
