"""kubeq's etcd: the only code that touches cluster state in Redis.

``Store`` holds revisioned objects with compare-and-swap writes, consistent paged lists,
gap-free watches and consumer groups over the change streams (``StreamChange``);
``start_embedded`` runs a local Redis for it; the selector parsers turn ``labelSelector`` /
``fieldSelector`` query values into matchers.
"""

import redis as _redis

from cluster.store.codec import RV_PLACEHOLDER
from cluster.store.consumer import StreamChange
from cluster.store.embedded import EmbeddedRedis, start_embedded
from cluster.store.listing import ListResult
from cluster.store.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from cluster.store.store import NamespaceTerminating, Store
from cluster.store.watching import WatchEvent

# what a store call raises when Redis cannot be reached (callers answer 503, not 500)
UNAVAILABLE: tuple[type[BaseException], ...] = (_redis.ConnectionError, _redis.TimeoutError)

__all__ = [
    "UNAVAILABLE",
    "RV_PLACEHOLDER",
    "EmbeddedRedis",
    "FieldSelector",
    "LabelSelector",
    "NamespaceTerminating",
    "ListResult",
    "Store",
    "StreamChange",
    "WatchEvent",
    "parse_field_selector",
    "parse_label_selector",
    "start_embedded",
]
