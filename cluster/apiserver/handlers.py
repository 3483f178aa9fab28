"""Resource verbs: one function per verb, each returning a :class:`Reply`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cluster import errors
from cluster.api.printers import table
from cluster.api.resources import SUBRESOURCE_KINDS
from cluster.apiserver import authz, codecs, patching, phases, virtual, watching
from cluster.apiserver.auth import INSECURE, MASTERS, UserInfo
from cluster.apiserver.authz.node import restrict_node_create
from cluster.apiserver.patch import record_update_manager
from cluster.apiserver.requests import RequestInfo, parse_bool, parse_duration, parse_int
from cluster.registry import (
    DeleteOptions,
    ListQuery,
    Registry,
    WriteOptions,
    check_schema,
    csr,
    delete,
    meta,
    parse_rv,
    returns_object,
    subresources,
    success_status,
)
from cluster.registry.selection import predicate

Obj = dict[str, Any]
_FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


@dataclass
class Reply:
    """What a handler produces: a code, an object (or a byte stream) and warnings."""

    code: int
    body: Obj | None = None
    stream: Iterator[bytes] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Request:
    """A resource request with everything the verbs need."""

    info: RequestInfo
    registry: Registry
    accept: str
    content_type: str | None
    user_agent: str
    read_body: Callable[[], bytes]
    heartbeat: float = 1.0
    user: UserInfo = INSECURE  # who is asking (set by authentication)

    @property
    def q(self) -> dict[str, str]:
        return self.info.query

    def write_options(self) -> WriteOptions:
        """``dryRun``, ``fieldManager``, ``fieldValidation`` and ``force``, checked."""
        dry = self.q.get("dryRun", "")
        if dry not in ("", "All"):
            raise errors.BadRequest(f'dryRun: Unsupported value: "{dry}": supported values: "All"')
        validation = self.q.get("fieldValidation") or "Warn"
        if validation not in _FIELD_VALIDATION:
            raise errors.BadRequest(
                f'fieldValidation: Unsupported value: "{validation}": supported values: '
                '"Ignore", "Strict", "Warn"'
            )
        manager = self.q.get("fieldManager") or self.user_agent.split("/", 1)[0][:128]
        return WriteOptions(
            dry_run=dry == "All",
            field_manager=manager,
            field_validation=validation,
            force=parse_bool(self.q.get("force"), "force"),
            admit=self._caller_admission(),
        )

    def _caller_admission(self) -> Callable[[Obj], None] | None:
        """Admission that needs the caller: RBAC writes may not grant rules or bindings the caller does
        not hold (escalation); a node may create only its own Node and Lease (NodeRestriction)."""
        i, user = self.info, self.user
        if MASTERS in user.groups:
            return None
        if i.resource.group == "rbac.authorization.k8s.io":
            return lambda obj: authz.check_escalation(self.registry, user, i.resource, obj, i.namespace)
        if i.verb == "create" and i.resource.qualified in ("nodes", "leases.coordination.k8s.io"):
            return lambda obj: restrict_node_create(user, i.resource.qualified, obj)
        return None

    def list_query(self) -> ListQuery:
        """The list/watch options; ``Invalid`` (422, kind ListOptions) for a bad resourceVersionMatch."""
        match = self.q.get("resourceVersionMatch", "") if self.info.verb != "watch" else ""
        if match and match not in ("Exact", "NotOlderThan"):
            cause = errors.Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"',
                "resourceVersionMatch",
            )
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [cause])
        if match and not self.q.get("resourceVersion"):
            cause = errors.Cause(
                "FieldValueForbidden",
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                "resourceVersionMatch",
            )
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [cause])
        return ListQuery(
            label_selector=self.q.get("labelSelector", ""),
            field_selector=self.q.get("fieldSelector", ""),
            limit=parse_int(self.q.get("limit"), "limit"),
            continue_token=self.q.get("continue", ""),
            resource_version=self.q.get("resourceVersion", ""),
            resource_version_match=self.q.get("resourceVersionMatch", ""),
        )

    def render(self, body: Obj, objects: list[Obj] | None = None, list_meta: Obj | None = None) -> Obj:
        """``body`` as is, or as a Table when the client asked for one."""
        if not codecs.table_request(self.accept) or self.info.subresource:
            return body
        include = self.q.get("includeObject") or "Metadata"
        return table(
            self.info.resource,
            objects if objects is not None else [body],
            include_object=include,
            list_meta=list_meta,
        )


def _decode(req: Request) -> Any:
    """The request body as an object (its parse time counted as the "decode" phase)."""
    t0 = time.perf_counter()
    try:
        return codecs.decode_object(req.content_type, req.read_body())
    finally:  # a body refused while decoding still counts as decode time
        phases.decoded(time.perf_counter() - t0)


def get(req: Request) -> Reply:
    i = req.info
    if i.subresource == "scale":
        return Reply(200, subresources.get_scale(req.registry, i.resource, i.namespace, i.name))
    if i.subresource not in ("", "status", "approval"):
        raise errors.MethodNotAllowed(f"GET is not supported on {i.resource.plural}/{i.subresource}")
    return Reply(200, req.render(req.registry.get(i.resource, i.namespace, i.name)))


def list_(req: Request) -> Reply:
    i = req.info
    as_json = not codecs.table_request(req.accept) and not codecs.wants_yaml(req.accept)
    result = req.registry.list(i.resource, i.namespace, req.list_query(), raw=as_json)
    return Reply(200, req.render(result, result["items"], result["metadata"]))


def watch(req: Request) -> Reply:
    i = req.info
    query = req.list_query()
    if i.name:  # /watch/namespaces/ns/pods/name
        query.field_selector = ",".join(filter(None, [query.field_selector, f"metadata.name={i.name}"]))
    timeout = parse_int(req.q.get("timeoutSeconds"), "timeoutSeconds")
    request_timeout = parse_duration(req.q.get("timeout"), "timeout")
    if request_timeout:  # the whole request's limit (kubectl --request-timeout) bounds the watch too
        timeout = min(timeout or request_timeout, request_timeout)
    bookmarks = parse_bool(req.q.get("allowWatchBookmarks"), "allowWatchBookmarks")
    render = None
    if codecs.table_request(req.accept):
        include = req.q.get("includeObject") or "Metadata"

        def render(obj: Obj, first: bool) -> Obj:
            out = table(i.resource, [obj], include_object=include)
            if not first:
                out["columnDefinitions"] = []
            return out

    # bad selectors or resourceVersion: a 400 now, not an error after the 200 headers went out
    predicate(i.resource, query.label_selector, query.field_selector)
    parse_rv(query.resource_version)
    body = watching.stream(
        req.registry, i.resource, i.namespace, query, timeout, bookmarks, req.heartbeat, render
    )
    return Reply(200, stream=body)


def create(req: Request) -> Reply:
    i = req.info
    answer = virtual.handler_for(i.resource.qualified, i.subresource)
    if answer is not None:  # a review or a token: answered, never stored
        body = _decode(req)
        if not isinstance(body, dict):
            raise errors.BadRequest("the request body must be a JSON or YAML object")
        schema = SUBRESOURCE_KINDS[i.subresource][3] if i.subresource else i.resource.schema
        opts = req.write_options()  # wrong field types are a 400 before the answer reads them
        checked = check_schema(i.resource, body, opts, schema, required=False)  # answers default the rest
        return Reply(201, answer(req, checked), warnings=opts.warnings)
    opts = req.write_options()
    if i.subresource or i.name:
        return _create_subresource(req, opts)
    obj = _decode(req)
    if i.resource.qualified == csr.QUALIFIED:  # the requester's identity, never the body's
        csr.prepare_create(obj, req.user)
    if opts.field_manager:
        record_update_manager(
            None, obj, opts.field_manager, "Update", meta.now(), i.resource.api_version, i.resource.schema
        )
    created = req.registry.create(i.resource, i.namespace, obj, opts)
    return Reply(201, created, warnings=opts.warnings)


def _create_subresource(req: Request, opts: WriteOptions) -> Reply:
    i = req.info
    if i.resource.plural == "pods" and i.subresource in ("binding", "eviction"):
        body = _decode(req)
        assert i.namespace is not None
        if i.subresource == "binding":
            return Reply(201, subresources.bind(req.registry, i.namespace, i.name, body, opts))
        return Reply(201, subresources.evict(req.registry, i.namespace, i.name, body))
    raise errors.MethodNotAllowed(f"POST is not supported on {i.resource.plural}/{i.subresource or i.name}")


def update(req: Request) -> Reply:
    i = req.info
    opts = req.write_options()
    obj = _decode(req)
    if i.subresource == "scale":
        return Reply(200, patching.write_scale(req.registry, i.resource, i.namespace, i.name, obj, opts))
    if i.subresource not in ("", "status", "finalize", "approval"):
        raise errors.MethodNotAllowed(f"PUT is not supported on {i.resource.plural}/{i.subresource}")
    old = None
    if opts.field_manager and isinstance(obj, dict):
        try:
            old = req.registry.get(i.resource, i.namespace, i.name)
        except errors.NotFound:
            old = None
        record_update_manager(
            old,
            obj,
            opts.field_manager,
            "Update",
            meta.now(),
            i.resource.api_version,
            i.resource.schema,
            subresource=i.subresource if i.subresource == "status" else "",
        )
    updated = req.registry.update(i.resource, i.namespace, i.name, obj, opts, i.subresource, current=old)
    return Reply(200, updated, warnings=opts.warnings)


def patch(req: Request) -> Reply:
    i = req.info
    if i.subresource not in ("", "status", "scale", "approval"):
        raise errors.MethodNotAllowed(f"PATCH is not supported on {i.resource.plural}/{i.subresource}")
    opts = req.write_options()
    obj, created = patching.patch(
        req.registry, i.resource, i.namespace, i.name, i.subresource, req.content_type, req.read_body(), opts
    )
    return Reply(201 if created else 200, obj, warnings=opts.warnings)


def _delete_options(req: Request) -> DeleteOptions:
    raw = req.read_body()
    body = codecs.decode_object(req.content_type, raw) if raw.strip() else None
    return DeleteOptions.parse(body, req.q)


def delete_(req: Request) -> Reply:
    i = req.info
    if i.subresource:
        raise errors.MethodNotAllowed(f"DELETE is not supported on {i.resource.plural}/{i.subresource}")
    obj, finished = delete(req.registry, i.resource, i.namespace, i.name, _delete_options(req))
    body = obj if returns_object(i.resource, finished) else success_status(i.resource, obj)
    return Reply(200 if finished else 202, body)


def delete_collection(req: Request) -> Reply:
    i = req.info
    options = _delete_options(req)
    listing = req.registry.list(i.resource, i.namespace, req.list_query())
    for item in listing["items"]:
        md = item["metadata"]
        try:
            delete(req.registry, i.resource, md.get("namespace"), md["name"], options)
        except errors.NotFound:
            pass
    return Reply(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})


VERBS: dict[str, Callable[[Request], Reply]] = {
    "get": get,
    "list": list_,
    "watch": watch,
    "create": create,
    "update": update,
    "patch": patch,
    "delete": delete_,
    "deletecollection": delete_collection,
}
