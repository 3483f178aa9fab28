"""``pods/{name}/log`` and ``pods/{name}/exec``: checked here, answered by the pod's node.

The node serves kubelet's paths (``workers/node/server.py``) on its InternalIP at
``status.daemonEndpoints.kubeletEndpoint.Port``. Logs stream back as chunked ``text/plain``, one
chunk per read so ``follow`` shows lines as they come. Exec runs the command to its end on the node
(non-interactive: no stdin, no tty) and replies over a WebSocket (subprotocol ``v5.channel.k8s.io``
or ``v4.channel.k8s.io``): stdout frames on channel 1, stderr on 2, then the outcome as a ``Status``
on channel 3 (``NonZeroExitCode`` with an ``ExitCode`` cause), then a close. The WebSocket needs the
raw client socket (gunicorn's ``environ["gunicorn.socket"]``); once done, ``StopIteration`` tells
gunicorn's worker the connection was handled and is to be closed.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from cluster import errors
from cluster.api.resources import lookup
from cluster.apiserver import wsframes
from cluster.registry import Registry

Obj = dict[str, Any]
StartResponse = Callable[..., Any]
_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/(log|exec)/?$")
_LOG_OPTIONS = ("tailLines", "follow", "previous", "timestamps", "sinceSeconds", "sinceTime", "limitBytes")
_TRUE = {"1", "t", "T", "true", "True", "TRUE"}
_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def match(method: str, path: str) -> tuple[str, str, str] | None:
    """``(namespace, pod, "log"|"exec")`` when the request is one this module answers."""
    found = _PATH.match(path)
    if found is None or (found.group(3) == "log" and method not in ("GET", "HEAD")):
        return None
    if found.group(3) == "exec" and method not in ("GET", "POST"):
        return None
    return found.group(1), found.group(2), found.group(3)


def serve(
    registry: Registry, environ: dict[str, Any], start_response: StartResponse, target: tuple[str, str, str]
) -> Iterable[bytes]:
    """Answer a log or exec request (errors as ``Status`` JSON)."""
    namespace, name, what = target
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    try:
        if what == "log":
            return _logs(registry, namespace, name, query, start_response)
        return _exec(registry, namespace, name, query, environ, start_response)
    except errors.StatusError as exc:
        return _status_reply(start_response, exc.code, exc.to_status())
    except StopIteration:
        raise
    except Exception as exc:  # a bug: a Status, never a bare 500 page
        err = errors.InternalError(f"an internal error occurred: {type(exc).__name__}: {exc}")
        return _status_reply(start_response, err.code, err.to_status())


def _status_reply(start_response: StartResponse, code: int, status: Obj) -> list[bytes]:
    body = json.dumps(status).encode()
    start_response(
        f"{code} {http.client.responses.get(code, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _first(query: dict[str, list[str]], key: str) -> str:
    return query.get(key, [""])[0]


# --- which container, which node ----------------------------------------------------------------


def pick_container(pod: Obj, container: str) -> str:
    """The container a request names, or the pod's only one; ``BadRequest`` in Kubernetes' words."""
    spec, name = pod.get("spec") or {}, pod["metadata"]["name"]
    names = [
        c["name"]
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
    ]
    if not container:
        main = spec.get("containers") or []
        if len(main) == 1:
            return str(main[0]["name"])
        if not main:
            raise errors.BadRequest(f"a container name must be specified for pod {name}")
        raise errors.BadRequest(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
    if container not in names:
        raise errors.BadRequest(f"container {container} is not valid for pod {name}")
    return container


def check_log_status(pod: Obj, container: str, previous: bool) -> None:
    """``BadRequest`` when the container has no logs to give yet (the kubelet's messages)."""
    status, name = pod.get("status") or {}, pod["metadata"]["name"]
    statuses = [
        s
        for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses")
        for s in status.get(key) or []
        if s.get("name") == container
    ]
    found = statuses[0] if statuses else {"state": {"waiting": {"reason": "ContainerCreating"}}}
    state, last = found.get("state") or {}, found.get("lastState") or {}
    if previous:
        if last.get("terminated") is None:
            raise errors.BadRequest(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    if any(x is not None for x in (state.get("running"), state.get("terminated"), last.get("terminated"))):
        return
    reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
    if reason == "ErrImagePull":
        reason = "image can't be pulled"
    elif reason == "ImagePullBackOff":
        reason = "trying and failing to pull image"
    raise errors.BadRequest(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def node_endpoint(registry: Registry, node_name: str) -> tuple[str, int]:
    """The node's address (InternalIP first) and kubelet port."""
    resource = lookup("", "v1", "nodes")
    assert resource is not None
    node = registry.get(resource, None, node_name)
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname") or addresses.get("ExternalIP")
    if not host:
        raise errors.InternalError(f"node {node_name} has no address")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 10250
    return str(host), int(port)


def _get_pod(registry: Registry, namespace: str, name: str) -> Obj:
    resource = lookup("", "v1", "pods")
    assert resource is not None
    return registry.get(resource, namespace, name)


def _call_node(
    host: str, port: int, method: str, path: str, timeout: float | None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path)
        return conn, conn.getresponse()
    except OSError as exc:
        conn.close()
        raise errors.InternalError(f'{method} "http://{host}:{port}{path}": {exc}') from None


def _node_error(response: http.client.HTTPResponse) -> errors.StatusError:
    """The node's ``Status`` reply as the error to pass on."""
    body = response.read()
    try:
        status = json.loads(body)
        message, reason = str(status.get("message", "")), str(status.get("reason", ""))
    except ValueError:
        message, reason = body.decode("utf-8", "replace"), ""
    cls = {"BadRequest": errors.BadRequest, "NotFound": errors.NotFound}.get(reason, errors.InternalError)
    return cls(message)


# --- logs ---------------------------------------------------------------------------------------


def validate_log_options(name: str, query: dict[str, list[str]]) -> None:
    """``Invalid`` (PodLogOptions) for negative tails, non-positive limits, two kinds of since."""
    causes: list[errors.Cause] = []

    def number(key: str) -> int | None:
        value = _first(query, key)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise errors.BadRequest(f'invalid value for "{key}": "{value}" is not an integer') from None

    tail, limit, since = number("tailLines"), number("limitBytes"), number("sinceSeconds")
    if tail is not None and tail < 0:
        causes.append(
            errors.Cause(
                "FieldValueInvalid", f"Invalid value: {tail}: must be greater than or equal to 0", "tailLines"
            )
        )
    if limit is not None and limit < 1:
        causes.append(
            errors.Cause("FieldValueInvalid", f"Invalid value: {limit}: must be greater than 0", "limitBytes")
        )
    if since is not None and _first(query, "sinceTime"):
        causes.append(
            errors.Cause(
                "FieldValueForbidden",
                "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
            )
        )
    elif since is not None and since < 1:
        causes.append(
            errors.Cause(
                "FieldValueInvalid", f"Invalid value: {since}: must be greater than 0", "sinceSeconds"
            )
        )
    if causes:
        raise errors.invalid("PodLogOptions", "", name, causes)


def _logs(
    registry: Registry, namespace: str, name: str, query: dict[str, list[str]], start_response: StartResponse
) -> Iterable[bytes]:
    validate_log_options(name, query)
    pod = _get_pod(registry, namespace, name)
    container = pick_container(pod, _first(query, "container"))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:  # not scheduled: nothing to read (Kubernetes answers an empty stream)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]
    check_log_status(pod, container, _first(query, "previous") in _TRUE)
    host, port = node_endpoint(registry, node_name)
    params = {k: _first(query, k) for k in _LOG_OPTIONS if _first(query, k)}
    path = f"/containerLogs/{quote(namespace)}/{quote(name)}/{quote(container)}?{urlencode(params)}"
    follow = params.get("follow") in _TRUE
    conn, response = _call_node(host, port, "GET", path, None if follow else 60)
    if response.status != 200:
        conn.close()
        raise _node_error(response)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "no-cache")])
    return _relay(conn, response)


