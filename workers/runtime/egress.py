"""Pod egress NAT for the ``namespaces`` isolation: pods reach beyond the host as the host.

A forwarding host sends pod traffic for other networks out with the pod's own source address, which
nothing outside routes back (the CNI bridge plugin's ``ipMasq`` solves the same problem). So, when
the host forwards and has ``nft``, ``ensure(cidr)`` adds the node's pod CIDR to one shared nftables
table, ``ip kubeq-egress``: traffic from a pod CIDR to an address outside every pod CIDR in the set
and outside ``$KUBEQ_CLUSTER_CIDR`` (default 10.244.0.0/16) is masqueraded. Pod-to-pod traffic, on
this host or routed to another, keeps its addresses, as Kubernetes requires. Idempotent, and done once per
CIDR per process (not on every pod start); without ``nft`` or root it does nothing and says so once.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

TABLE = "kubeq-egress"
log = logging.getLogger(__name__)
_warned = False
_done: set[str] = set()  # CIDRs this process already put in the table (pod starts need not ask nft)


def cluster_cidr() -> str:
    return os.environ.get("KUBEQ_CLUSTER_CIDR", "10.244.0.0/16")


def ruleset(cidr: str) -> str:
    """The transaction that creates the table if missing and adds ``cidr`` (an nft script)."""
    return (
        f"table ip {TABLE} {{\n"
        "  set pod-cidrs { type ipv4_addr; flags interval; auto-merge; }\n"
        "  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
        "}\n"
        f"add element ip {TABLE} pod-cidrs {{ {cluster_cidr()}, {cidr} }}\n"
    )


def ensure(cidr: str) -> bool:
    """Masquerade ``cidr``'s traffic to outside the pod networks; True when the rule is in place."""
    global _warned
    if cidr in _done:
        return True
    if os.geteuid() != 0 or shutil.which("nft") is None:
        if not _warned:
            log.info("no nft or not root: pods in namespaces isolation have no egress NAT")
            _warned = True
        return False
    script = ruleset(cidr)
    listed = subprocess.run(
        ["nft", "list", "chain", "ip", TABLE, "postrouting"], capture_output=True, text=True
    )
    if "masquerade" not in listed.stdout:
        script += f"add rule ip {TABLE} postrouting ip saddr @pod-cidrs ip daddr != @pod-cidrs masquerade\n"
    proc = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        log.warning("pod egress NAT for %s not set: %s", cidr, proc.stderr.strip())
        return False
    _done.add(cidr)
    return True
