"""The WSGI application: authentication and authorization, routing, errors as ``Status``, audit, metrics,
non-resource endpoints."""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cluster import errors
from cluster.api import openapi
from cluster.apiserver import (
    audit,
    codecs,
    discovery,
    metrics,
    nodeproxy,
    phases,
    tokens,  # noqa: F401  (registers serviceaccounts/token and the token reviews)
)
from cluster.apiserver.auth import INSECURE, Attributes, UserInfo
from cluster.apiserver.authn.attributes import request_attributes
from cluster.apiserver.authz import reviews  # noqa: F401  (registers the access reviews)
from cluster.apiserver.handlers import VERBS, Reply, Request
from cluster.apiserver.requests import parse_resource_path
from cluster.apiserver.security import Security
from cluster.registry import Registry
from cluster.store import UNAVAILABLE

log = logging.getLogger("kubeq.apiserver")
StartResponse = Callable[..., Any]
_TEXT = "text/plain; charset=utf-8"


class APIServer:
    """A Kubernetes API server over a :class:`Registry` (a WSGI callable).

    Every request goes: authenticate -> impersonate -> authorize -> the verb's handler -> audit.
    Without ``security`` (or with an insecure one) every request runs as ``INSECURE``, unchecked.
    """

    def __init__(self, registry: Registry, heartbeat: float = 1.0, security: Security | None = None) -> None:
        self.registry = registry
        self.heartbeat = heartbeat
        self.security = security or Security(insecure=True)
        self.security.attach(registry)
        phases.instrument(registry)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.security.insecure and self.security.audit is None:  # development: nothing to check
            return self._serve(environ, start_response, INSECURE, time.perf_counter())
        return self._checked(environ, start_response)

    def _checked(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Authenticate, impersonate, authorize, serve, then audit a write."""
        started = time.perf_counter()
        received = datetime.now(UTC)
        sec = self.security
        target = request_attributes(environ)
        user: UserInfo | None = None
        impersonated: UserInfo | None = None
        codes: list[int] = []

        def recording(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            codes.append(int(status[:3]))
            return start_response(status, headers, *exc_info)

        try:
            user = sec.authenticate(environ)
            impersonated = sec.impersonate(environ, user)
            effective = impersonated or user
            if not sec.insecure:
                sec.authorize(replace(target, user=effective))
        except Exception as exc:  # 401, 403, 400; anything else (Redis down) as a 500 Status
            if not isinstance(exc, errors.StatusError):
                exc = _unexpected(exc, "authentication failed on " + environ.get("PATH_INFO", "/"))
            body = codecs.encode_json(exc.to_status())
            result: Iterable[bytes] = self._respond(
                recording,
                exc.code,
                body,
                codecs.JSON,
                [],
                started,
                target.verb,
                target.resource,
                target.subresource or "",
            )
        else:
            try:
                result = self._serve(environ, recording, effective, started)
            except StopIteration:  # a WebSocket ran to its end on the raw socket
                self._audit(environ, target, user, impersonated, 101, received)
                raise
        self._audit(environ, target, user, impersonated, codes[0] if codes else 200, received)
        return result

    def _audit(
        self,
        environ: dict[str, Any],
        target: Attributes,
        user: UserInfo | None,
        impersonated: UserInfo | None,
        code: int,
        received: datetime,
    ) -> None:
        sink = self.security.audit
        a = target
        if sink is None or a.verb not in audit.MUTATING or not a.resource_request:
            return
        ref = audit.ObjectRef(a.resource, a.namespace, a.name, a.api_group, a.api_version, a.subresource)
        sink.write(sink.event(environ, a.verb, user, impersonated, ref, code, received))

    def _serve(
        self, environ: dict[str, Any], start_response: StartResponse, user: UserInfo, started: float
    ) -> Iterable[bytes]:
        """The request's answer, run as ``user`` (who has been authorized already)."""
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        verb, resource, sub = method.lower(), "", ""
        handled = 0.0  # when the verb's handler started (phase timing)
        proxied = nodeproxy.match(method, path)
        if proxied is not None:  # pods/{name}/log and /exec: answered by the pod's node
            return nodeproxy.serve(self.registry, environ, start_response, proxied)
        try:
            info = parse_resource_path(method, path, environ.get("QUERY_STRING", ""))
            if info is None:
                content_type, body = self._non_resource(method, path, environ)
                return self._respond(start_response, 200, body, content_type, [], started, verb, resource)
            verb, resource, sub = info.verb, info.resource.plural, info.subresource or ""
            if verb not in info.resource.verbs and not info.subresource:
                raise errors.MethodNotAllowed(f"{verb} is not supported on {info.resource.qualified}")
            request = Request(
                info,
                self.registry,
                environ.get("HTTP_ACCEPT", ""),
                environ.get("CONTENT_TYPE"),
                environ.get("HTTP_USER_AGENT", ""),
                lambda: codecs.read_body(environ),
                self.heartbeat,
                user,
            )
            phases.begin()
            handled = time.perf_counter()
            reply = VERBS[verb](request)
        except errors.StatusError as exc:
            reply = Reply(exc.code, exc.to_status())
        except Exception as exc:  # a bug (or Redis down): report it as a Status, never a bare 500 page
            err = _unexpected(exc, f"internal error on {method} {path}")
            reply = Reply(err.code, err.to_status())
        if reply.stream is not None:
            metrics.observe(verb, resource, reply.code, time.perf_counter() - started, sub)
            start_response("200 OK", [("Content-Type", codecs.JSON), ("Cache-Control", "no-cache")])
            return reply.stream
        accept = environ.get("HTTP_ACCEPT", "")
        encoding = time.perf_counter()
        if codecs.wants_yaml(accept):
            body, content_type = codecs.encode_yaml(reply.body), codecs.YAML
        else:
            body, content_type = codecs.encode_json(reply.body), codecs.JSON
        if handled:
            phases.finish(verb, encoding - handled, time.perf_counter() - encoding)
        return self._respond(
            start_response, reply.code, body, content_type, reply.warnings, started, verb, resource, sub
        )

    @staticmethod
    def _respond(
        start_response: StartResponse,
        code: int,
        body: bytes,
        content_type: str,
        warnings: list[str],
        started: float,
        verb: str,
        resource: str,
        subresource: str = "",
    ) -> list[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        headers += [("Warning", '299 - "' + _header_text(w) + '"') for w in warnings]
        start_response(f"{code} {_REASONS.get(code, 'Unknown')}", headers)
        metrics.observe(verb, resource, code, time.perf_counter() - started, subresource)
        return [body]

    def _non_resource(self, method: str, path: str, environ: dict[str, Any]) -> tuple[str, bytes]:
        """Discovery, version, health, OpenAPI and metrics. ``NotFound``/``MethodNotAllowed`` otherwise."""
        if method not in ("GET", "HEAD"):
            if _route(path, environ.get("HTTP_ACCEPT", "")) is not None or path in _HEALTH:
                raise errors.MethodNotAllowed(f"the server does not allow this method on {path}")
            raise errors.NotFound("the server could not find the requested resource")
        if path in _HEALTH:
            self.registry.store.current_revision()  # Redis must answer
            return _TEXT, b"ok"
        if path == "/metrics":
            return metrics.CONTENT_TYPE, metrics.render()
        accept = environ.get("HTTP_ACCEPT", "")
        routed = _route(path.rstrip("/") or "/", accept)
        if routed is None:
            raise errors.NotFound("the server could not find the requested resource")
        content_type, doc = routed
        return content_type, doc


def _unexpected(exc: Exception, context: str) -> errors.StatusError:
    """The Status for an exception that is not a domain error: 503 when the store cannot reach Redis
    (the client may retry), otherwise a logged 500."""
    if isinstance(exc, UNAVAILABLE):
        log.warning("%s: storage unavailable: %s", context, type(exc).__name__)
        return errors.ServiceUnavailable("the storage backend is unavailable; try again")
    log.exception("%s", context)
    return errors.InternalError(f"an internal error occurred: {type(exc).__name__}: {exc}")


_HEALTH = {"/healthz", "/livez", "/readyz"}
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def _header_text(text: str) -> str:
    """``text`` safe inside a quoted header value: quotes escaped, anything but printable ASCII as
    a backslash escape (a header may carry neither control characters nor non-Latin-1 text)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


@functools.lru_cache(maxsize=256)
def _route(path: str, accept: str) -> tuple[str, bytes] | None:
    """Cached documents for non-resource GETs (they depend only on path and Accept)."""
    parts = [p for p in path.split("/") if p]
    aggregated = discovery.wants_aggregated(accept)
    doc: Any = None
    content_type = codecs.JSON
    if path == "/version":
        doc = discovery.version_info()
    elif path == "/api":
        doc = discovery.aggregated_discovery(True) if aggregated else discovery.api_versions()
    elif path == "/apis":
        doc = discovery.aggregated_discovery(False) if aggregated else discovery.api_group_list()
    elif len(parts) == 2 and parts[0] == "api":
        doc = discovery.api_resource_list("", parts[1])
    elif len(parts) == 2 and parts[0] == "apis":
        doc = discovery.api_group(parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        doc = discovery.api_resource_list(parts[1], parts[2])
    elif path == "/openapi/v3":
        doc = openapi.openapi_v3_index()
    elif parts[:3] == ["openapi", "v3", "api"] and len(parts) == 4:
        doc = openapi.openapi_v3("", parts[3])
    elif parts[:3] == ["openapi", "v3", "apis"] and len(parts) == 5:
        doc = openapi.openapi_v3(parts[3], parts[4])
    elif path == "/openapi/v2":
        doc = openapi.openapi_v2()
    if doc is None:
        return None
    if aggregated and path in ("/api", "/apis"):
        content_type = discovery.AGGREGATED_MEDIA_TYPE
    return content_type, codecs.encode_json(doc)


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
