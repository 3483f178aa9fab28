"""etcd as the store benchmark's peer: find or install it, run it on loopback, talk to its v3 JSON gateway.

``etcd_binary()`` returns the ``etcd`` path, installing Debian's ``etcd-server`` with apt-get when it
is missing and we run as root; otherwise it raises ``EtcdMissing`` saying why. ``etcd_server()``
starts one member on free loopback ports with a temporary data dir (default durability: the WAL is
fsynced on every commit; ``no_fsync=True`` adds ``--unsafe-no-fsync``) and removes it all on exit.
``EtcdClient`` is one keep-alive HTTP connection to the gateway (``/v3/kv/*``, ``/v3/watch``);
keys and values are base64 in the JSON, 64-bit numbers come back as strings, and fields holding
their default value (false, 0, empty) are left out of replies.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cluster import jsoncodec
from cluster.processes import die_with_parent
from cluster.store import codec
from cluster.store.embedded import free_port
from cluster.store.store import now_rfc3339
from ops.bench.workload import NS_CREATE, NS_LIST, NS_UPDATE, NS_WATCH, _value, configmap

PACKAGE = "etcd-server"


class EtcdMissing(RuntimeError):
    """etcd is not installed and could not be installed here (the message says why)."""


def etcd_binary(install: bool = True) -> str:
    """The ``etcd`` executable; installs ``etcd-server`` with apt-get if missing and root. Raises EtcdMissing."""
    for candidate in (shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if not install:
        raise EtcdMissing("etcd is not installed")
    if os.geteuid() != 0:
        raise EtcdMissing(f"etcd is not installed and we are not root: run `apt-get install -y {PACKAGE}`")
    if not shutil.which("apt-get"):
        raise EtcdMissing("etcd is not installed and there is no apt-get to install it with")
    print(f"installing {PACKAGE} with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        update = subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=600)
        if update.returncode == 0:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if done.returncode != 0 or not found:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise EtcdMissing(f"apt-get install {PACKAGE} failed: {tail}")
    # Debian starts the packaged service on install; ours runs on its own ports, leave theirs alone.
    return found


def etcd_version(binary: str) -> str:
    """``etcd --version``'s first line ("etcd Version: 3.4.23")."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.strip().splitlines()[0] if out.strip() else "etcd (version unknown)"


