"""The scheduler benchmark runs end to end at a tiny size: every pod bound, a sane table and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``python -m ops.bench.scheduler ARGS`` with its JSON and process log under ``tmp_path``."""
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.bench.scheduler",
            *args,
            "--output",
            str(out),
            "--log",
            str(tmp_path / "processes.log"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, out


def test_tiny_spread_run_binds_every_pod_and_reports_quality(tmp_path: Path) -> None:
    result, out = _bench(tmp_path, "--nodes", "12", "--pods", "30", "--variant", "spread")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "12 hollow nodes, 30 pods, variant spread" in result.stdout
    assert "pods bound       30 / 30" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["bound"] == figures["created"] == 30 and figures["create_errors"] == 0
    assert figures["pods_per_s"] > 0 and figures["p99_ms"] >= figures["p50_ms"] > 0
    quality = figures["quality"]
    assert quality["overcommitted_nodes"] == [] and quality["anti_affinity_violations"] == 0
    assert sum(quality["pods_per_zone"].values()) == 30 and quality["zone_skew"] <= 1  # maxSkew 1 held
    assert quality["max_pods_per_node"] >= quality["min_pods_per_node"] >= 0


def test_backlog_run_starts_the_scheduler_after_every_pod_is_pending(tmp_path: Path) -> None:
    result, out = _bench(tmp_path, "--nodes", "10", "--pods", "40", "--backlog", "--no-pod-start")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "40 pods pending; starting the scheduler(s)" in result.stderr
    assert "every pod pending first" in result.stdout and "pods bound       40 / 40" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["context"]["backlog"] is True and figures["bound"] == 40
    # the scheduler process started after the pods existed, so its start-up precedes every binding
    assert figures["scheduler_start_to_first_bound_seconds"] > 0
    assert figures["p50_ms"] >= figures["scheduler_start_to_first_bound_seconds"] * 1000 * 0.9
