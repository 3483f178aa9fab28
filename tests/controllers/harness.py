"""Helpers the controller tests share: the real kubectl against a test cluster, workload manifests."""

from __future__ import annotations

import json
import subprocess
from typing import Any

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


def workload(
    kind: str,
    name: str,
    replicas: int,
    *,
    image: str = "registry.k8s.io/pause:3.10",
    app: str | None = None,
    extra_labels: dict[str, str] | None = None,
    pod_spec: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An apps/v1 ``kind`` (Deployment or ReplicaSet) of ``replicas`` pods labelled ``app``
    (default ``name``) plus ``extra_labels``; ``pod_spec`` adds to the pod template's spec."""
    labels = {"app": app or name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, **(extra_labels or {})}},
                "spec": {"containers": [{"name": "c", "image": image}], **(pod_spec or {})},
            },
            **spec,
        },
    }


def apply(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> None:
    """``kubectl apply`` of ``obj`` in ``namespace``."""
    kubectl(cluster, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(obj))


def release(cluster: Cluster, namespace: str, kind: str, name: str) -> None:
    """Drop every finalizer of ``kind/name`` (what lets a held object go)."""
    patch = '{"metadata":{"finalizers":null}}'
    kubectl(cluster, "patch", kind, name, "-n", namespace, "--type=merge", "-p", patch)