@dataclass
class EtcdServer:
    """A running member: its client URL, process and the flags it was started with."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: str
    no_fsync: bool
    args: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def etcd_server(binary: str, no_fsync: bool = False, timeout: float = 30.0) -> Iterator[EtcdServer]:
    """One etcd member on 127.0.0.1 (free client and peer ports, temp data dir); stopped and removed after."""
    data_dir = tempfile.mkdtemp(prefix="kubeq-bench-etcd-")
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    name = "bench-nofsync" if no_fsync else "bench"
    args = [
        binary,
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={name}={peer_url}",
        "--initial-cluster-state=new",
        "--log-level=error",
    ]
    if no_fsync:
        args.append("--unsafe-no-fsync")
    log = open(os.path.join(data_dir, "etcd.log"), "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
    )
    server = EtcdServer(client_url, process, data_dir, no_fsync, args[1:])
    try:
        _wait_healthy(server, timeout, log.name)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_healthy(server: EtcdServer, timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"etcd exited with {server.process.returncode}: {_tail(log)}")
        try:
            client = EtcdClient(server.url, timeout=1.0)
            try:
                client.put(b"/kubeq-bench-health", b"ok")
                return
            finally:
                client.close()
        except (OSError, http.client.HTTPException, RuntimeError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"etcd did not answer on {server.url}: {_tail(log)}")
        time.sleep(0.05)


def _tail(log: str) -> str:
    try:
        with open(log, encoding="utf-8", errors="replace") as handle:
            return " | ".join(handle.read().splitlines()[-5:]) or "(empty log)"
    except OSError:
        return "(no log)"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's range_end for a prefix)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


class EtcdClient:
    """One keep-alive connection to the gateway. Methods raise RuntimeError on a non-200 reply."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path``; the decoded reply. Reconnects (and raises) after a broken connection."""
        data = jsoncodec.dumpb(body)
        try:
            self.conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            payload = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            raise
        if resp.status != 200:
            raise RuntimeError(f"etcd {path}: {resp.status} {payload[:300]!r}")
        return jsoncodec.loads(payload)

    def put(self, key: bytes, value: bytes) -> int:
        """Unconditional put; the new revision."""
        reply = self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
        return int(reply["header"]["revision"])

    def create(self, key: bytes, value: bytes) -> int:
        """Put if ``key`` does not exist (create_revision == 0); the new revision, 0 if it existed."""
        compare = {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        reply = self.call(
            "/v3/kv/txn",
            {"compare": [compare], "success": [{"request_put": {"key": b64(key), "value": b64(value)}}]},
        )
        return int(reply["header"]["revision"]) if reply.get("succeeded") else 0

    def update(self, key: bytes, value: bytes, mod_revision: int) -> tuple[int, dict[str, Any] | None]:
        """Put if ``key``'s mod_revision is ``mod_revision``: (new revision, None), else (0, current kv)."""
        compare = {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}
        reply = self.call(
            "/v3/kv/txn",
            {
                "compare": [compare],
                "success": [{"request_put": {"key": b64(key), "value": b64(value)}}],
                "failure": [{"request_range": {"key": b64(key)}}],
            },
        )
        if reply.get("succeeded"):
            return int(reply["header"]["revision"]), None
        kvs = reply["responses"][0]["response_range"].get("kvs") or [None]
        return 0, kvs[0]

    def get(self, key: bytes) -> dict[str, Any] | None:
        """The kv at ``key`` (fields key, value base64; mod_revision as a string) or None."""
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs")
        return kvs[0] if kvs else None

    def range_prefix(self, prefix: bytes, limit: int = 0) -> list[dict[str, Any]]:
        """Every kv whose key starts with ``prefix``, in key order (at most ``limit`` if > 0)."""
        body: dict[str, Any] = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
        if limit:
            body["limit"] = str(limit)
        return self.call("/v3/kv/range", body).get("kvs") or []

    def delete_prefix(self, prefix: bytes) -> int:
        reply = self.call("/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return int(reply.get("deleted", 0))

    def close(self) -> None:
        self.conn.close()


def decode_value(kv: dict[str, Any]) -> dict[str, Any]:
    """The object stored in a gateway kv, its resourceVersion set from the kv's mod_revision."""
    obj = jsoncodec.loads(base64.b64decode(kv["value"]))
    obj["metadata"]["resourceVersion"] = kv["mod_revision"]
    return obj


class EtcdWatch:
    """A watch on a key prefix from ``start_revision``, read in a thread: ``on_event(mod_revision, at)``.

    The gateway streams one JSON message per watch response on a chunked POST /v3/watch.
    ``close()`` shuts the socket down and joins the reader.
    """

    def __init__(
        self, url: str, prefix: bytes, start_revision: int, on_event: Callable[[int, float], None]
    ) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.on_event = on_event
        create = {
            "key": b64(prefix),
            "range_end": b64(prefix_end(prefix)),
            "start_revision": str(start_revision),
        }
        body = jsoncodec.dumpb({"create_request": create})
        head = (
            f"POST /v3/watch HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body)
        self.response = http.client.HTTPResponse(self.sock)
        self.response.begin()
        if self.response.status != 200:
            raise RuntimeError(f"etcd watch: {self.response.status} {self.response.read(300)!r}")
        self.created = threading.Event()
        self.thread = threading.Thread(target=self._read, name="etcd-watch", daemon=True)
        self.thread.start()
        if not self.created.wait(10):
            self.close()
            raise RuntimeError("etcd watch: not created within 10 s")

    def _read(self) -> None:
        clock = time.perf_counter
        try:
            for line in iter(self.response.readline, b""):  # one JSON message per line
                if not line.strip():
                    continue
                at = clock()
                result = jsoncodec.loads(line).get("result") or {}
                if result.get("created"):
                    self.created.set()
                for event in result.get("events") or ():
                    self.on_event(int(event["kv"]["mod_revision"]), at)
        except (OSError, http.client.HTTPException, ValueError):
            return

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.sock.close()


# -- the benchmarked operations, as Kubernetes' apiserver issues them on etcd ------------------


def etcd_key(namespace: str, name: str = "") -> bytes:
    """Kubernetes' layout: ``/registry/configmaps/<namespace>/<name>``."""
    return f"/registry/configmaps/{namespace}/{name}".encode()


def stored_value(namespace: str, name: str, value: str) -> bytes:
    """The configmap as the store writes it: uid, creationTimestamp, generation set and the same JSON
    template (``cluster.store.codec.template``); on etcd the key's mod_revision is its revision."""
    obj = configmap(namespace, name, value)
    obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
    return codec.template(obj).encode()


def prepare(url: str, list_size: int) -> None:
    """The list prefix's ``list_size`` configmaps."""
    client = EtcdClient(url)
    try:
        for k in range(list_size):
            client.put(etcd_key(NS_LIST, f"cm-{k}"), stored_value(NS_LIST, f"cm-{k}", _value(k)))
    finally:
        client.close()


def etcd_operation(
    url: str, verb: str, i: int, run: str, marks: dict[int, float], list_size: int
) -> Callable[[], bool]:
    """Client ``i``'s operation for ``verb`` (create, update, get, list, watch); see ``ops.bench.store``.

    ``watch`` is update that records ``mod_revision -> start time`` in ``marks``.
    """
    client = EtcdClient(url)
    client.get(etcd_key(NS_LIST, "cm-0"))  # connected and warm
    if verb == "create":
        names = (f"{run}-{i}-{n}" for n in itertools.count())

        def create() -> bool:
            name = next(names)
            return client.create(etcd_key(NS_CREATE, name), stored_value(NS_CREATE, name, _value(i))) > 0

        return create
    if verb == "get":
        keys = itertools.cycle([etcd_key(NS_LIST, f"cm-{(i + k) % list_size}") for k in range(list_size)])

        def get() -> bool:
            kv = client.get(next(keys))
            return kv is not None and bool(decode_value(kv))

        return get
    if verb == "list":
        prefix = etcd_key(NS_LIST)
        return lambda: len([decode_value(kv) for kv in client.range_prefix(prefix)]) == list_size
    namespace = NS_UPDATE if verb == "update" else NS_WATCH
    name = f"cm-{i}"
    key = etcd_key(namespace, name)
    kv = client.get(key)
    if kv is None:
        client.create(key, stored_value(namespace, name, _value(i)))
        kv = client.get(key)
    assert kv is not None
    obj = decode_value(kv)
    rev = [int(kv["mod_revision"])]
    counter = itertools.count(time.time_ns())
    clock = time.perf_counter

    def update() -> bool:
        t0 = clock()
        new, current = client.update(
            key, codec.template(dict(obj, data={"value": _value(next(counter))})).encode(), rev[0]
        )
        if not new:
            rev[0] = int(current["mod_revision"]) if current else rev[0]
            return False
        rev[0] = new
        if verb == "watch":
            marks[new] = t0
        return True

    return update
