"""The ServiceAccount controller: a ``default`` ServiceAccount in every live namespace.

Keys are namespace names. A namespace added (or changed) and a ``default`` ServiceAccount
deleted both queue their namespace; the sync creates the account when it is missing, unless the
namespace is gone or terminating. Tokens come with the security work, not here.
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController, own_key_while_live
from tasks.runtime.controller import Change, Context, Watch

Obj = dict[str, Any]
NAMESPACES = lookup("", "v1", "namespaces")
SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")
DEFAULT = "default"


def _default_account_gone(change: Change) -> list[str]:
    md = change.object.get("metadata", {})
    if change.type != "DELETED" or md.get("name") != DEFAULT or not md.get("namespace"):
        return []
    return [md["namespace"]]


class ServiceAccountController(KeyedController):
    """Keeps a ``default`` ServiceAccount in each namespace that is not being deleted."""

    name = "serviceaccount"
    resource = NAMESPACES
    watches = (
        Watch("namespaces", own_key_while_live),
        Watch("serviceaccounts", _default_account_gone),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        ns = self.get(ctx, key)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        if (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        try:
            ctx.client.get(SERVICEACCOUNTS, DEFAULT, key)
            return None
        except errors.NotFound:
            pass
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT}}
        try:
            ctx.client.create(account, key)
        except (errors.AlreadyExists, errors.Forbidden, errors.NotFound):
            pass  # made meanwhile, or the namespace went away / started terminating
        return None
