"""Fresh namespaces for tests: ``fresh(client, stem)`` creates ``<stem>-<random>`` and returns its name."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


def fresh(client: Any, stem: str) -> str:
    """Create a namespace named ``<stem[:20]>-<6 hex>`` through ``client`` (a ``cluster.client.Client``)."""
    name = f"{stem[:20]}-{uuid.uuid4().hex[:6]}"
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def module_stem(request: pytest.FixtureRequest) -> str:
    """``gc`` for ``test_gc.py``: the test module's name as a namespace stem."""
    return request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