def _relay(conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The node's body, chunk by chunk as it arrives; closing this closes the node's stream."""
    try:
        while chunk := response.read1(65536):
            yield chunk
    except OSError:
        return
    finally:
        conn.close()


# --- exec ---------------------------------------------------------------------------------------


def _exec(
    registry: Registry,
    namespace: str,
    name: str,
    query: dict[str, list[str]],
    environ: dict[str, Any],
    start_response: StartResponse,
) -> Iterable[bytes]:
    pod = _get_pod(registry, namespace, name)
    container = pick_container(pod, _first(query, "container"))
    command = query.get("command") or []
    if not command:
        raise errors.BadRequest("you must specify at least one command for the container")
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {name} does not have a host assigned")
    host, port = node_endpoint(registry, node_name)
    if (environ.get("HTTP_UPGRADE") or "").lower() != "websocket":
        raise errors.BadRequest("Upgrade request required")
    sock = environ.get("gunicorn.socket")
    offered = [p.strip() for p in (environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL") or "").split(",")]
    protocol = next((p for p in _PROTOCOLS if p in offered), None)
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY") or ""
    if sock is None or protocol is None or not key:
        raise errors.BadRequest(f"websocket exec needs one of the subprotocols {', '.join(_PROTOCOLS)}")
    sock.sendall(wsframes.handshake(key, protocol))
    session = wsframes.Session(sock)
    try:
        params = urlencode([("command", c) for c in command])
        path = f"/exec/{quote(namespace)}/{quote(name)}/{quote(container)}?{params}"
        try:
            status = _run_on_node(session, host, port, path, query)
        except OSError:
            raise
        except Exception as exc:  # a bug: tell the client on the error channel
            status = errors.InternalError(
                f"an internal error occurred: {type(exc).__name__}: {exc}"
            ).to_status()
        session.send(bytes([3]) + json.dumps(status).encode())
        session.close()
    except OSError:
        pass  # the client went away
    raise StopIteration  # gunicorn: the connection is handled; close it


def _run_on_node(
    session: wsframes.Session, host: str, port: int, path: str, query: dict[str, list[str]]
) -> Obj:
    """Run the command on the node, send its output frames; the ``Status`` to send on channel 3."""
    try:
        conn, response = _call_node(host, port, "POST", path, None)
        try:
            if response.status != 200:
                raise _node_error(response)
            result = json.loads(response.read())
        finally:
            conn.close()
    except errors.StatusError as exc:
        return exc.to_status()
    for channel, key in ((1, "stdout"), (2, "stderr")):
        data = base64.b64decode(result.get(key) or "")
        if _first(query, key) in _TRUE:
            for start in range(0, len(data), 32768):
                session.send(bytes([channel]) + data[start : start + 32768])
    code = int(result.get("exitCode", 0))
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }
