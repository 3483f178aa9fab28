"""Node-agent fixtures: the e2e API server and kubectl, and short temp dirs (Unix socket paths are short)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import apiserver, kubectl  # noqa: F401  (fixtures used by this package)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh directory under /tmp with a short path (``<dir>/runtime.sock`` must fit in 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="kqn-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
