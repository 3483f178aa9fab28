"""ServiceAccount tokens for projected volumes: requested through the TokenRequest API, cached per
pod, renewed once 80% of their lifetime has passed.

``ServiceAccountTokens`` lives once per kubelet process (in the worker's caches). ``token(client,
pod, source)`` returns the token bytes a ``serviceAccountToken`` projection should hold: the cached
one while it is fresh, else a new one from ``POST .../serviceaccounts/<sa>/token`` bound to the pod
(``boundObjectRef`` kind Pod, name, uid). ``refresh_due(pod)`` is when the earliest of the pod's
tokens should be renewed, so the kubelet can come back then. A failed request raises
``ConfigError`` (the volume is not ready yet), except on a lenient (insecure, development) cluster
where the file is written empty instead.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.settings import Settings
from tasks.kubelet.fields import ConfigError

Obj = dict[str, Any]
SERVICEACCOUNTS = lookup("", "v1", "serviceaccounts")
REFRESH_FRACTION = 0.8  # renew after this share of the lifetime (Kubernetes' kubelet does the same)
DEFAULT_EXPIRATION = 3600  # seconds, when a projection names none
EMPTY_RETRY = 60.0  # seconds a lenient node keeps an empty token before asking again
log = logging.getLogger("kubeq.kubelet.satoken")


@dataclass(frozen=True)
class Token:
    """One issued token and its lifetime (epoch seconds)."""

    token: str
    issued_at: float
    expires_at: float

    @property
    def refresh_at(self) -> float:
        return self.issued_at + REFRESH_FRACTION * (self.expires_at - self.issued_at)


def token_request(pod: Obj, source: Obj) -> Obj:
    """The TokenRequest body for a pod's ``serviceAccountToken`` projection ``source``."""
    md = pod["metadata"]
    spec: Obj = {
        "audiences": [source["audience"]] if source.get("audience") else [],
        "expirationSeconds": int(source.get("expirationSeconds") or DEFAULT_EXPIRATION),
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": md["name"], "uid": md["uid"]},
    }
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def request_token(client: Any, pod: Obj, source: Obj, now: float | None = None) -> Token:
    """A new token for the pod's ServiceAccount from the API server; the domain error on failure."""
    assert SERVICEACCOUNTS is not None
    md, spec = pod["metadata"], pod.get("spec") or {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    path = client.path(SERVICEACCOUNTS, md.get("namespace", "default"), account, "token")
    issued = time.time() if now is None else now
    reply = client.request("POST", path, token_request(pod, source))
    status = reply.get("status") or {}
    if not status.get("token"):
        raise errors.InternalError(f"the token request for {account} returned no token")
    stamp = status.get("expirationTimestamp")
    expires = _epoch(stamp) if stamp else issued + int(source.get("expirationSeconds") or DEFAULT_EXPIRATION)
    return Token(status["token"], issued, expires)


def lenient(client: Any) -> bool:
    """Whether the cluster is an insecure development one (``--insecure`` or a plain-HTTP server)."""
    return Settings.from_env().insecure or getattr(client, "scheme", "") == "http"


class ServiceAccountTokens:
    """The kubelet's tokens by pod uid and projection (see the module doc). Thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, int], Token] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(pod: Obj, source: Obj) -> tuple[str, str, str, int]:
        spec = pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        expiration = int(source.get("expirationSeconds") or DEFAULT_EXPIRATION)
        return (pod["metadata"]["uid"], account, source.get("audience") or "", expiration)

    def token(
        self, client: Any, pod: Obj, source: Obj, now: float | None = None, empty_on_failure: bool = False
    ) -> bytes:
        """The token file's content for ``source``: cached while fresh, else newly requested.

        When no token can be had: ``ConfigError``, or b"" with ``empty_on_failure`` (see ``lenient``).
        """
        at = time.time() if now is None else now
        key = self._key(pod, source)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and at < cached.refresh_at:
            return cached.token.encode()
        try:
            fresh = request_token(client, pod, source, at)
        except (errors.StatusError, OSError) as exc:
            if cached is not None and at < cached.expires_at:
                log.warning("renewing the token of pod %s failed (old one kept): %s", key[0], exc)
                return cached.token.encode()
            if empty_on_failure:  # remembered for a minute, so each sync does not ask again
                with self._lock:
                    self._tokens[key] = Token("", at, at + EMPTY_RETRY / REFRESH_FRACTION)
                return b""
            raise ConfigError(f'failed to fetch token: serviceaccounts "{key[1]}": {exc}') from exc
        with self._lock:
            self._tokens[key] = fresh
        return fresh.token.encode()

    def refresh_due(self, uid: str) -> float | None:
        """The epoch second when the earliest token of pod ``uid`` should be renewed (None: no tokens)."""
        with self._lock:
            due = [t.refresh_at for k, t in self._tokens.items() if k[0] == uid]
        return min(due) if due else None

    def forget(self, uid: str) -> None:
        """Drop the tokens of pod ``uid`` (it is gone from this node)."""
        with self._lock:
            for key in [k for k in self._tokens if k[0] == uid]:
                del self._tokens[key]
