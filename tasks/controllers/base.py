"""What most controllers share: one key per run, keys of one primary resource, owner mapping.

A controller subclasses ``KeyedController``, sets ``name``, ``resource`` (its primary kind) and
``watches``, and writes ``sync(key, ctx)``: re-read the current state through the API, converge,
write. ``sync`` returns None when done or a number of seconds to run again after (or raises
``Requeue``); any other exception backs the key off. Reads are lists at the latest revision and a
key never runs on two workers at once, so a sync always sees every write its predecessor made:
that is what stands in for client-go's expectations (no lagging cache to over-create from).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from cluster import errors
from cluster.api.resources import Resource
from tasks.runtime import events
from tasks.runtime.controller import Change, Context, KeyMapper, Requeue, Watch, own_key

Obj = dict[str, Any]
log = logging.getLogger("kubeq.controllers")


def split_key(key: str) -> tuple[str | None, str]:
    """``namespace/name`` -> (namespace, name); ``name`` -> (None, name)."""
    namespace, _, name = key.rpartition("/")
    return (namespace or None), name


def key_of(obj: Obj) -> str:
    """The work-queue key of ``obj``."""
    md = obj["metadata"]
    return f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"]


def controller_ref(obj: Obj | None) -> Obj | None:
    """The ownerReference with ``controller: true`` on ``obj``, if any."""
    if not obj:
        return None
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Obj, block: bool = True) -> Obj:
    """A controller ownerReference pointing at ``owner``."""
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }


def owned_by(obj: Obj, owner: Obj) -> bool:
    """True when ``owner`` is ``obj``'s controller (same uid)."""
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def owner_keys(kind: str) -> KeyMapper:
    """A mapper: the key of the ``kind`` controlling the changed object, before and after the change."""

    def keys(change: Change) -> list[str]:
        out = []
        for obj in (change.object, change.prev):
            ref = controller_ref(obj)
            if ref and ref.get("kind") == kind:
                namespace = (obj or {}).get("metadata", {}).get("namespace")
                out.append(f"{namespace}/{ref['name']}" if namespace else ref["name"])
        return list(dict.fromkeys(out))

    return keys


def own_key_while_live(change: Change) -> list[str]:
    """The object's own key, unless it was deleted or is being deleted (e.g. namespaces that still
    need something made in them)."""
    if change.type == "DELETED" or change.object.get("metadata", {}).get("deletionTimestamp"):
        return []
    return own_key(change)


class KeyedController:
    """Base for controllers that reconcile one object of ``resource`` per key."""

    name: str = ""
    queue: str = "controllers"
    batch_size: int = 1
    resource: Resource
    watches: tuple[Watch, ...] = ()
    component: str = "kube-controller-manager"  # the Events' source

    def sync(self, key: str, ctx: Context) -> float | None:
        """Reconcile ``key``; None when done, seconds to run again after, or raise to back off."""
        raise NotImplementedError

    def sync_batch(self, keys: list[str], ctx: Context) -> dict[str, BaseException | float | None]:
        out: dict[str, BaseException | float | None] = {}
        for key in keys:
            try:
                out[key] = self.sync(key, ctx)
            except Requeue as again:
                out[key] = again.after
            except Exception as exc:
                log.warning(
                    "%s: sync %s failed: %s",
                    self.name,
                    key,
                    exc,
                    exc_info=not isinstance(exc, errors.StatusError),
                )
                out[key] = exc
        return out

    def resync_keys(self, ctx: Context) -> Iterable[str]:
        """Every object of ``resource``."""
        return [key_of(obj) for obj in ctx.client.list(self.resource).get("items", [])]

    def get(self, ctx: Context, key: str) -> Obj | None:
        """The primary object named by ``key``, or None once it is gone."""
        namespace, name = split_key(key)
        try:
            return ctx.client.get(self.resource, name, namespace)
        except errors.NotFound:
            return None

    def event(self, ctx: Context, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record an Event about ``obj`` from this controller's component."""
        events.record(ctx.client, obj, type_, reason, message, self.component)
