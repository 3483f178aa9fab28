"""Generated requests for every operation of every served OpenAPI v3 document, checked reply by reply.

``fuzz_server(url)`` fetches ``/openapi/v3`` and each group-version document from the running server,
lets schemathesis generate path parameters, query parameters and bodies (schema-conforming and
schema-violating ones) for each operation, sends them, and checks each reply with ``checks``.
Before each operation the seed objects of its resource are created (``seeds``), and about half of
the cases are steered at them (``steering``) so that they reach validation, admission and patching
instead of stopping at "not found". Generation is seeded: the same seed sends the same requests.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from ops.fuzz.checks import check_response
from ops.fuzz.report import Failure, FuzzReport, tree_rss
from ops.fuzz.seeds import seed_for_path
from ops.fuzz.shallow import shallow
from ops.fuzz.steering import NAMES, steer

NAMESPACE = "fuzz"
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Operations left out by default (``skip``). None today: the one that was, DELETE on the namespace
# collection, is no longer served (Kubernetes has no delete-all for namespaces).
DESTRUCTIVE: frozenset[tuple[str, str]] = frozenset()


def new_session(token: str | None = None, verify: bool | str = True) -> requests.Session:
    """A session sending ``Authorization: Bearer <token>`` when a token is given."""
    session = requests.Session()
    session.trust_env = False  # no proxy and no REQUESTS_CA_BUNDLE from the environment: ``verify`` holds
    session.verify = verify
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def load_documents(url: str, session: requests.Session) -> dict[str, dict[str, Any]]:
    """Every group-version OpenAPI v3 document the server lists, keyed like ``apis/apps/v1``."""
    index = session.get(f"{url}/openapi/v3", timeout=60)
    index.raise_for_status()
    docs = {}
    for gv, entry in index.json()["paths"].items():
        reply = session.get(url + entry["serverRelativeURL"], timeout=60)
        reply.raise_for_status()
        docs[gv] = reply.json()
    return docs


def ensure_namespace(url: str, session: requests.Session, name: str = NAMESPACE) -> None:
    """Create namespace ``name`` unless it exists."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    reply = session.post(f"{url}/api/v1/namespaces", json=body, timeout=60)
    if reply.status_code not in (201, 409):
        raise RuntimeError(f"cannot create namespace {name}: {reply.status_code} {reply.text[:200]}")


def _reproduce(case: Any, url: str) -> str:
    try:
        return str(case.as_curl_command(headers=None)).replace("http://localhost", url)
    except Exception:  # noqa: BLE001 - a failure's reproduction line is a courtesy, never fatal
        return f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"[:600]


def run_operation(
    operation: Any,
    url: str,
    session: requests.Session,
    report: FuzzReport,
    *,
    examples: int,
    seed_value: int,
    namespace: str = NAMESPACE,
    timeout: float = 30,
    modes: tuple[GenerationMode, ...] = MODES,
) -> None:
    """Send up to ``examples`` generated cases per generation mode (``modes``) for one operation,
    after making sure the seed objects of its resource exist."""
    for name in NAMES:
        found = seed_for_path(operation.path, namespace, name)
        if found:
            try:
                session.post(url + found[0], json=found[1], timeout=timeout)
            except requests.RequestException:
                pass  # the operation's own requests will show what is wrong
    for mode in modes:
        try:
            strategy = operation.as_strategy(generation_mode=mode)
        except Exception:  # noqa: BLE001 - some operations have nothing to violate
            continue
        op_seed = zlib.crc32(f"{seed_value}:{operation.method}:{operation.path}:{mode.value}".encode())

        @seed(op_seed)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=False,
            print_blob=False,
        )
        @given(case=strategy, data=st.data())
        def send(case: Any, data: st.DataObject) -> None:
            steer(case, data, namespace)
            method, path = operation.method.upper(), operation.path
            try:
                reply = case.call(base_url=url, session=session, timeout=timeout, verify=session.verify)
            except requests.RequestException as exc:
                report.record(0, Failure("transport", method, path, 0, repr(exc), _reproduce(case, url)))
                return
            failure = check_response(method, path, reply)
            if failure is not None:
                failure = dataclasses.replace(failure, reproduce=_reproduce(case, url))
            report.record(reply.status_code, failure)

        try:
            send()
        except Exception as exc:  # noqa: BLE001 - generation trouble is reported, not fatal
            report.failures.setdefault(
                ("generator", operation.method, operation.path, 0),
                Failure("generator", operation.method, operation.path, 0, repr(exc)[:300]),
            )


def operations(docs: dict[str, dict[str, Any]], depth: int = 3) -> Iterable[Any]:
    """Every operation of every document, in a stable order (bodies cut to ``depth`` levels)."""
    for gv in sorted(docs):
        schema = schemathesis.openapi.from_dict(shallow(docs[gv], depth))
        for result in schema.get_all_operations():
            yield result.ok()


def fuzz_server(
    url: str,
    *,
    examples: int = 12,
    seed_value: int = 0,
    token: str | None = None,
    verify: bool | str = True,
    server_pid: int | None = None,
    only: Callable[[str, str], bool] | None = None,
    progress: Callable[[str], None] | None = None,
    docs: dict[str, dict[str, Any]] | None = None,
    one_mode_each: bool = False,
    skip: frozenset[tuple[str, str]] = DESTRUCTIVE,
) -> FuzzReport:
    """Fuzz every operation (``only(method, path)`` filters) with ``examples`` cases per generation mode.

    ``docs`` (from ``load_documents``) skips fetching the documents and creating the fuzz namespace,
    for runs whose credentials cannot (a bad token). Returns the report; raises only when the
    documents cannot be fetched. ``one_mode_each`` alternates conforming and violating cases between
    operations instead of sending both to each (half the requests, for quick runs).
    """
    session = new_session(token, verify)
    report = FuzzReport(rss_before=tree_rss(server_pid))
    if docs is None:
        docs = load_documents(url, session)
        ensure_namespace(url, session)
    start = time.monotonic()
    for operation in operations(docs):
        if only and not only(operation.method, operation.path):
            continue
        if (operation.method.upper(), operation.path) in skip:
            continue
        report.operations += 1
        before = report.requests
        modes = (MODES[report.operations % 2],) if one_mode_each else MODES
        run_operation(operation, url, session, report, examples=examples, seed_value=seed_value, modes=modes)
        if progress:
            progress(f"{operation.method.upper():6} {operation.path}: {report.requests - before} requests")
    report.duration = time.monotonic() - start
    report.rss_after = tree_rss(server_pid)
    # as the fuzzer (an admin may have deleted the anonymous /readyz binding), else anonymously (bad token)
    report.ready_after = readyz(url, session) or readyz(url, new_session(None, verify))
    return report


def readyz(url: str, session: requests.Session) -> bool:
    """True when /readyz answers 200 within 10 seconds."""
    try:
        return session.get(f"{url}/readyz", timeout=10).status_code == 200
    except requests.RequestException:
        return False
