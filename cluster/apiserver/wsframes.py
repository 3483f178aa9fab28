"""The little of RFC 6455 (WebSocket) the exec endpoint needs: the handshake reply and frames.

Server frames are unmasked; client frames arrive masked. Kubernetes' channel protocols put a
one-byte channel number before each binary message's payload.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BINARY, CLOSE, PING, PONG = 0x2, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def handshake(key: str, protocol: str) -> bytes:
    """The ``101 Switching Protocols`` reply choosing ``protocol``."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
    ).encode("latin-1")


def message(payload: bytes, opcode: int = BINARY) -> bytes:
    """One final, unmasked frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
    return header + payload


def _exactly(sock: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("websocket closed")
        data += chunk
    return data


def read_frame(sock: Any) -> tuple[int, bytes]:
    """The next frame's opcode and (unmasked) payload."""
    first, second = _exactly(sock, 2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(_exactly(sock, 2), "big")
    elif size == 127:
        size = int.from_bytes(_exactly(sock, 8), "big")
    mask = _exactly(sock, 4) if second & 0x80 else b""
    payload = _exactly(sock, size)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


class Session:
    """A server-side connection: ``send`` messages while a reader answers pings and notes the close.

    The reader keeps a client's heartbeat (pings) answered while a long command runs.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.peer_closed = threading.Event()
        threading.Thread(target=self._read, name="websocket-reader", daemon=True).start()

    def send(self, payload: bytes, opcode: int = BINARY) -> None:
        with self.lock:
            self.sock.sendall(message(payload, opcode))

    def _read(self) -> None:
        try:
            while True:
                opcode, payload = read_frame(self.sock)
                if opcode == PING:
                    self.send(payload, PONG)
                elif opcode == CLOSE:
                    return
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            self.peer_closed.set()

    def close(self, timeout: float = 2.0) -> None:
        """Send a normal close; wait (up to ``timeout``) for the client's."""
        self.send((1000).to_bytes(2, "big"), CLOSE)
        self.peer_closed.wait(timeout)
