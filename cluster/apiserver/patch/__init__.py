"""The four Kubernetes patch types as pure functions on JSON-style dicts.

- ``apply_json_patch``: RFC 6902 operations (``application/json-patch+json``).
- ``apply_merge_patch``: RFC 7386 (``application/merge-patch+json``).
- ``apply_strategic_merge_patch``: Kubernetes' schema-driven merge
  (``application/strategic-merge-patch+json``).
- ``server_side_apply`` / ``record_update_manager``: field ownership in
  ``metadata.managedFields`` (``application/apply-patch+yaml`` and writes with a ``fieldManager``).

None of them mutates its inputs; malformed input raises ``BadRequest`` or ``Invalid``.
"""

from cluster.apiserver.patch.apply import server_side_apply
from cluster.apiserver.patch.json_patch import apply_json_patch
from cluster.apiserver.patch.managed import record_update_manager
from cluster.apiserver.patch.merge_patch import apply_merge_patch
from cluster.apiserver.patch.strategic import apply_strategic_merge_patch

__all__ = [
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "record_update_manager",
    "server_side_apply",
]
