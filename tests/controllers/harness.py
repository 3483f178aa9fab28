"""Helpers the controller tests share: running the real kubectl against a test cluster."""

from __future__ import annotations

import subprocess

from tests.e2e.scheduling import Cluster


def kubectl(
    cluster: Cluster, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run ``kubectl *args`` with the cluster's kubeconfig and cache dir, ``stdin`` fed to it.

    With ``check`` (the default) the exit code must be 0; the assertion message carries stderr and stdout.
    """
    cmd = ["kubectl", f"--kubeconfig={cluster.server.kubeconfig}", f"--cache-dir={cluster.cache_dir}", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}{result.stdout}"
    return result
