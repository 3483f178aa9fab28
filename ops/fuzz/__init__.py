"""Fuzzing the API server from its own OpenAPI documents (schemathesis + hypothesis).

``python -m ops.fuzz --url http://127.0.0.1:6443`` runs the generated requests against a running
server and prints the report table; ``ops.fuzz.openapi_run.fuzz_server`` is the same run as a function.
"""
