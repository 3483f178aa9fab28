"""A process runtime installed as the kubelet's runtime for one test, and cleaned up after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.kubelet import runtime
from workers.runtime.process import ProcessRuntime


@contextmanager
def installed_runtime(root: Path) -> Iterator[ProcessRuntime]:
    """A ``ProcessRuntime`` at ``root`` (no probes, no cgroups) that kubelet syncs use; on exit every
    sandbox is stopped and removed and the runtime is uninstalled."""
    r = ProcessRuntime(str(root), probes=False, use_cgroups=False)
    runtime.install(lambda: r)
    try:
        yield r
    finally:
        for sb in r.list_pod_sandboxes():
            r.stop_pod_sandbox(sb.id)
            r.remove_pod_sandbox(sb.id)
        r.close()
        runtime.uninstall()
