"""Redis connection URLs: plain ``redis://`` / ``rediss://`` / ``unix://``, or Redis Sentinel.

A Sentinel URL names the sentinels and the master group they watch::

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/<master-name>[/<db>][?sentinel_password=P]

The user and password authenticate to the Redis master (``requirepass`` or an ACL user);
``sentinel_password`` authenticates to the sentinels when they have a ``requirepass`` of their own.
A sentinel's port defaults to 26379, the database to 0.

``redis_client(url)`` makes the client the store uses (through Sentinel's ``master_for`` for a
Sentinel URL, so a failover is followed); ``celery_broker(url)`` and ``redbeat_settings(url)`` say
the same place in the words of kombu's ``sentinel://`` transport and of celery-redbeat. Every
function raises ``ValueError`` for a malformed Sentinel URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import redis
from redis.sentinel import Sentinel

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    """The parts of a ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def sentinel_kwargs(self) -> dict[str, Any] | None:
        """Options for the connections to the sentinels themselves (None: no password)."""
        return {"password": self.sentinel_password} if self.sentinel_password else None

    def master_kwargs(self) -> dict[str, Any]:
        """Options for the connections to the master: database and credentials."""
        out: dict[str, Any] = {"db": self.db}
        if self.username:
            out["username"] = self.username
        if self.password:
            out["password"] = self.password
        return out


def is_sentinel_url(url: str) -> bool:
    return url.lower().startswith(SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """The parts of ``url``; ValueError if it is not a well-formed ``redis+sentinel://`` URL."""
    if not is_sentinel_url(url):
        raise ValueError(f"not a {SCHEME}:// URL: {url!r}")
    rest = url[len(SCHEME) + 3 :]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
        if not colon:  # "password@host" alone is not a user: treat a bare token as the password
            username, password = None, unquote(user) or None
    sentinels = tuple(_host_port(part, url) for part in hosts.split(",") if part.strip())
    if not sentinels:
        raise ValueError(f"no sentinel host in {url!r}")
    segments = [unquote(s) for s in path.split("/") if s]
    if not segments or len(segments) > 2:
        raise ValueError(f"expected /<master-name>[/<db>] after the sentinels in {url!r}")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError(f"database must be a number, not {segments[1]!r}, in {url!r}")
        db = int(segments[1])
    params = parse_qs(query)
    unknown = set(params) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} in {url!r}")
    sentinel_password = params.get("sentinel_password", [None])[-1]
    return SentinelURL(sentinels, segments[0], db, username, password, sentinel_password)


def _host_port(part: str, url: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):  # [v6]:port
        host, _, tail = part[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port = part.partition(":")
    if not host:
        raise ValueError(f"empty sentinel host in {url!r}")
    if port and not port.isdigit():
        raise ValueError(f"bad sentinel port {port!r} in {url!r}")
    return host, int(port) if port else DEFAULT_SENTINEL_PORT


def sentinel_for(parsed: SentinelURL, **kwargs: Any) -> Sentinel:
    """A redis-py ``Sentinel`` over the URL's sentinels; ``kwargs`` go to the master connections."""
    return Sentinel(list(parsed.sentinels), sentinel_kwargs=parsed.sentinel_kwargs(), **kwargs)


MAX_CONNECTIONS = int(os.environ.get("KUBEQ_REDIS_MAX_CONNECTIONS", "1000"))  # per client (process)


def redis_client(url: str, **kwargs: Any) -> redis.Redis:
    """A client for ``url``: ``Redis.from_url`` for plain URLs, the current master through
    Sentinel for ``redis+sentinel://`` ones (reconnects to the new master after a failover).
    ``kwargs`` (``decode_responses``, timeouts) apply to the data connections either way."""
    if not is_sentinel_url(url):
        # Callers that share one client over many greenlets or threads (the API server's
        # gevent workers) wait for a free connection instead of failing at redis-py's default 100.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=30, **kwargs
        )
        return redis.Redis(connection_pool=pool)
    parsed = parse_sentinel_url(url)
    master = parsed.master_kwargs()
    db = master.pop("db")
    sentinel = sentinel_for(parsed, **kwargs)
    return sentinel.master_for(parsed.master_name, db=db, **master)


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """``(broker_url, extra broker_transport_options)`` for kombu.

    A Sentinel URL becomes ``sentinel://[user:pw@]h1:p1/db;sentinel://[user:pw@]h2:p2/db`` with
    ``master_name`` (and ``sentinel_kwargs`` for a sentinel password); any other URL is returned
    unchanged with no extra options.
    """
    if not is_sentinel_url(url):
        return url, {}
    parsed = parse_sentinel_url(url)
    auth = ""
    if parsed.username or parsed.password:
        auth = quote(parsed.username or "", safe="") + ":" + quote(parsed.password or "", safe="") + "@"
    broker = ";".join(f"sentinel://{auth}{_netloc(h, p)}/{parsed.db}" for h, p in parsed.sentinels)
    options: dict[str, Any] = {"master_name": parsed.master_name}
    if parsed.sentinel_kwargs():
        options["sentinel_kwargs"] = parsed.sentinel_kwargs()
    return broker, options


def redbeat_settings(url: str) -> tuple[str, dict[str, Any]]:
    """``(redbeat_redis_url, redbeat_redis_options)`` for celery-redbeat.

    redbeat reads a Sentinel from a ``redis-sentinel://`` URL plus ``sentinels``/``service_name``
    options; a plain URL is returned unchanged with no options.
    """
    if not is_sentinel_url(url):
        return url, {}
    parsed = parse_sentinel_url(url)
    options: dict[str, Any] = {
        "sentinels": list(parsed.sentinels),
        "service_name": parsed.master_name,
        "db": parsed.db,
        "password": parsed.password,
    }
    if parsed.username:
        options["username"] = parsed.username
    if parsed.sentinel_kwargs():
        options["sentinel_kwargs"] = parsed.sentinel_kwargs()
    return f"redis-sentinel://{_netloc(*parsed.sentinels[0])}/{parsed.db}", options


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
