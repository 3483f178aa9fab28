"""Faults for the multi-host harness: find a component by role, SIGKILL it, start it again.

``api(cluster)`` is the one way fault tests reach the API server: it reads the cluster's kubeconfig
(server, CA, bearer token or client certificate), so a plain-HTTP cluster and a TLS one need no
other change. ``Api.call(method, path, body)`` returns ``(status, object)``; ``Api.stream(path)``
yields the JSON lines of a watch.

``find(cluster, role)`` -> pids of a role: ``redis``, ``apiserver`` (the gunicorn master),
``apiserver-worker`` (one gunicorn worker: a replica the master replaces), ``dispatcher`` (the child
of the controller-manager), ``controllers`` (the controller-manager, whose Celery worker it is),
``scheduler``, ``beat``, ``cloud-controller-manager``, ``dns``, ``node:<name>`` (the node agent, whose
Celery worker ``kubelet@<name>`` it is) and ``runtime:<name>`` (the node's runtime supervisor).
``kill(cluster, role)`` SIGKILLs the first of them (a component the harness started: with its whole
process group, as a crash of its container would) and returns a ``Killed`` record holding what it
takes to start that process again (argv, environment, working directory, as read from ``/proc``
before the kill); ``restart(cluster, killed)`` starts it again the way the harness did (same host,
same log file) and records the new pid in ``state.json`` so that ``down`` stops it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import Any

import yaml

from ops.hosts import processes
from ops.hosts.harness import ROOT, Cluster
from ops.hosts.processes import Proc

ROLE_PROC = {"controllers": "controller-manager", "dispatcher": "controller-manager"}


class Api:
    """The API server as the cluster's kubeconfig describes it (see the module docstring)."""

    def __init__(self, server: str, headers: dict[str, str], context: ssl.SSLContext | None) -> None:
        self.server = server
        self.headers = headers
        self.context = context
        url = urllib.parse.urlsplit(server)
        self.host, self.port, self.tls = url.hostname or "", url.port, url.scheme == "https"

    def connect(self, timeout: float = 30.0) -> HTTPConnection:
        if self.tls:
            return HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        return HTTPConnection(self.host, self.port, timeout=timeout)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        conn: HTTPConnection | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """``(status, decoded body)``; status 0 with the error text when the server could not be reached.
        With ``conn`` the request reuses that connection (closed on error)."""
        own = conn is None
        conn = conn or self.connect(timeout)
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers, Accept="application/json")
        if data is not None:
            ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
            headers["Content-Type"] = ctype
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
        except (OSError, HTTPException) as exc:
            conn.close()
            return 0, str(exc)
        finally:
            if own:
                conn.close()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")

    def stream(self, path: str, timeout: float = 60.0) -> Iterator[dict[str, Any]]:
        """The events of a watch on ``path`` (which holds ``watch=1``) until the server ends it;
        ``OSError`` when it cannot be opened or breaks."""
        conn = self.connect(timeout)
        try:
            conn.request("GET", path, headers=dict(self.headers, Accept="application/json"))
            resp = conn.getresponse()
            if resp.status != 200:
                raise OSError(f"watch {path}: HTTP {resp.status} {resp.read()[:200]!r}")
            while line := resp.readline():
                if line.strip():
                    yield json.loads(line)
        except HTTPException as exc:  # a chunked stream cut short
            raise OSError(f"watch {path}: {exc!r}") from exc
        finally:
            conn.close()


def api(cluster: Cluster) -> Api:
    """The cluster's API server, with the credentials of its kubeconfig (current context)."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    current = config.get("current-context")
    ctx = next((c["context"] for c in config.get("contexts") or [] if c["name"] == current), None)
    ctx = ctx or config["contexts"][0]["context"]
    server = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
    user = next((u["user"] for u in config.get("users") or [] if u["name"] == ctx.get("user")), {}) or {}
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    context = None
    if server["server"].startswith("https"):
        context = ssl.create_default_context()
        if server.get("certificate-authority-data"):
            context.load_verify_locations(
                cadata=base64.b64decode(server["certificate-authority-data"]).decode()
            )
        elif server.get("certificate-authority"):
            context.load_verify_locations(cafile=server["certificate-authority"])
        if server.get("insecure-skip-tls-verify"):
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if user.get("client-certificate-data"):
            pem = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
            pem.write(base64.b64decode(user["client-certificate-data"]))
            pem.write(b"\n" + base64.b64decode(user["client-key-data"]))
            pem.close()
            context.load_cert_chain(pem.name)
    return Api(server["server"], headers, context)


@dataclass
class Killed:
    """A process killed by ``kill``: its role, harness record, and what starts it again."""

    role: str
    pid: int
    proc: Proc | None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ROOT
    at: float = 0.0


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return found


def _proc(cluster: Cluster, name: str) -> Proc | None:
    return next((p for p in cluster.procs if p.name == name and processes.running(p)), None)


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {k: v for k, _, v in pairs}


def find(cluster: Cluster, role: str) -> list[int]:
    """Pids playing ``role`` (see the module docstring); empty when none runs."""
    if role.startswith("runtime:"):
        from workers.node import supervisor

        pid = supervisor.daemon_pid(Path(cluster.directory) / role.split(":", 1)[1] / "node")
        return [pid] if pid else []
    name = role.split(":", 1)[1] if role.startswith("node:") else ROLE_PROC.get(role, role)
    name = "apiserver" if role == "apiserver-worker" else name
    proc = _proc(cluster, name)
    if proc is None:
        return []
    if role == "apiserver-worker":
        return _children(proc.pid)
    if role == "dispatcher":  # the spawned child, not multiprocessing's resource tracker
        return [c for c in _children(proc.pid) if "spawn_main" in " ".join(processes.cmdline(c))]
    return [proc.pid]


def kill(cluster: Cluster, role: str) -> Killed:
    """SIGKILL the (first) process of ``role``; ``LookupError`` when none runs."""
    pids = find(cluster, role)
    if not pids:
        raise LookupError(f"no running process for {role}")
    pid = pids[0]
    record = next((p for p in cluster.procs if p.pid == pid), None)  # None: not started by the harness
    killed = Killed(role, pid, record, processes.cmdline(pid), _environ(pid), _cwd(pid), time.time())
    if record is not None:  # a component started by the harness: it and its children (its session)
        os.killpg(pid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_group(pid) if record else [p for p in [pid] if not _zombie(p)]):
        time.sleep(0.05)
    return killed


def _group(pgid: int) -> list[int]:
    """Live (not zombie) pids in process group ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ROOT


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def restarts_itself(role: str) -> bool:
    """True for roles something in the cluster starts again: a gunicorn worker (its master), the
    dispatcher (its controller-manager) and a node's runtime supervisor (the node agent's heartbeat)."""
    return role in ("apiserver-worker", "dispatcher") or role.startswith("runtime:")


def restart(cluster: Cluster, killed: Killed) -> Proc | None:
    """Start ``killed`` again as the harness did (its host, argv, environment and log file) and record
    it in ``state.json``; None for a process the harness did not start (see ``restarts_itself``)."""
    if killed.proc is None:
        return None
    log_dir = Path(cluster.directory) / "logs"
    proc = processes.start(killed.proc.host, killed.proc.name, killed.argv, killed.env, log_dir, killed.cwd)
    cluster.procs = [proc if p is killed.proc else p for p in cluster.procs]
    cluster.save()
    return proc
