"""Hollow nodes (like kwok): fake kubelets that register Nodes, renew Leases and "run" pods via the API.

``run_hollow_nodes(settings, count, ...)`` is the entry point; ``python -m workers.hollow`` its command.
"""

from workers.hollow.fleet import HollowFleet, Registration, run_hollow_nodes
from workers.hollow.objects import EXIT_CODE_ANNOTATION, SUCCEED_ANNOTATION

__all__ = ["EXIT_CODE_ANNOTATION", "SUCCEED_ANNOTATION", "HollowFleet", "Registration", "run_hollow_nodes"]
