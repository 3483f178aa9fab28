"""Fixtures for the kubelet suites: one API server per module, a Node object, a fresh namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.client.client import Client
from tests.e2e.conftest import APIServerProcess, launch_apiserver
from tests.namespaces import fresh


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    with launch_apiserver(redis_url, tmp_path_factory.mktemp("kubelet-api")) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: APIServerProcess) -> Client:
    return Client(server.url)


@pytest.fixture
def ns(client: Client) -> str:
    return fresh(client, "kl")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "node-data"
    monkeypatch.setenv("KUBEQ_NODE_DATA_DIR", str(path))
    return path
