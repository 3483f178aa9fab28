"""Schemathesis against the served OpenAPI v3 documents: no 5xx, every 4xx a Status, server healthy.

The default run sends one case per operation, schema-conforming and schema-violating in turn (every
operation of every group-version, a few hundred requests); ``-m slow`` sends at least 5,000. Both are
seeded, so a failure repeats. The report table is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import pytest

from ops.fuzz.openapi_run import fuzz_server as run_fuzz
from ops.fuzz.report import FuzzReport
from tests.figures import report as show_figures

MIB = 1024 * 1024


def assert_clean(report: FuzzReport, min_requests: int) -> None:
    show_figures("\n" + report.table())
    assert report.requests >= min_requests, report.table()
    assert not report.failures, report.table()
    assert report.ready_after, report.table()
    assert 500 not in report.codes


def test_every_operation_once_per_mode_never_5xx(fuzz_server) -> None:  # type: ignore[no-untyped-def]
    report = run_fuzz(
        fuzz_server.url, examples=1, seed_value=7, server_pid=fuzz_server.process.pid, one_mode_each=True
    )
    assert report.operations >= 200
    assert_clean(report, min_requests=report.operations // 2)


@pytest.mark.slow
def test_five_thousand_generated_requests_never_5xx(fuzz_server) -> None:  # type: ignore[no-untyped-def]
    report = run_fuzz(fuzz_server.url, examples=13, seed_value=1, server_pid=fuzz_server.process.pid)
    assert_clean(report, min_requests=5000)
    assert report.rss_after - report.rss_before < 300 * MIB, report.table()
