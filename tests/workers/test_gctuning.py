"""The collector settings every long-running kubeq process starts with (``workers.gctuning``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workers.gctuning import DEFAULT, thresholds

PROBE = (
    "import gc, json; from workers import gctuning; gctuning.tune(); n = gctuning.freeze();"
    "print(json.dumps([gc.get_threshold(), n]))"
)


def _in_a_process(env: dict[str, str]) -> tuple[list[int], int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    got, frozen = json.loads(out.stdout)
    return got, frozen


def test_thresholds_come_from_the_environment_or_the_default() -> None:
    assert thresholds("700,10,10") == (700, 10, 10)
    assert thresholds("") == DEFAULT
    assert thresholds("1,2") == DEFAULT and thresholds("a,b,c") == DEFAULT and thresholds("-1,2,3") == DEFAULT


def test_a_process_runs_tuned_and_frozen() -> None:
    got, frozen = _in_a_process({"KUBEQ_GC_THRESHOLD": ""})
    assert tuple(got) == DEFAULT and frozen > 1000  # the modules imported at start-up are frozen
    got, _ = _in_a_process({"KUBEQ_GC_THRESHOLD": "700,10,10"})
    assert tuple(got) == (700, 10, 10)
