"""OpenAPI documents generated from the resource table and the Kubernetes schemas.

``openapi_v3_index()`` and ``openapi_v3(group, version)`` serve ``/openapi/v3`` and
``/openapi/v3/{api/v1 | apis/g/v}``; ``openapi_v2()`` serves ``/openapi/v2`` (Swagger 2.0).
Documents are built once per process and cached: treat them as read-only. They carry the
``x-kubernetes-*`` extensions kubectl relies on: ``x-kubernetes-group-version-kind`` on kinds
and operations (``explain`` and the ``fieldValidation`` check behind ``apply``), patch
strategies and list types on fields.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from cluster.api.resources import RESOURCES, SUBRESOURCE_KINDS, Resource, in_group_version
from cluster.api.schema import definitions, kubernetes_version

Doc = dict[str, Any]
_REF3 = "#/components/schemas/"
_REF2 = "#/definitions/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."

# Verbs of each subresource kubeq knows, as discovery reports them.
SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "finalize": ("update",),
    "approval": ("get", "patch", "update"),
    "token": ("create",),
}

_KIND_TEXT = {
    "Namespace": "Namespace is a named scope that groups objects and their names.",
    "Pod": "Pod is a group of containers scheduled together on one node.",
    "Node": "Node is a machine that runs pods, as seen by the control plane.",
    "Service": "Service gives a set of pods one stable address and load-balances across them.",
    "Endpoints": "Endpoints lists the addresses and ports that back a service.",
    "ConfigMap": "ConfigMap holds non-secret configuration as key/value pairs.",
    "Secret": "Secret holds small amounts of sensitive data such as passwords or tokens.",
    "ServiceAccount": "ServiceAccount is an identity that processes in pods run as.",
    "Event": "Event records something that happened to an object in the cluster.",
    "Deployment": "Deployment keeps a replicated set of pods at a declared template, rolling out changes.",
    "ReplicaSet": "ReplicaSet keeps a given number of identical pods running.",
    "Job": "Job runs pods until a given number of them finish successfully.",
    "CronJob": "CronJob creates jobs on a repeating schedule.",
    "EndpointSlice": "EndpointSlice is one shard of the network endpoints behind a service.",
    "Lease": "Lease is a short-lived claim on a name, used for leader election and heartbeats.",
    "PriorityClass": "PriorityClass maps a class name to the integer priority its pods get.",
    "PodDisruptionBudget": "PodDisruptionBudget bounds how many of the pods it selects may be evicted at once.",
    "Scale": "Scale is the replica count of a scalable object, read and written through /scale.",
    "Binding": "Binding assigns a pod to a node; the scheduler posts it to /binding.",
    "Eviction": "Eviction asks to remove a pod while honouring disruption budgets.",
    "Role": "Role grants verbs on resources inside one namespace.",
    "ClusterRole": "ClusterRole grants verbs on resources cluster-wide or, through a RoleBinding, in a namespace.",
    "RoleBinding": "RoleBinding gives the subjects it lists a Role or ClusterRole inside one namespace.",
    "ClusterRoleBinding": "ClusterRoleBinding gives the subjects it lists a ClusterRole everywhere.",
    "CertificateSigningRequest": "CertificateSigningRequest asks a signer for an X.509 certificate.",
    "SelfSubjectAccessReview": "SelfSubjectAccessReview asks whether the caller may perform an action.",
    "SelfSubjectRulesReview": "SelfSubjectRulesReview lists what the caller may do in a namespace.",
    "SubjectAccessReview": "SubjectAccessReview asks whether a given user may perform an action.",
    "TokenReview": "TokenReview asks the server who a bearer token belongs to.",
    "SelfSubjectReview": "SelfSubjectReview tells the caller who the server thinks it is.",
    "TokenRequest": "TokenRequest asks for a signed token of a service account.",
    "Status": "Status is the reply to a call that returns no object, most often an error.",
    "DeleteOptions": "DeleteOptions tune a delete: grace period, preconditions, propagation.",
}
_FIELD_TEXT = {
    "apiVersion": "The API group and version of this object's schema, such as apps/v1.",
    "kind": "The type of this object, in CamelCase.",
    "metadata": "Name, namespace, labels and other data every object carries.",
    "spec": "The state the user wants for this object.",
    "status": "The state last observed by the system; written by controllers.",
    "items": "The objects in this list.",
}


def subresource_kind(r: Resource, sub: str) -> tuple[str, str, str]:
    """``(group, version, kind)`` of the body a subresource of ``r`` returns."""
    if sub in SUBRESOURCE_KINDS:
        return SUBRESOURCE_KINDS[sub][:3]
    return r.group, r.version, r.kind


def _list_name(r: Resource) -> str:
    return r.schema + "List"


def _list_schema(r: Resource) -> Doc:
    return {
        "description": f"{r.kind}List is a list of {r.kind} objects.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": _REF3 + r.schema}},
            "kind": {"type": "string"},
            "metadata": {"$ref": _REF3 + _META + "ListMeta"},
        },
        "x-kubernetes-group-version-kind": [{"group": r.group, "kind": r.list_kind, "version": r.version}],
    }


def _extra_schemas() -> dict[str, Doc]:
    """Schemas not in definitions.json: the list kinds and the PATCH body."""
    extra = {_list_name(r): _list_schema(r) for r in RESOURCES}
    extra[_META + "Patch"] = {
        "description": "The body of a PATCH request, in the format its Content-Type names.",
        "type": "object",
    }
    return extra


def _all_schemas() -> dict[str, Doc]:
    return {**definitions(), **_extra_schemas()}


def _refs(node: Any) -> set[str]:
    """Names of the schemas a node refers to directly."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF3):
                found.add(ref[len(_REF3) :])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _reachable(roots: set[str], schemas: dict[str, Doc]) -> list[str]:
    seen: set[str] = set()
    todo = [n for n in roots if n in schemas]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(n for n in _refs(schemas[name]) if n in schemas and n not in seen)
    return sorted(seen)


