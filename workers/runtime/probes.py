"""Container probes (exec, httpGet, tcpSocket) run on one thread per probed container.

Kubernetes' semantics, reduced: probes start ``initial_delay_seconds`` after the container, run
every ``period_seconds`` with ``timeout_seconds`` each; a result flips after ``success_threshold``
successes or ``failure_threshold`` failures in a row. The startup probe runs alone until it
passes (``started``); then readiness (``ready``) and liveness (``liveness_failed``) run. A startup
probe that fails past its threshold reports ``liveness_failed`` too (the kubelet restarts the
container either way). Results go to ``report(field, value)``, which only needs to act on changes.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable

from tasks.kubelet import cri

ExecFn = Callable[[list[str], float], cri.ExecResult]
Report = Callable[[str, bool], None]


def check(probe: cri.Probe, exec_fn: ExecFn) -> bool:
    """Run ``probe`` once; True on success (exit 0, HTTP 200-399, TCP connect)."""
    timeout = max(float(probe.timeout_seconds), 0.1)
    try:
        if probe.kind == "exec":
            return exec_fn(probe.command, timeout).exit_code == 0
        if probe.kind == "tcpSocket":
            with socket.create_connection((probe.host, probe.port), timeout=timeout):
                return True
        if probe.kind == "httpGet":
            conn: http.client.HTTPConnection
            if probe.scheme.upper() == "HTTPS":
                ctx = ssl._create_unverified_context()  # probes do not verify certificates
                conn = http.client.HTTPSConnection(probe.host, probe.port, timeout=timeout, context=ctx)
            else:
                conn = http.client.HTTPConnection(probe.host, probe.port, timeout=timeout)
            try:
                conn.request(
                    "GET", probe.path or "/", headers={"User-Agent": "kube-probe/kubeq", **probe.headers}
                )
                return 200 <= conn.getresponse().status < 400
            finally:
                conn.close()
    except (OSError, TimeoutError, ValueError, http.client.HTTPException):
        return False
    return False


class _Track:
    """One probe's schedule and its run of equal results."""

    def __init__(self, field: str, probe: cri.Probe, start: float, healthy: bool) -> None:
        self.field, self.probe = field, probe
        self.due = start + probe.initial_delay_seconds
        self.successes = self.failures = 0
        self.healthy = healthy

    def record(self, ok: bool) -> bool | None:
        """Count a result; the new health when it flips, else None."""
        self.successes, self.failures = (self.successes + 1, 0) if ok else (0, self.failures + 1)
        if not self.healthy and self.successes >= max(self.probe.success_threshold, 1):
            self.healthy = True
            return True
        if self.healthy and self.failures >= max(self.probe.failure_threshold, 1):
            self.healthy = False
            return False
        return None


class Prober(threading.Thread):
    """Runs a container's probes until ``stop()``; see the module docstring for the rules."""

    def __init__(self, config: cri.ContainerConfig, exec_fn: ExecFn, report: Report) -> None:
        super().__init__(daemon=True, name=f"probe-{config.name}")
        self.config, self.exec_fn, self.report = config, exec_fn, report
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        now = time.monotonic()
        cfg = self.config
        startup = _Track("started", cfg.startup, now, False) if cfg.startup else None
        tracks = []
        if cfg.readiness:
            tracks.append(_Track("ready", cfg.readiness, now, False))
        if cfg.liveness:
            tracks.append(_Track("liveness", cfg.liveness, now, True))
        while startup is not None and not self._halt.is_set():
            if self._halt.wait(max(startup.due - time.monotonic(), 0)):
                return
            startup.due = time.monotonic() + max(startup.probe.period_seconds, 1)
            ok = check(startup.probe, self.exec_fn)
            if startup.record(ok):
                self.report("started", True)
                now = time.monotonic()
                for t in tracks:
                    t.due = now + t.probe.initial_delay_seconds
                break
            if not ok and startup.failures >= max(startup.probe.failure_threshold, 1):
                self.report("liveness_failed", True)
        while tracks and not self._halt.is_set():
            track = min(tracks, key=lambda t: t.due)
            if self._halt.wait(max(track.due - time.monotonic(), 0)):
                return
            track.due = time.monotonic() + max(track.probe.period_seconds, 1)
            flipped = track.record(check(track.probe, self.exec_fn))
            if flipped is None or self._halt.is_set():
                continue
            if track.field == "ready":
                self.report("ready", flipped)
            else:
                self.report("liveness_failed", not flipped)
