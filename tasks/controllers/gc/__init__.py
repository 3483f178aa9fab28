"""The garbage collector (``tasks.controllers.gc:GarbageCollector``): see ``collector``."""

from tasks.controllers.gc.collector import GarbageCollector

__all__ = ["GarbageCollector"]
