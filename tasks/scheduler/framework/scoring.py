"""Score normalization shared by plugins."""

from __future__ import annotations

from tasks.scheduler.framework.interfaces import MAX_NODE_SCORE


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """Scale ``scores`` in place so the highest becomes 100 (or, reversed, the lowest becomes 100)."""
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        scaled = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - scaled if reverse else scaled


def min_max_normalize(scores: list[int]) -> None:
    """Scale ``scores`` in place onto 0..100 between their minimum and maximum (all 0 when equal)."""
    if not scores:
        return
    low, high = min(scores), max(scores)
    span = high - low
    for i, s in enumerate(scores):
        scores[i] = int(MAX_NODE_SCORE * (s - low) / span) if span > 0 else 0
