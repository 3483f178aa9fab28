"""The client every kubeq component uses: keep-alive HTTP, paged lists, watches that re-list on 410."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from cluster import errors, jsoncodec
from cluster import kubeconfig as kubeconfigs
from cluster.api.resources import Resource, by_kind
from cluster.client.tls import ssl_context
from cluster.settings import Settings

Obj = dict[str, Any]
_BY_CODE: dict[int, type[errors.StatusError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    409: errors.Conflict,
    410: errors.Gone,
    413: errors.TooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.Invalid,
    429: errors.TooManyRequests,
    503: errors.ServiceUnavailable,
}
PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def error_from_status(code: int, status: Obj) -> errors.StatusError:
    """The domain error a ``Status`` reply stands for."""
    cls = _BY_CODE.get(code, errors.InternalError)
    if code == 409 and status.get("reason") == "AlreadyExists":
        cls = errors.AlreadyExists
    details = status.get("details") or {}
    causes = [
        errors.Cause(c.get("reason", ""), c.get("message", ""), c.get("field", ""))
        for c in details.get("causes") or []
    ]
    return cls(
        status.get("message", f"HTTP {code}"),
        name=details.get("name", ""),
        group=details.get("group", ""),
        kind=details.get("kind", ""),
        causes=causes,
    )


class Client:
    """A Kubernetes API client over one keep-alive connection per thread."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        timeout: float = 30.0,
        user_agent: str = "kubeq",
        *,
        ca_pem: bytes | None = None,
        cert_pem: bytes | None = None,
        key_pem: bytes | None = None,
        verify: bool = True,
    ) -> None:
        """``https`` servers are verified against ``ca_pem`` (else the system CAs); ``cert_pem``/``key_pem``
        are a client certificate presented in the handshake; ``token`` is sent as a bearer token."""
        url = urllib.parse.urlsplit(server)
        self.server = server
        self.scheme, self.host, self.port = url.scheme, url.hostname or "127.0.0.1", url.port
        self.token, self.timeout, self.user_agent = token, timeout, user_agent
        self.ssl: ssl.SSLContext | None = None
        if self.scheme == "https":
            self.ssl = ssl_context(ca_pem, cert_pem, key_pem, verify)
        self._local = threading.local()

    @classmethod
    def from_kubeconfig(cls, path: str, user_agent: str = "kubeq", timeout: float = 30.0) -> Client:
        """A client for the current context of a kubeconfig file (server, CA, token or client cert)."""
        kc = kubeconfigs.read(path)
        return cls(
            kc.server,
            token=kc.token,
            timeout=timeout,
            user_agent=user_agent,
            ca_pem=kc.ca_pem,
            cert_pem=kc.cert_pem,
            key_pem=kc.key_pem,
            verify=not kc.insecure_skip_tls_verify,
        )

    def _new_connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.ssl is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    # ---- HTTP ----------------------------------------------------------------------------
    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = self._new_connection(self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, Any] | None = None,
    ) -> Obj:
        """One request; the decoded reply, or the domain error its ``Status`` names."""
        status, raw = self._exchange(method, self._with_query(path, query), body, content_type)
        return self._decoded(status, raw)

    @staticmethod
    def _with_query(path: str, query: dict[str, Any] | None) -> str:
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        return path

    @staticmethod
    def _decoded(status: int, raw: bytes) -> Obj:
        reply = jsoncodec.loads(raw) if raw else {}
        if status >= 400:
            raise error_from_status(status, reply)
        return reply

    def _exchange(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """Send one request on this thread's connection and read its whole reply: (status, body).
        A connection the server closed while idle is replaced once."""
        data = None if body is None else jsoncodec.dumpb(body)
        for attempt in (0, 1):
            conn = self._connection(fresh=attempt == 1)
            try:
                conn.request(method, path, body=data, headers=self._headers(content_type if data else None))
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (
                http.client.RemoteDisconnected,
                http.client.CannotSendRequest,
                ConnectionResetError,
                BrokenPipeError,
            ):
                if attempt == 1:
                    self._drop_connection()
                    raise
            except BaseException:  # a timeout or worse mid-request: this connection is unusable now
                self._drop_connection()
                raise
        raise AssertionError("unreachable")

    # ---- paths ---------------------------------------------------------------------------
    @staticmethod
    def path(resource: Resource, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
        base = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
        if resource.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{resource.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base

    @staticmethod
    def resource_of(obj: Obj) -> Resource:
        resource = by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if resource is None:
            raise errors.NotFound(f"no resource serves {obj.get('apiVersion')} {obj.get('kind')}")
        return resource

    # ---- verbs ---------------------------------------------------------------------------
    def get(self, resource: Resource, name: str, namespace: str | None = None, subresource: str = "") -> Obj:
        return self.request("GET", self.path(resource, namespace, name, subresource))

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        page_size: int = 500,
    ) -> Obj:
        """All objects (every page, one revision), as a ``<Kind>List``."""
        items: list[Obj] = []
        result: Obj = {}
        for result in self.list_pages(
            resource,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            page_size=page_size,
        ):
            items.extend(result.get("items", []))
        result["items"] = items
        result["metadata"].pop("continue", None)
        result["metadata"].pop("remainingItemCount", None)
        return result

    def list_pages(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        page_size: int = 500,
    ) -> Iterator[Obj]:
        """Each page of a paged LIST in turn (one revision), decoded.

        From the second page on, the request for the next page goes out, on a connection of the
        list's own, before this page is decoded: the continue token is read from the head of the
        body, where Kubernetes writes the list's metadata. The server builds page N+1 while this
        thread decodes page N.
        """
        query: dict[str, Any] = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": page_size,
        }
        base = self.path(resource, namespace)
        status, raw = self._exchange("GET", self._with_query(base, query))
        ahead: http.client.HTTPConnection | None = None
        try:
            while True:
                token = continue_token(raw) if status == 200 else ""
                if token:
                    query["continue"] = token
                    ahead = self._send_ahead(ahead, self._with_query(base, query))
                sent = ahead if token else None
                page = self._decoded(status, raw)
                yield page
                if not token:  # none at the head: the decoded metadata has the last word
                    token = page.get("metadata", {}).get("continue") or ""
                    if not token:
                        return
                    query["continue"] = token
                reply = self._read_ahead(sent) if sent is not None else None
                if reply is None:  # not sent ahead, or its connection failed: ask the plain way
                    ahead = ahead if sent is None else None
                    reply = self._exchange("GET", self._with_query(base, query))
                status, raw = reply
        finally:
            if ahead is not None:
                ahead.close()

    def _send_ahead(
        self, conn: http.client.HTTPConnection | None, path: str
    ) -> http.client.HTTPConnection | None:
        """Send a GET without reading its reply, on ``conn`` or a new connection; None if it failed."""
        conn = conn or self._new_connection(self.timeout)
        try:
            conn.request("GET", path, headers=self._headers())
        except (OSError, http.client.HTTPException):
            conn.close()
            return None
        return conn

    @staticmethod
    def _read_ahead(conn: http.client.HTTPConnection) -> tuple[int, bytes] | None:
        """The reply to the GET sent ahead on ``conn``; None (and ``conn`` closed) if it failed."""
        try:
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            return None

    def create(self, obj: Obj, namespace: str | None = None, **query: Any) -> Obj:
        resource = self.resource_of(obj)
        ns = (
            namespace
            or obj.get("metadata", {}).get("namespace")
            or ("default" if resource.namespaced else None)
        )
        return self.request("POST", self.path(resource, ns), obj, query=query)

    def update(self, obj: Obj, subresource: str = "", **query: Any) -> Obj:
        resource = self.resource_of(obj)
        md = obj["metadata"]
        return self.request(
            "PUT", self.path(resource, md.get("namespace"), md["name"], subresource), obj, query=query
        )

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        patch_type: str = "merge",
        subresource: str = "",
        **query: Any,
    ) -> Obj:
        return self.request(
            "PATCH",
            self.path(resource, namespace, name, subresource),
            patch,
            PATCH_TYPES[patch_type],
            query=query,
        )

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        preconditions: Obj | None = None,
        **query: Any,
    ) -> Obj:
        """DELETE the object; ``preconditions`` ({"uid": ..} / {"resourceVersion": ..}) guard it (409)."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if preconditions:
            body["preconditions"] = preconditions
        return self.request("DELETE", self.path(resource, namespace, name), body, query=query)

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int = 0,
        bookmarks: bool = False,
    ) -> Iterator[Obj]:
        """Watch events (``{"type", "object"}``) on a connection of its own; ``Gone`` on 410."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds or None,
            "allowWatchBookmarks": "true" if bookmarks else None,
        }
        path = (
            self.path(resource, namespace)
            + "?"
            + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        )
        conn = self._new_connection(None)
        try:
            conn.request("GET", path, headers=self._headers())
            resp = conn.getresponse()
            if resp.status >= 400:
                raise error_from_status(resp.status, json.loads(resp.read() or b"{}"))
            for line in resp:
                if not line.strip():
                    continue
                event = jsoncodec.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise error_from_status(int(status.get("code", 500)), status)
                yield event
        finally:
            conn.close()

    def list_and_watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        synced_marker: bool = False,
    ) -> Iterator[Obj]:
        """Like an informer: synthetic ADDED events for a list, then changes; re-lists after a 410.

        After a re-list, objects gone meanwhile are reported as DELETED and the rest as MODIFIED
        (or ADDED when new), so a consumer's cache converges. With ``synced_marker``, a
        ``{"type": "SYNCED"}`` event carrying the list's resourceVersion follows each (re)list.
        """
        known: dict[str, Obj] = {}
        while True:
            listing = self.list(
                resource, namespace, label_selector=label_selector, field_selector=field_selector
            )
            seen = {}
            for item in listing["items"]:
                key = item["metadata"].get("uid", "")
                seen[key] = item
                yield {"type": "MODIFIED" if key in known else "ADDED", "object": item}
            for key, obj in known.items():
                if key not in seen:
                    yield {"type": "DELETED", "object": obj}
            known = seen
            rv = listing["metadata"]["resourceVersion"]
            if synced_marker:
                yield {"type": "SYNCED", "object": {"metadata": {"resourceVersion": rv}}}
            try:
                for event in self.watch(
                    resource,
                    namespace,
                    resource_version=rv,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    bookmarks=True,
                ):
                    if event["type"] == "BOOKMARK":
                        continue
                    uid = event["object"]["metadata"].get("uid", "")
                    if event["type"] == "DELETED":
                        known.pop(uid, None)
                    else:
                        known[uid] = event["object"]
                    yield event
            except errors.Gone:
                continue


_LIST_HEAD = re.compile(rb'^\s*\{.*?"metadata"\s*:\s*(\{[^{}]*\})', re.S)


def continue_token(body: bytes) -> str:
    """The ``continue`` token of a JSON list reply, read from the list metadata at the body's head
    without decoding the items ("" when there is none, or when the body does not start that way)."""
    head = _LIST_HEAD.match(body[:4096])
    if head is None or b'"items"' in body[: head.start(1)]:
        return ""
    try:
        meta = jsoncodec.loads(head.group(1))
    except ValueError:
        return ""
    token = meta.get("continue") if isinstance(meta, dict) else None
    return token if isinstance(token, str) else ""


def client_for(settings: Settings, user_agent: str = "kubeq", timeout: float = 30.0) -> Client:
    """The client a component uses: ``settings.kubeconfig`` when set, else ``settings.api_server``."""
    if settings.kubeconfig:
        return Client.from_kubeconfig(settings.kubeconfig, user_agent=user_agent, timeout=timeout)
    return Client(settings.api_server, timeout=timeout, user_agent=user_agent)
