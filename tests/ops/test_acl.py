"""ops/users.acl on a real redis-server: each kubeq user works on its own keys and only there."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from cluster.store import Store
from cluster.store.embedded import redis_server_binary
from tests.ops.conftest import free_port, wait_ping

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"CHANGE-ME-state": "st4te", "CHANGE-ME-broker": "br0ker", "CHANGE-ME-admin": "adm1n"}


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server loading ops/users.acl (passwords filled in); yields its port."""
    work = tmp_path_factory.mktemp("acl")
    text = (ROOT / "ops" / "users.acl").read_text()
    for placeholder, secret in SECRETS.items():
        text = text.replace(placeholder, secret)
    (work / "users.acl").write_text(text)
    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work)]
        + ["--save", "", "--aclfile", str(work / "users.acl")]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, username="kubeq-admin", password="adm1n").ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def test_anonymous_clients_get_nothing(acl_redis: int) -> None:
    client = redis.Redis(port=acl_redis, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        client.get("kubeq:revision")


def test_state_user_runs_the_store_but_cannot_touch_broker_keys(acl_redis: int) -> None:
    store = Store.from_url(f"redis://kubeq-state:st4te@127.0.0.1:{acl_redis}/0", prefix="kubeq")
    store.create("configmaps", "default/acl", {"metadata": {"name": "acl"}, "data": {"a": "1"}})
    listed = store.list("configmaps")
    assert [o["metadata"]["name"] for o in listed.items] == ["acl"]
    with pytest.raises(redis.exceptions.NoPermissionError):
        store.client.get("kubeq-broker:unacked")
    with pytest.raises(redis.exceptions.NoPermissionError):
        store.client.flushall()


def test_broker_user_carries_celery_messages_but_cannot_read_state(acl_redis: int) -> None:
    url = f"redis://kubeq-broker:br0ker@127.0.0.1:{acl_redis}/0"
    with Connection(url, transport_options={"global_keyprefix": "kubeq-broker:"}) as conn:
        queue = conn.SimpleQueue("acl-test")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        message.ack()
        assert message.payload == {"n": 1}
        queue.close()
    broker = redis.Redis.from_url(url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        broker.get("kubeq:revision")


def test_ops_sentinel_conf_fronts_the_acl_redis_for_the_store(acl_redis: int, tmp_path: Path) -> None:
    """ops/sentinel.conf (addresses and secrets filled in) monitors the ACL-protected Redis, and a
    store on a redis+sentinel:// URL with the state user's credentials writes through it."""
    text = (ROOT / "ops" / "sentinel.conf").read_text()
    port = free_port()
    text = text.replace("port 26379", f"port {port}").replace("bind 0.0.0.0", "bind 127.0.0.1")
    text = text.replace("dir /var/lib/kubeq/sentinel", f"dir {tmp_path}")
    text = text.replace("10.0.0.10 6379 2", f"127.0.0.1 {acl_redis} 1").replace("CHANGE-ME-admin", "adm1n")
    (tmp_path / "sentinel.conf").write_text(text)
    proc = subprocess.Popen([redis_server_binary(), str(tmp_path / "sentinel.conf"), "--sentinel"])
    try:
        wait_ping(port)
        url = f"redis+sentinel://kubeq-state:st4te@127.0.0.1:{port}/kubeq/0"
        store = Store.from_url(url, prefix="kubeq")
        store.create("configmaps", "default/via-sentinel", {"metadata": {"name": "via-sentinel"}, "data": {}})
        direct = Store.from_url(f"redis://kubeq-state:st4te@127.0.0.1:{acl_redis}/0", prefix="kubeq")
        assert direct.get("configmaps", "default/via-sentinel")["metadata"]["name"] == "via-sentinel"
    finally:
        proc.terminate()
        proc.wait(5)
