"""What every benchmark writes: a JSON file of its figures and a PNG chart of its latency distributions.

``save(name, figures, latencies)`` writes ``ops/bench/results/<name>-<stamp>.json`` and, when
``latencies`` (label -> milliseconds) is given and matplotlib is installed, a PNG beside it with one
empirical CDF per label; it returns the paths and prints them. ``table(headers, rows)`` formats a
Markdown table (what each benchmark prints); ``ratio(a, b)`` is ``a / b`` rounded, None when b is 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; floats get one decimal (three under 10)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return "" if value is None else str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join(
        [line(list(headers)), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)]
    )


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def save(
    name: str,
    figures: dict[str, Any],
    latencies: dict[str, Sequence[float]] | None = None,
    output: str | Path | None = None,
    title: str = "",
) -> dict[str, str]:
    """Write the JSON (at ``output`` if given) and the chart; returns {"json": path, "png": path?}."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(output) if output else RESULTS / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    written = {"json": str(path)}
    if latencies:
        png = chart(path.with_suffix(".png"), latencies, title or name)
        if png:
            written["png"] = str(png)
    for kind, where in written.items():
        print(f"{kind} written to {where}", flush=True)
    return written


def chart(path: Path, latencies: dict[str, Sequence[float]], title: str) -> Path | None:
    """One empirical CDF per label (log-scaled milliseconds); None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[bench]')", flush=True)
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in latencies.items():
        ordered = sorted(v for v in values if v > 0)
        if not ordered:
            continue
        n = len(ordered)
        ax.step(ordered, [(i + 1) / n for i in range(n)], where="post", label=f"{label} (n={n})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of operations")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
