"""The API benchmark runs end to end: every verb's table has a row per level with positive throughput."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLES = (
    "create (",
    "get (",
    "list (",
    "update (",
    "watch delivery",
    "direct store create",
    "direct store update",
)


def _tables(output: str) -> dict[str, list[list[str]]]:
    """Title line -> data rows (split on whitespace) of each table in the printed output."""
    tables: dict[str, list[list[str]]] = {}
    for block in output.split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) >= 2 and lines[1].lstrip().startswith("clients"):
            tables[lines[0]] = [line.split() for line in lines[2:] if line.strip()]
    return tables


def test_benchmark_prints_a_row_per_level_with_positive_throughput(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "ops.bench.api", "--clients", "1,2", "--seconds", "0.5", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CPUs" in result.stdout and "Python" in result.stdout and "peer: kubeq apiserver" in result.stdout
    tables = _tables(result.stdout)
    for prefix in TABLES:
        titles = [t for t in tables if t.startswith(prefix)]
        assert len(titles) == 1, (prefix, list(tables))
        rows = tables[titles[0]]
        assert [row[0] for row in rows] == ["1", "2"], rows
        for row in rows:
            assert float(row[1]) > 0, row  # ops/s
            assert float(row[3]) >= float(row[2]) >= 0, row  # p99 >= p50
    for row in tables[next(t for t in tables if t.startswith("direct store update"))]:
        assert 0 < float(row[-1]) < 10  # API / direct ratio
    ports = re.findall(r"127\.0\.0\.1:(\d+)", result.stdout.split("\n\n")[0])
    assert len(ports) == 2  # the API server's and the embedded Redis's: both gone now
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
    figures = json.loads(out.read_text())
    assert figures["context"]["cpus"] >= 1
    assert all(r["ops_per_s"] > 0 for results in figures["api"].values() for r in results)
    assert set(figures["ratio_api_to_direct"]) == {"create", "update"}
