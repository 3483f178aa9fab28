"""Figures a test measured (fault outcomes, fuzz tables), shown together at the end of the run.

``report(text)`` prints the text (``pytest -s`` shows it at once) and keeps it; the root conftest
prints every kept figure in a "figures" section of the terminal summary, so CI logs carry them
without ``-s`` and without the processes' own output.
"""

from __future__ import annotations

FIGURES: list[str] = []


def report(text: str) -> None:
    print(text)
    FIGURES.append(text.strip("\n"))
