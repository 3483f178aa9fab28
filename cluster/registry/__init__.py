"""Per-resource strategy over the store: admission, the spec/status split, subresources."""

from cluster.registry import meta, subresources
from cluster.registry.admission import WriteOptions, check_schema
from cluster.registry.bootstrap import ensure_system_namespaces, ensure_system_priority_classes
from cluster.registry.deletion import DeleteOptions, delete, returns_object, success_status
from cluster.registry.registry import ListQuery, Registry, parse_rv

__all__ = [
    "DeleteOptions",
    "ListQuery",
    "Registry",
    "WriteOptions",
    "check_schema",
    "delete",
    "ensure_system_namespaces",
    "ensure_system_priority_classes",
    "meta",
    "parse_rv",
    "returns_object",
    "subresources",
    "success_status",
]
