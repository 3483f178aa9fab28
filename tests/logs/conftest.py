"""The e2e fixtures (a real API server process, kubectl, the Python client) for the log/exec tests."""

from tests.e2e.conftest import api_client, apiserver, kubectl  # noqa: F401 - fixtures
