"""Redis Sentinel URLs: parsing, their Celery/redbeat forms, and a real Sentinel in front of Redis."""

from __future__ import annotations

import time

import pytest
import redis
from kombu import Connection

from cluster import errors
from cluster.settings import Settings
from cluster.store import Store
from cluster.store.connection import (
    SentinelURL,
    celery_broker,
    parse_sentinel_url,
    redbeat_settings,
    redis_client,
)
from tests.ops.conftest import MASTER_NAME, PASSWORD, SentinelSetup


def test_sentinel_url_with_every_part() -> None:
    url = "redis+sentinel://state:p%40ss@s1:26380,s2,[::1]:26381/kubeq/3?sentinel_password=sp"
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=(("s1", 26380), ("s2", 26379), ("::1", 26381)),
        master_name="kubeq",
        db=3,
        username="state",
        password="p@ss",
        sentinel_password="sp",
    )


def test_sentinel_url_password_only_and_default_db() -> None:
    parsed = parse_sentinel_url("redis+sentinel://:pw@host:1/main")
    assert (parsed.username, parsed.password, parsed.db, parsed.master_name) == (None, "pw", 0, "main")
    assert parse_sentinel_url("redis+sentinel://host/main").password is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://host:6379/0",
        "redis+sentinel://host:26379",
        "redis+sentinel://host:26379/",
        "redis+sentinel:///kubeq",
        "redis+sentinel://host:port/kubeq",
        "redis+sentinel://host/kubeq/zero",
        "redis+sentinel://host/kubeq/0/extra",
        "redis+sentinel://host/kubeq?ssl=true",
    ],
)
def test_malformed_sentinel_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_sentinel_url(url)


def test_celery_broker_form() -> None:
    broker, options = celery_broker("redis+sentinel://:p%40ss@s1:26380,s2/kubeq/2?sentinel_password=sp")
    assert broker == "sentinel://:p%40ss@s1:26380/2;sentinel://:p%40ss@s2:26379/2"
    assert options == {"master_name": "kubeq", "sentinel_kwargs": {"password": "sp"}}
    assert celery_broker("redis://:pw@redis:6379/0") == ("redis://:pw@redis:6379/0", {})


def test_redbeat_form() -> None:
    url, options = redbeat_settings("redis+sentinel://broker:pw@s1,s2:26390/kubeq/1")
    assert url == "redis-sentinel://s1:26379/1"
    assert options == {
        "sentinels": [("s1", 26379), ("s2", 26390)],
        "service_name": "kubeq",
        "db": 1,
        "password": "pw",
        "username": "broker",
    }
    assert redbeat_settings("redis://redis:6379/0") == ("redis://redis:6379/0", {})


def test_plain_urls_still_make_plain_clients(redis_url: str) -> None:
    client = redis_client(redis_url)
    assert client.ping() is True


def test_store_writes_and_reads_through_sentinel(sentinel_setup: SentinelSetup) -> None:
    store = Store.from_url(sentinel_setup.url, prefix="sentinel-test")
    created = store.create("configmaps", "default/through-sentinel", {"metadata": {"name": "a"}, "data": {}})
    got = store.get("configmaps", "default/through-sentinel")
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    direct = redis.Redis(port=sentinel_setup.master_port, password=PASSWORD, decode_responses=True)
    assert direct.exists("sentinel-test:obj:configmaps")  # the write landed on the real master


def test_celery_broker_url_carries_messages_through_sentinel(sentinel_setup: SentinelSetup) -> None:
    broker, options = celery_broker(sentinel_setup.url)
    with Connection(broker, transport_options={**options, "global_keyprefix": "kq-test:"}) as conn:
        queue = conn.SimpleQueue("ops-test")
        queue.put({"hello": "sentinel"})
        message = queue.get(timeout=5)
        message.ack()
        assert message.payload == {"hello": "sentinel"}
        queue.close()


def test_celery_app_and_redbeat_reach_redis_through_sentinel(sentinel_setup: SentinelSetup) -> None:
    from redbeat.schedulers import get_redis

    from workers.celery_app import make_app

    app = make_app(Settings(redis_url=sentinel_setup.url))
    assert app.conf.broker_url.startswith("sentinel://")
    assert app.conf.broker_transport_options["master_name"] == MASTER_NAME
    assert app.conf.broker_transport_options["global_keyprefix"] == "kubeq-broker:"
    assert get_redis(app).ping() is True
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)


def test_store_follows_a_failover(sentinel_setup: SentinelSetup) -> None:
    """After SENTINEL FAILOVER the same store writes to the promoted replica and still reads old data."""
    store = Store.from_url(sentinel_setup.url, prefix="failover-test")
    store.create("configmaps", "default/before", {"metadata": {"name": "before"}, "data": {}})
    master = redis.Redis(port=sentinel_setup.master_port, password=PASSWORD)
    master.wait(1, 5000)  # the replica has it before the switch
    sentinel = redis.Redis(port=sentinel_setup.sentinel_port, decode_responses=True)
    deadline = time.monotonic() + 30
    while True:  # a Sentinel learns of the replica from the master's INFO, every 10 s at first
        try:
            sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
            break
        except redis.ResponseError as exc:
            if "NOGOODSLAVE" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    while time.monotonic() < deadline:
        _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        if int(port) == sentinel_setup.replica_port:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the sentinel did not promote the replica")
    created = None
    while created is None and time.monotonic() < deadline:  # the old master may still be read-only
        try:
            created = store.create("configmaps", "default/after", {"metadata": {"name": "after"}, "data": {}})
        except (redis.ReadOnlyError, redis.ConnectionError, errors.StatusError):
            time.sleep(0.2)
    assert created is not None
    assert store.get("configmaps", "default/before")["metadata"]["name"] == "before"
    promoted = redis.Redis(port=sentinel_setup.replica_port, password=PASSWORD)
    assert promoted.exists("failover-test:obj:configmaps")
