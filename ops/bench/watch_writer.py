"""The writer of ``ops.bench.watch``: pods created then merge-patched at a steady rate (open loop),
each write stamped with its sequence number and send time in annotations."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

NAMESPACE = "bench-watch-pods"
SEQ, SENT = "bench.kubeq.io/seq", "bench.kubeq.io/sent"
POOL = 20  # pods per level: the first write of each creates it, later ones patch it


def _pod(name: str, seq: int, sent: float) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {SEQ: str(seq), SENT: f"{sent:.6f}"}},
        "spec": {"containers": [{"name": "c", "image": "bench/none"}]},
    }


@dataclass
class Writes:
    """What the writer did: ack time per successful write's sequence number, failures, time span."""

    acks: dict[int, float] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)
    failures: int = 0
    started: float = 0.0
    ended: float = 0.0


def write_steadily(base_url: str, prefix: str, rate: float, seconds: float) -> Writes:
    """Create ``POOL`` pods then merge-patch them in turn, one write every 1/rate s (open loop)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    base = f"/api/v1/namespaces/{NAMESPACE}/pods"
    done = Writes(started=time.monotonic())
    total = max(int(rate * seconds), 1)
    try:
        for seq in range(total):
            due = done.started + seq / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            name = f"{prefix}-{seq % POOL}"
            sent = time.monotonic()
            if seq < POOL:
                method, path, ctype, body = "POST", base, "application/json", _pod(name, seq, sent)
            else:
                method, path = "PATCH", f"{base}/{name}"
                ctype = "application/merge-patch+json"
                body = {"metadata": {"annotations": {SEQ: str(seq), SENT: f"{sent:.6f}"}}}
            conn.request(method, path, body=json.dumps(body).encode(), headers={"Content-Type": ctype})
            resp = conn.getresponse()
            resp.read()
            if resp.status in (200, 201):
                done.acks[seq] = time.monotonic()
                done.sent[seq] = sent
            else:
                done.failures += 1
    finally:
        conn.close()
        done.ended = time.monotonic()
    return done


def request_json(base_url: str, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    finally:
        conn.close()