def _described(name: str, schema: Doc) -> Doc:
    """A copy of ``schema`` with kubeq's own description on kinds and their top-level fields."""
    out = copy.deepcopy(schema)
    gvks = out.get("x-kubernetes-group-version-kind") or []
    kind = gvks[0]["kind"] if gvks else name.rsplit(".", 1)[-1]
    if kind in _KIND_TEXT and "description" not in out:
        out["description"] = _KIND_TEXT[kind]
    if gvks:
        for field, prop in out.get("properties", {}).items():
            if field not in _FIELD_TEXT or "description" in prop:
                continue
            if "$ref" in prop:  # a $ref takes no siblings in OpenAPI 3.0: wrap it to describe it
                prop["allOf"] = [{"$ref": prop.pop("$ref")}]
            prop["description"] = _FIELD_TEXT[field]
    return out


# ---- paths: the REST operations of each resource ---------------------------------------------

_QUERY: dict[str, tuple[str, str]] = {
    "pretty": ("string", "Indent the reply when 'true'."),
    "allowWatchBookmarks": ("boolean", "Ask for BOOKMARK events during a watch."),
    "continue": ("string", "The token from the previous page of a paginated list."),
    "fieldSelector": ("string", "Keep only objects whose fields match, such as spec.nodeName=n1."),
    "labelSelector": ("string", "Keep only objects whose labels match, such as app=web."),
    "limit": ("integer", "The most objects to return in one page."),
    "resourceVersion": ("string", "The revision to read at or to watch from."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    "sendInitialEvents": ("boolean", "Begin a watch with ADDED events for every current object."),
    "timeoutSeconds": ("integer", "End the list or watch after this many seconds."),
    "watch": ("boolean", "Stream changes as watch events instead of returning a list."),
    "dryRun": ("string", "'All' runs every check and admission step but stores nothing."),
    "fieldManager": ("string", "Name of the actor making the change, recorded in managedFields."),
    "fieldValidation": ("string", "What to do with unknown or duplicated fields: Ignore, Warn or Strict."),
    "force": ("boolean", "Take over fields other managers own (apply patches only)."),
    "gracePeriodSeconds": ("integer", "Seconds to wait before the object goes; 0 removes it at once."),
    "orphanDependents": ("boolean", "Deprecated; use propagationPolicy."),
    "propagationPolicy": ("string", "What becomes of dependents: Orphan, Background or Foreground."),
    "container": ("string", "The container whose log to read; needed when the pod has several."),
    "follow": ("boolean", "Keep streaming the log as it grows."),
    "limitBytes": ("integer", "Stop after this many bytes of log."),
    "previous": ("boolean", "Read the log of the container's previous, ended instance."),
    "sinceSeconds": ("integer", "Only lines written in the last this-many seconds."),
    "tailLines": ("integer", "Only this many lines from the end of the log."),
    "timestamps": ("boolean", "Prefix every line with the time it was written."),
}
_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_LOG_PARAMS = ("container", "follow", "limitBytes", "previous", "sinceSeconds", "tailLines", "timestamps")
_OBJECT_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_STREAM_TYPES = ("application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_ACTION_TEXT = {
    "list": "List or watch",
    "post": "Create",
    "deletecollection": "Delete a collection of",
    "get": "Read",
    "put": "Replace",
    "patch": "Patch",
    "delete": "Delete",
}
_GO_VERB = {
    "list": "list",
    "post": "create",
    "deletecollection": "deleteCollection",
    "get": "read",
    "put": "replace",
    "patch": "patch",
    "delete": "delete",
}


def _query(name: str) -> Doc:
    kind, text = _QUERY[name]
    return {"name": name, "in": "query", "description": text, "schema": {"type": kind, "uniqueItems": True}}


def _path_param(name: str, text: str) -> Doc:
    return {
        "name": name,
        "in": "path",
        "description": text,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


def _content(ref: str, types: tuple[str, ...]) -> Doc:
    return {t: {"schema": {"$ref": _REF3 + ref}} for t in types}


def _group_ident(group: str) -> str:
    """``core``, ``apps``, ``discovery`` (for discovery.k8s.io), ``rbacAuthorization``, ..."""
    parts = (group.removesuffix(".k8s.io") or "core").split(".")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _operation(
    r: Resource,
    action: str,
    body: str,
    gvk: tuple[str, str, str],
    suffix: str = "",
    all_namespaces: bool = False,
) -> Doc:
    """One operation on a resource path; ``body`` is the definition name of what it returns."""
    ident = _group_ident(r.group)
    scope = "" if all_namespaces or not r.namespaced else "Namespaced"
    many = action in ("list", "deletecollection")
    target = (
        f"the {suffix.lower()} of a {r.kind}" if suffix else f"{r.kind} objects" if many else f"a {r.kind}"
    )
    op_id = f"{_GO_VERB[action]}{ident[:1].upper()}{ident[1:]}{r.version.capitalize()}{scope}{r.kind}{suffix}"
    if all_namespaces:
        op_id += "ForAllNamespaces"
    ok = {"description": "OK", "content": _content(body, _OBJECT_TYPES)}
    op: Doc = {
        "tags": [f"{ident}_{r.version}"],
        "description": f"{_ACTION_TEXT[action]} {target}.",
        "operationId": op_id,
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": gvk[0], "kind": gvk[2], "version": gvk[1]},
    }
    params: tuple[str, ...] = ()
    if action == "list":
        params = _LIST_PARAMS
        ok["content"] = _content(body, _OBJECT_TYPES + _STREAM_TYPES)
    elif action in ("post", "put", "patch"):
        params = _WRITE_PARAMS + (("force",) if action == "patch" else ())
        types = _PATCH_TYPES if action == "patch" else ("*/*",)
        ref = _META + "Patch" if action == "patch" else body
        op["requestBody"] = {"content": _content(ref, types), "required": True}
        op["responses"]["201"] = {"description": "Created", "content": _content(body, _OBJECT_TYPES)}
        if action == "post":
            op["responses"]["202"] = {"description": "Accepted", "content": _content(body, _OBJECT_TYPES)}
    elif action in ("delete", "deletecollection"):
        params = _DELETE_PARAMS + (_LIST_PARAMS[1:-1] if action == "deletecollection" else ())
        op["requestBody"] = {"content": _content(_META + "DeleteOptions", ("*/*",))}
        op["responses"]["202"] = {"description": "Accepted", "content": _content(body, _OBJECT_TYPES)}
    if suffix == "Log":
        params = _LOG_PARAMS
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    if params:
        op["parameters"] = [_query(p) for p in params]
    return op


_SUB_ACTIONS = {"get": "get", "update": "put", "patch": "patch", "create": "post"}


def _resource_paths(r: Resource) -> Doc:
    """The path items of one resource: collection, object, all-namespaces list and subresources."""
    root = "/" + _root_path(r.group, r.version)
    scope = f"{root}/namespaces/{{namespace}}" if r.namespaced else root
    shared = [_query("pretty")]
    if r.namespaced:
        shared.insert(0, _path_param("namespace", "The namespace the object lives in."))
    named = [_path_param("name", f"Name of the {r.kind}.")] + shared
    gvk = (r.group, r.version, r.kind)
    verbs = set(r.verbs)

    collection: Doc = {}
    if "list" in verbs:
        collection["get"] = _operation(r, "list", _list_name(r), gvk)
    if "create" in verbs:
        collection["post"] = _operation(r, "post", r.schema, gvk)
    if "deletecollection" in verbs:
        collection["delete"] = _operation(r, "deletecollection", _META + "Status", gvk)
    item: Doc = {}
    for verb, action in (("get", "get"), ("update", "put"), ("patch", "patch"), ("delete", "delete")):
        if verb in verbs:
            item[action] = _operation(r, action, r.schema, gvk)
    paths: Doc = {}
    if collection:
        paths[f"{scope}/{r.plural}"] = {**collection, "parameters": shared}
    if item:
        paths[f"{scope}/{r.plural}/{{name}}"] = {**item, "parameters": named}
    if r.namespaced and "list" in verbs:
        paths[f"{root}/{r.plural}"] = {
            "get": _operation(r, "list", _list_name(r), gvk, all_namespaces=True),
            "parameters": [_query("pretty")],
        }
    for sub in r.subresources:
        sub_gvk = subresource_kind(r, sub)
        body = SUBRESOURCE_KINDS[sub][3] if sub in SUBRESOURCE_KINDS else r.schema
        ops = {
            _SUB_ACTIONS[v]: _operation(r, _SUB_ACTIONS[v], body, sub_gvk, suffix=sub.capitalize())
            for v in SUBRESOURCE_VERBS.get(sub, ())
        }
        paths[f"{scope}/{r.plural}/{{name}}/{sub}"] = {**ops, "parameters": named}
    return paths


def _param_to_v2(p: Doc) -> Doc:
    out = {k: v for k, v in p.items() if k != "schema"}
    out.update(p.get("schema", {}))
    return out


def _path_item_to_v2(item: Doc) -> Doc:
    """A Swagger 2.0 path item from an OpenAPI 3.0 one (parameters flattened, body as a parameter)."""
    out: Doc = {}
    for key, op in item.items():
        if key == "parameters":
            out[key] = [_param_to_v2(p) for p in op]
            continue
        new = {k: v for k, v in op.items() if k not in ("parameters", "requestBody", "responses")}
        params = [_param_to_v2(p) for p in op.get("parameters", [])]
        body = op.get("requestBody")
        if body:
            types = list(body["content"])
            params.append(
                {
                    "name": "body",
                    "in": "body",
                    "required": body.get("required", False),
                    "schema": body["content"][types[0]]["schema"],
                }
            )
            new["consumes"] = types
        if params:
            new["parameters"] = params
        produces: list[str] = []
        responses: Doc = {}
        for code, resp in op["responses"].items():
            responses[code] = {"description": resp["description"]}
            content = resp.get("content", {})
            if content:
                responses[code]["schema"] = next(iter(content.values()))["schema"]
                produces.extend(t for t in content if t not in produces)
        new["produces"] = produces or ["application/json"]
        new["schemes"] = ["https"]
        new["responses"] = responses
        out[key] = new
    return out


def _root_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


@functools.cache
def _v3_document(group: str, version: str) -> Doc | None:
    served = in_group_version(group, version)
    if not served:
        return None
    schemas = _all_schemas()
    roots = {_META + "Status", _META + "DeleteOptions", _META + "Patch", _META + "ListMeta"}
    paths: Doc = {}
    for r in served:
        roots.update({r.schema, _list_name(r)})
        roots.update(SUBRESOURCE_KINDS[s][3] for s in r.subresources if s in SUBRESOURCE_KINDS)
        paths.update(_resource_paths(r))
    names = _reachable(roots, schemas)
    return {
        "openapi": "3.0.0",
        "info": {"title": "kubeq", "version": kubernetes_version()},
        "paths": paths,
        "components": {
            "schemas": {n: _described(n, schemas[n]) for n in names},
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "name": "authorization",
                    "in": "header",
                    "description": "Bearer token authentication",
                }
            },
        },
    }


