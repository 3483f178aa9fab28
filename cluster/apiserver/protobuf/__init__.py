"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``) -> JSON-shaped dicts.

``decode(body: bytes) -> dict``: see ``decode.py``. Field tables are generated from kubectl
by ``generate.py`` into ``messages.py``.
"""

from cluster.apiserver.protobuf.decode import MAGIC, decode

__all__ = ["MAGIC", "decode"]
