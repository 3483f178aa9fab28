"""What one client of the store benchmark does on each backend (see ``ops.bench.store``).

``store_operation`` goes through ``cluster.store.Store``; ``raw_operation`` issues the store's own
create/update Lua scripts by EVALSHA (the Redis ceiling); ``Driver`` is one load process's connection
to a backend and makes either of them, or etcd's (``ops.bench.etcd``).
"""

from __future__ import annotations

import itertools
import time

import redis

from cluster import errors
from cluster.store import Store, codec, scripts
from ops.bench import etcd
from ops.bench.harness import Operation
from ops.bench.workload import NS_CREATE, NS_LIST, NS_UPDATE, NS_WATCH, _value, configmap

RESOURCE = "configmaps"
LIST_SIZE = 100

# A backend as the load processes see it: (kind, url, prefix); kind is "store", "raw" or "etcd".
Backend = tuple[str, str, str]


def store_operation(store: Store, verb: str, i: int, run: str, marks: dict[int, float]) -> Operation:
    """Client ``i``'s ``verb`` through ``Store`` (what every kubeq component calls)."""
    store.client.ping()
    if verb == "create":
        names = (f"{run}-{i}-{n}" for n in itertools.count())

        def create() -> bool:
            name = next(names)
            store.create(RESOURCE, f"{NS_CREATE}/{name}", configmap(NS_CREATE, name, _value(i)))
            return True

        return create
    if verb == "get":
        keys = itertools.cycle([f"{NS_LIST}/cm-{(i + k) % LIST_SIZE}" for k in range(LIST_SIZE)])
        return lambda: store.get(RESOURCE, next(keys)) is not None
    if verb == "list":
        return lambda: len(store.list(RESOURCE, NS_LIST).items) == LIST_SIZE
    namespace = NS_UPDATE if verb == "update" else NS_WATCH
    name = f"cm-{i}"
    key = f"{namespace}/{name}"
    try:
        obj = store.create(RESOURCE, key, configmap(namespace, name, _value(i)))
    except errors.AlreadyExists:
        obj = store.get(RESOURCE, key)
    rv = [int(obj["metadata"]["resourceVersion"])]
    counter = itertools.count(time.time_ns())
    clock = time.perf_counter

    def update() -> bool:
        t0 = clock()
        try:
            new = store.update(RESOURCE, key, dict(obj, data={"value": _value(next(counter))}), rv[0])
        except errors.Conflict as err:
            rv[0] = int((err.current or obj)["metadata"]["resourceVersion"])
            return False
        rv[0] = int(new["metadata"]["resourceVersion"])
        if verb == "watch":
            marks[rv[0]] = t0
        return True

    return update


def raw_operation(client: redis.Redis, prefix: str, verb: str, i: int, run: str) -> Operation:
    """The store's create/update Lua script by EVALSHA with arguments encoded once: the Redis ceiling."""
    store = Store(client, prefix)
    keys = store.keys(RESOURCE).all()
    create_keys = [*keys, store.keys("namespaces").objects]  # the create script also sees namespaces
    placeholder = codec.RV_PLACEHOLDER
    if verb == "create":
        sha = client.script_load(scripts.CREATE)
        template = codec.template(configmap(NS_CREATE, f"raw-{run}-{i}", _value(i)))
        names = (f"{NS_CREATE}/raw-{run}-{i}-{n}" for n in itertools.count())
        args = (sha, len(create_keys), *create_keys)
        # "" as the namespace: no namespace check, as the store benchmark's own creates
        return lambda: int(client.evalsha(*args, next(names), template, placeholder, RESOURCE, "")[0]) == 1
    sha = client.script_load(scripts.UPDATE)
    key = f"{NS_UPDATE}/raw-{i}"
    template = codec.template(configmap(NS_UPDATE, f"raw-{i}", _value(i)))
    client.evalsha(
        client.script_load(scripts.CREATE),
        len(create_keys),
        *create_keys,
        key,
        template,
        placeholder,
        RESOURCE,
        "",
    )
    at = template.index(placeholder)
    rv = [""]  # any revision for the first write, then the one it returned

    def update() -> bool:
        reply = client.evalsha(sha, len(keys), *keys, key, template, placeholder, RESOURCE, rv[0])
        if int(reply[0]) != 1:
            return False
        obj = codec.text(reply[1])
        rv[0] = obj[at : obj.index('"', at)]
        return True

    return update


class Driver:
    """One load process's connection to a backend; ``setup(verb, i, run, marks)`` makes client ops."""

    def __init__(self, backend: Backend) -> None:
        self.kind, self.url, self.prefix = backend
        self.store = Store.from_url(self.url, self.prefix) if self.kind in ("store", "raw") else None

    def setup(self, verb: str, i: int, run: str, marks: dict[int, float]) -> Operation:
        if self.kind == "etcd":
            return etcd.etcd_operation(self.url, verb, i, run, marks, LIST_SIZE)
        assert self.store is not None
        if self.kind == "raw":
            return raw_operation(self.store.client, self.prefix, verb, i, run)
        return store_operation(self.store, verb, i, run, marks)

    def close(self) -> None:
        if self.store is not None:
            self.store.client.close()
