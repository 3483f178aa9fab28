"""The generic registry: create, get, list, watch and update of any kind through the store.

Every write passes admission (schema, defaults, validation) and the kind's strategy before the
store sees it, so the same rules hold for every writer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cluster import errors, jsoncodec
from cluster.api.defaults import job_selector_defaults
from cluster.api.resources import Resource
from cluster.registry import csr, meta, podinputs, strategy
from cluster.registry.admission import WriteOptions, check_schema, default_and_validate
from cluster.registry.priority import admit_pod_priority
from cluster.registry.selection import predicate
from cluster.registry.serviceaccount_admission import admit_service_account
from cluster.registry.servicealloc import ServiceAllocator
from cluster.store import RV_PLACEHOLDER, NamespaceTerminating, Store, WatchEvent

Obj = dict[str, Any]
_UNCONDITIONAL_RETRIES = 10


@dataclass
class ListQuery:
    """The query parameters of a list or watch."""

    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""


def parse_rv(value: str | None, what: str = "resourceVersion") -> int | None:
    """A resourceVersion string as an int (None for empty); ``BadRequest`` if it is not a number."""
    if value in (None, ""):
        return None
    try:
        rv = int(value)  # type: ignore[arg-type]
    except ValueError:
        raise errors.BadRequest(f'invalid {what}: "{value}"') from None
    if rv < 0:
        raise errors.BadRequest(f'invalid {what}: "{value}"')
    return rv


class Registry:
    """Kubernetes' generic registry semantics over a :class:`Store`."""

    def __init__(self, store: Store, services: ServiceAllocator | None = None) -> None:
        self.store = store
        self.services = services or ServiceAllocator.from_settings(store)

    # ---- reads -------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        """The stored object; ``NotFound`` if absent."""
        return self.store.get(resource.qualified, resource.key(namespace, name))

    def list(self, resource: Resource, namespace: str | None, query: ListQuery, raw: bool = False) -> Obj:
        """A ``<Kind>List`` at one revision, filtered and paginated as asked; ``raw``: items may be
        encoded-JSON fragments (when no selector filters them), for a reply written as JSON."""
        pred = predicate(resource, query.label_selector, query.field_selector)
        rv = parse_rv(query.resource_version)
        exact = query.resource_version_match == "Exact" or (query.limit and not query.resource_version_match)
        revision = rv if exact and rv else None
        if query.limit < 0:
            raise errors.BadRequest("limit must be a non-negative number")
        result = self.store.list(
            resource.qualified,
            namespace if resource.namespaced else None,
            limit=query.limit,
            continue_token=query.continue_token or None,
            revision=revision,
            predicate=pred,
            raw=raw and pred is None,
        )
        list_meta: Obj = {"resourceVersion": str(result.revision)}
        if result.continue_token:
            list_meta["continue"] = result.continue_token
            if result.remaining is not None:
                list_meta["remainingItemCount"] = result.remaining
        return {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": list_meta,
            "items": result.items,
        }

    def watch(
        self, resource: Resource, namespace: str | None, query: ListQuery, **kwargs: Any
    ) -> Iterator[WatchEvent | None]:
        """Changes after ``query.resource_version``; with "" or "0", synthetic ADDED events first.

        Selectors are checked now (``BadRequest``); the iterator raises ``Gone`` (410) if the start
        revision was compacted, and yields None while idle (see ``Store.watch``).
        """
        pred = predicate(resource, query.label_selector, query.field_selector)
        start = parse_rv(query.resource_version)
        return self._events(resource, namespace if resource.namespaced else None, start, pred, kwargs)

    def _events(
        self, resource: Resource, ns: str | None, start: int | None, pred: Any, kwargs: dict[str, Any]
    ) -> Iterator[WatchEvent | None]:
        if not start:
            snapshot = self.store.list(resource.qualified, ns, predicate=pred)
            last = len(snapshot.items) - 1
            for i, item in enumerate(snapshot.items):
                yield WatchEvent("ADDED", item, int(item["metadata"]["resourceVersion"]), more=i < last)
            start = snapshot.revision
        yield from self.store.watch(resource.qualified, ns, start, predicate=pred, **kwargs)

    # ---- writes ------------------------------------------------------------------------
    def create(self, resource: Resource, namespace: str | None, obj: Obj, opts: WriteOptions) -> Obj:
        """Admit and store a new object; ``AlreadyExists``, ``Invalid``, ``BadRequest`` on failure."""
        obj = check_schema(resource, self._typed(resource, obj), opts)
        md = meta.metadata(obj)
        self._set_namespace(resource, namespace, md)
        requested_name = md.get("name") or ""
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = meta.generated_name(md["generateName"])
        for key in meta.SYSTEM_FIELDS:
            md.pop(key, None)
        strategy.prepare_for_create(resource, obj)
        inputs = None
        if resource.plural == "pods":
            inputs = podinputs.read(self.store, obj)
            admit_pod_priority(obj, inputs)
            admit_service_account(self, obj, inputs, dry_run=bool(opts.dry_run))
        default_and_validate(resource, obj, None)
        if opts.admit is not None:
            opts.admit(obj)
        if inputs is not None:  # read already; the write checks it again, atomically
            self._check_live_namespace(md["namespace"], inputs.namespace, resource, requested_name)
        elif resource.namespaced and opts.dry_run:  # else checked by the write itself
            self._require_live_namespace(md["namespace"], resource, requested_name)
        md["uid"] = _uid()
        md["creationTimestamp"] = meta.now()
        md["generation"] = 1
        if resource.plural == "jobs":
            job_selector_defaults(obj)
        alloc = None
        if _is_service(resource):
            self._refuse_existing(resource, md)  # AlreadyExists before any "IP already allocated"
            alloc = self.services.allocate(obj, None, opts.dry_run)
        if opts.dry_run:
            md["resourceVersion"] = ""
            return obj
        md["resourceVersion"] = RV_PLACEHOLDER
        key = resource.key(md.get("namespace"), md["name"])
        live = md["namespace"] if resource.namespaced else None  # the write checks it atomically
        try:
            return self.store.create(resource.qualified, key, obj, live)
        except NamespaceTerminating:
            if alloc is not None:
                alloc.abort()
            raise self._terminating(md["namespace"], resource, requested_name) from None
        except BaseException:
            if alloc is not None:
                alloc.abort()
            raise

    def update(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        obj: Obj,
        opts: WriteOptions,
        subresource: str = "",
        current: Obj | None = None,
    ) -> Obj:
        """Replace an object (or its status). CAS on ``metadata.resourceVersion`` when given.

        ``current`` is the stored object if the caller has just read it (saves a read; the write
        still compares revisions in the store). ``Conflict`` on a stale resourceVersion,
        ``NotFound`` if absent, ``Invalid`` on bad content. Clearing the last finalizer of an object
        being deleted deletes it.
        """
        key = resource.key(namespace, name)
        obj = check_schema(resource, self._typed(resource, obj), opts)
        md = meta.metadata(obj)
        self._set_namespace(resource, namespace, md)
        if md.get("name", name) != name:
            raise errors.BadRequest(
                f"the name of the object ({md.get('name')}) does not match the name on the URL ({name})"
            )
        md["name"] = name
        expected = parse_rv(md.get("resourceVersion"))
        for attempt in range(_UNCONDITIONAL_RETRIES):
            old = current if attempt == 0 and current is not None else self.store.get(resource.qualified, key)
            if expected is not None and str(expected) != old["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.qualified, name, current=old)
            new = self._next_version(resource, old, obj, subresource)
            service_spec = _is_service(resource) and not subresource
            if service_spec:
                self.services.carry_over(new, old)
            default_and_validate(resource, new, old)
            if opts.admit is not None and not subresource:
                opts.admit(new)
            alloc = self.services.allocate(new, old, opts.dry_run) if service_spec else None
            try:
                stored = self._write(resource, key, new, old, opts)
            except BaseException as err:
                if alloc is not None:
                    alloc.abort()
                if not isinstance(err, errors.Conflict):
                    raise
                # An update without a resourceVersion is unconditional: a concurrent write only
                # means reading again. One that named a version has lost the race for real.
                if expected is not None or attempt == _UNCONDITIONAL_RETRIES - 1:
                    raise
                continue
            if alloc is not None:
                alloc.commit()
            return stored
        raise AssertionError("unreachable")

    def _next_version(self, resource: Resource, old: Obj, obj: Obj, subresource: str) -> Obj:
        if resource.qualified == csr.QUALIFIED:  # approval/status rules of CertificateSigningRequests
            custom = csr.next_version(subresource, old, obj)
            if custom is not None:
                return custom
        if subresource == "status":
            return meta.status_only(obj, old)
        if subresource == "finalize":  # namespaces: only spec.finalizers changes
            new = jsoncodec.clone(old)
            new.setdefault("spec", {})["finalizers"] = list(obj.get("spec", {}).get("finalizers") or [])
            return new
        new = jsoncodec.clone(obj)
        meta.keep_system_fields(new, old)
        if resource.has_status:
            meta.keep_status(new, old)
        meta.bump_generation(new, old)
        return new

    def _write(self, resource: Resource, key: str, new: Obj, old: Obj, opts: WriteOptions) -> Obj:
        """Store ``new`` over ``old`` with CAS, or delete it when its last finalizer went away."""
        old_rv = int(old["metadata"]["resourceVersion"])
        if new == old or _same_but_rv(new, old):
            return old
        if opts.dry_run:
            return new
        if old["metadata"].get("deletionTimestamp") and not _finalizers_pending(new):
            deleted = self.store.delete(resource.qualified, key, old_rv)
            self.after_delete(resource, deleted)
            return deleted
        new["metadata"]["resourceVersion"] = RV_PLACEHOLDER
        return self.store.update(resource.qualified, key, new, old_rv)

    def _refuse_existing(self, resource: Resource, md: Obj) -> None:
        try:
            self.store.get(resource.qualified, resource.key(md.get("namespace"), md.get("name", "")))
        except errors.NotFound:
            return
        raise errors.already_exists(resource.qualified, md.get("name", ""))

    def after_delete(self, resource: Resource, obj: Obj) -> None:
        """Free what ``obj`` held once it is gone from the store (a Service's ClusterIP, node ports)."""
        if _is_service(resource):
            self.services.release(obj)

    # ---- helpers -----------------------------------------------------------------------
    @staticmethod
    def _typed(resource: Resource, obj: Obj) -> Obj:
        """A copy of the body with ``kind``/``apiVersion`` checked and filled in."""
        if not isinstance(obj, dict):
            raise errors.BadRequest("the request body must be a JSON object")
        obj = jsoncodec.clone(obj)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != resource.kind:
            raise errors.BadRequest(
                f"the kind of the object ({kind}) does not match the resource ({resource.plural}, "
                f"which holds {resource.kind})"
            )
        if api_version and api_version != resource.api_version:
            raise errors.BadRequest(
                f"the API version of the object ({api_version}) does not match the request "
                f"({resource.api_version})"
            )
        obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
        if "metadata" in obj and not isinstance(obj["metadata"], dict):
            raise errors.BadRequest("metadata must be an object")
        return obj

    @staticmethod
    def _set_namespace(resource: Resource, namespace: str | None, md: Obj) -> None:
        if not resource.namespaced:
            md.pop("namespace", None)
            return
        if md.get("namespace") and md["namespace"] != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        md["namespace"] = namespace

    def _require_live_namespace(self, namespace: str, resource: Resource, name: str) -> None:
        """``NotFound`` for a missing namespace; ``Forbidden`` (as Kubernetes words it) for one being deleted."""
        try:
            ns = self.store.get("namespaces", namespace)
        except errors.NotFound:
            ns = None
        self._check_live_namespace(namespace, ns, resource, name)

    def _check_live_namespace(self, namespace: str, ns: Obj | None, resource: Resource, name: str) -> None:
        """``_require_live_namespace`` on the namespace object already read (None: missing)."""
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise self._terminating(namespace, resource, name)

    @staticmethod
    def _terminating(namespace: str, resource: Resource, name: str) -> errors.Forbidden:
        """The Forbidden error Kubernetes gives for a create into a namespace being deleted."""
        what = f'{resource.qualified} "{name}"' if name else resource.qualified
        return errors.Forbidden(
            f"{what} is forbidden: unable to create new content in namespace {namespace} "
            "because it is being terminated",
            name=name,
            group=resource.group,
            kind=resource.plural,
            causes=[
                errors.Cause(
                    "NamespaceTerminating",
                    f"namespace {namespace} is being terminated",
                    "metadata.namespace",
                )
            ],
        )


def _finalizers_pending(obj: Obj) -> bool:
    """Whether anything still holds the object (metadata finalizers; a namespace's spec finalizers)."""
    if obj["metadata"].get("finalizers"):
        return True
    return obj.get("kind") == "Namespace" and bool(obj.get("spec", {}).get("finalizers"))


def _same_but_rv(new: Obj, old: Obj) -> bool:
    a = dict(new, metadata={k: v for k, v in new["metadata"].items() if k != "resourceVersion"})
    b = dict(old, metadata={k: v for k, v in old["metadata"].items() if k != "resourceVersion"})
    return a == b


def _is_service(resource: Resource) -> bool:
    return resource.group == "" and resource.plural == "services"


def _uid() -> str:
    return str(uuid.uuid4())
