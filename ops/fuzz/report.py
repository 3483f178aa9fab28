"""What a fuzz run saw: requests, status counts, distinct failures, time and server memory."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import psutil

TOLERATED = frozenset({"front-door"})  # see ops.fuzz.checks


@dataclass(frozen=True)
class Failure:
    """One broken promise: ``check`` names it (``5xx``, ``not-a-status``, ``transport``...)."""

    check: str
    method: str
    path: str
    status: int
    detail: str
    reproduce: str = ""

    @property
    def signature(self) -> tuple[str, str, str, int]:
        """Failures with the same signature count once."""
        return (self.check, self.method, self.path, self.status)


@dataclass
class FuzzReport:
    """Totals of one run; ``ok`` is true when nothing failed and the server still answered /readyz."""

    requests: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str, int], Failure] = field(default_factory=dict)
    failure_count: int = 0
    tolerated: Counter[str] = field(default_factory=Counter)  # known gaps by check, not failures
    operations: int = 0
    duration: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    ready_after: bool = False

    def record(self, status: int, failure: Failure | None = None) -> None:
        """Count one request and, if it broke a promise, its failure."""
        self.requests += 1
        self.codes[status] += 1
        if failure is not None and failure.check in TOLERATED:
            self.tolerated[failure.check] += 1
        elif failure is not None:
            self.failure_count += 1
            self.failures.setdefault(failure.signature, failure)

    @property
    def ok(self) -> bool:
        return not self.failures and self.ready_after

    def table(self) -> str:
        """A plain-text summary for people and CI logs."""
        mib = 1024 * 1024
        rows = [
            ("operations", str(self.operations)),
            ("requests sent", str(self.requests)),
            *((f"  HTTP {code}", str(n)) for code, n in sorted(self.codes.items())),
            ("failures (distinct)", f"{self.failure_count} ({len(self.failures)})"),
            *((f"  tolerated {check}", str(n)) for check, n in sorted(self.tolerated.items())),
            ("duration", f"{self.duration:.1f} s ({self.requests / max(self.duration, 1e-9):.0f} req/s)"),
            ("server RSS before", f"{self.rss_before / mib:.1f} MiB"),
            ("server RSS after", f"{self.rss_after / mib:.1f} MiB"),
            ("/readyz after", "ok" if self.ready_after else "FAILED"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        for f in self.failures.values():
            lines.append(f"FAIL {f.check} {f.method.upper()} {f.path} -> {f.status}: {f.detail[:300]}")
            if f.reproduce:
                lines.append(f"     {f.reproduce[:600]}")
        return "\n".join(lines)


def tree_rss(pid: int | None) -> int:
    """Resident memory in bytes of process ``pid`` and all its children (0 when unknown or gone)."""
    if not pid:
        return 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total
