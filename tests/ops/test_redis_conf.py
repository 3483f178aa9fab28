"""ops/redis.conf is a configuration a real redis-server takes, with the durability it promises."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from cluster.store.embedded import redis_server_binary
from tests.ops.conftest import free_port, wait_ping

ROOT = Path(__file__).resolve().parents[2]


def test_redis_conf_loads_with_aof_everysec_and_noeviction(tmp_path: Path) -> None:
    text = (ROOT / "ops" / "redis.conf").read_text()
    assert "\ndir /var/lib/kubeq/redis\n" in text  # compose.yaml mounts the data volume there
    (tmp_path / "redis.conf").write_text(text.replace("dir /var/lib/kubeq/redis", f"dir {tmp_path}"))
    port = free_port()
    proc = subprocess.Popen(
        [redis_server_binary(), str(tmp_path / "redis.conf"), "--port", str(port), "--requirepass", "pw"]
    )
    try:
        wait_ping(port, "pw")
        client = redis.Redis(port=port, password="pw", decode_responses=True)
        config = {
            k: client.config_get(k)[k] for k in ("appendonly", "appendfsync", "maxmemory-policy", "save")
        }
        assert config == {
            "appendonly": "yes",
            "appendfsync": "everysec",
            "maxmemory-policy": "noeviction",
            "save": "",
        }
        client.set("kubeq:probe", "1")
        client.execute_command("BGREWRITEAOF")
        assert any(tmp_path.rglob("appendonly.aof*"))  # the append-only file is written in `dir`
    finally:
        proc.terminate()
        proc.wait(5)
