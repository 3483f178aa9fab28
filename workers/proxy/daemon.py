"""``python -m workers.proxy.daemon --socket <data-dir>/proxy.sock``: the node's userspace proxy daemon.

It runs a ``userspace.Forwarder`` and answers one JSON request per line on a UNIX socket:

- ``{"op": "ping"}`` -> ``{"ok": true, "pid": .., "fingerprint": ..}``;
- ``{"op": "apply", "state": <wire state>}`` -> ``{"ok": true, "summary": {..}}``;
- ``{"op": "status"}`` -> ``{"ok": true, "listeners": ["TCP 10.96.0.1:443", ..], "failed": [..]}``;
- ``{"op": "cleanup"}`` -> ``{"ok": true}`` (every listener closed);
- anything else -> ``{"ok": false, "error": ".."}``.

The last applied state is kept in ``<socket>.state.json`` and applied again when the daemon starts, so
a restarted daemon serves at once. At start the service range is made local when it can be: as root,
``ip route replace local <range> dev lo`` (range: ``--service-range``, else
``$KUBEQ_SERVICE_CLUSTER_IP_RANGE``, default 10.96.0.0/16) lets it bind any ClusterIP; without root only
ranges inside 127.0.0.0/8 can be bound, and a warning says so. SIGTERM closes everything and exits, and
so does the daemon when its socket file is removed or replaced (its node's data dir is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from workers.proxy.userspace import Forwarder
from workers.proxy.wire import from_wire, to_wire

DEFAULT_SERVICE_RANGE = "10.96.0.0/16"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
log = logging.getLogger("kubeq.proxy.daemon")


def service_range(explicit: str | None = None) -> str:
    return explicit or os.environ.get("KUBEQ_SERVICE_CLUSTER_IP_RANGE") or DEFAULT_SERVICE_RANGE


def make_range_local(cidr: str) -> str:
    """Make ``cidr`` bindable on this host; what was done: "loopback", "route" or "unbindable"."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version == 4 and net.subnet_of(LOOPBACK):
        return "loopback"
    if os.geteuid() != 0:
        log.warning(
            "service range %s is not inside 127.0.0.0/8 and this proxy is not root: ClusterIPs in it "
            "cannot be bound (use a 127.x range, e.g. 127.96.0.0/16, or run the node as root)",
            cidr,
        )
        return "unbindable"
    done = subprocess.run(
        ["ip", "route", "replace", "local", str(net), "dev", "lo"], capture_output=True, text=True
    )
    if done.returncode != 0:
        log.warning("cannot make %s local: %s", net, done.stderr.strip())
        return "unbindable"
    return "route"


class Daemon:
    """The request handling around one Forwarder."""

    def __init__(self, sock: str) -> None:
        self.sock = sock
        self.state_file = Path(sock + ".state.json")
        self.forwarder = Forwarder()

    async def restore(self) -> None:
        """Apply the last state a previous daemon saved, if any."""
        try:
            state = from_wire(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return
        summary = await self.forwarder.apply(state)
        log.info("restored the last proxy state: %s", summary)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "fingerprint": self.forwarder.fingerprint}
        if op == "apply":
            state = from_wire(request.get("state") or {})
            summary = await self.forwarder.apply(state)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(to_wire(state)))
            tmp.replace(self.state_file)
            return {"ok": True, "summary": summary}
        if op == "status":
            names = [f"{p} {a}:{n}" for (p, a, n) in self.forwarder.listeners]
            return {"ok": True, "listeners": sorted(names), "failed": self.forwarder.failed}
        if op == "cleanup":
            await self.forwarder.close()
            with contextlib.suppress(OSError):
                self.state_file.unlink()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = await self.handle(json.loads(line))
                except (ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def run(sock: str, cidr: str) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT."""
    make_range_local(cidr)
    daemon = Daemon(sock)
    await daemon.restore()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)
    server = await asyncio.start_unix_server(daemon.serve, path=sock, limit=64 * 1024 * 1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("userspace proxy serving on %s (pid %d, service range %s)", sock, os.getpid(), cidr)
    watch = loop.create_task(_exit_when_socket_is_gone(sock, stop))
    await stop.wait()
    watch.cancel()
    server.close()
    await daemon.forwarder.close()


async def _exit_when_socket_is_gone(sock: str, stop: asyncio.Event, every: float = 2.0) -> None:
    """Set ``stop`` once ``sock`` is removed or replaced (data dir deleted, another daemon took over)."""
    inode = os.stat(sock).st_ino
    while True:
        await asyncio.sleep(every)
        try:
            if os.stat(sock).st_ino != inode:
                break
        except FileNotFoundError:
            break
    log.info("socket %s is gone or replaced: exiting", sock)
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workers.proxy.daemon", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--socket", required=True, help="the UNIX socket to answer on")
    parser.add_argument("--service-range", default=None, help="ClusterIP range (default: the setting)")
    parser.add_argument("--node", default="", help="the node name (for the log only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args.socket, service_range(args.service_range)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
