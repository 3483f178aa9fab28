"""The runtime's records on disk: one JSON file per sandbox and per container under the root.

Writes are atomic (temp file + rename), so a runtime killed at any moment leaves each record
either old or new, and a runtime started over the same root reads back exactly what was there.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tasks.kubelet import cri_codec


class StateDir:
    """``<root>/sandboxes/<id>.json`` and ``<root>/containers/<id>.json``; FIFOs in ``<root>/fifo``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        for sub in ("sandboxes", "containers", "fifo"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    def _path(self, kind: str, id_: str) -> str:
        return os.path.join(self.root, kind, f"{id_}.json")

    def fifo(self, container_id: str, stream: str) -> str:
        return os.path.join(self.root, "fifo", f"{container_id}.{stream}")

    def save(self, kind: str, id_: str, record: Any) -> None:
        path = self._path(kind, id_)
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(cri_codec.encode(record), f)
        os.replace(tmp, path)

    def delete(self, kind: str, id_: str) -> None:
        try:
            os.unlink(self._path(kind, id_))
        except FileNotFoundError:
            pass

    def load_all(self, kind: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        folder = os.path.join(self.root, kind)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(folder, name)) as f:
                        out[name[: -len(".json")]] = json.load(f)
                except (OSError, ValueError):
                    continue
        return out