def openapi_v3(group: str, version: str) -> Doc | None:
    """The OpenAPI 3.0 document of one group-version (``""`` for core), or None if not served."""
    return _v3_document(group, version)


def document_hash(doc: Doc) -> str:
    """A stable content hash of a document (upper-case SHA-512 hex of its canonical JSON)."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(canonical).hexdigest().upper()


@functools.cache
def openapi_v3_index() -> Doc:
    """The ``/openapi/v3`` discovery document: each group-version's URL with its content hash."""
    paths: Doc = {}
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) in seen:
            continue
        seen.append((r.group, r.version))
        root = _root_path(r.group, r.version)
        digest = document_hash(_v3_document(r.group, r.version) or {})
        paths[root] = {"serverRelativeURL": f"/openapi/v3/{root}?hash={digest}"}
    return {"paths": paths}


def _to_v2(node: Any) -> Any:
    """A copy of a schema tree with ``#/components/schemas/`` refs rewritten to ``#/definitions/``."""
    if isinstance(node, dict):
        out = {k: _to_v2(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF3):
            out["$ref"] = _REF2 + ref[len(_REF3) :]
        return out
    if isinstance(node, list):
        return [_to_v2(v) for v in node]
    return node


@functools.cache
def openapi_v2() -> Doc:
    """The Swagger 2.0 document of every served group-version, merged."""
    definitions_v2: Doc = {}
    paths: Doc = {}
    for group, version in dict.fromkeys((r.group, r.version) for r in RESOURCES):
        doc = _v3_document(group, version) or {}
        definitions_v2.update(_to_v2(doc["components"]["schemas"]))
        for path, item in doc["paths"].items():
            paths[path] = _path_item_to_v2(_to_v2(item))
    return {
        "swagger": "2.0",
        "info": {"title": "kubeq", "version": kubernetes_version()},
        "paths": paths,
        "definitions": definitions_v2,
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "name": "authorization",
                "in": "header",
                "description": "Bearer token authentication",
            }
        },
        "security": [{"BearerToken": []}],
    }
