"""A plain-text scatter plot of median lead time against precision, for terminals and logs."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: One series: a name, its marker character and its (precision, lead seconds) points.
Series = tuple[str, str, Sequence[tuple[float, float]]]


def lead_precision_plot(series: Sequence[Series], width: int = 60, height: int = 14) -> str:
    """Draw each series' points, precision (0-1) across, median lead (s) up.

    Points with an undefined coordinate are left out; where two series share a cell the
    later one is drawn. The legend names each marker.

    Examples
    --------
    >>> print(lead_precision_plot([("a", "*", [(0.5, 10.0)])], width=11, height=3))
    lead s
      10.0 |     *
           |
       0.0 |
           +-----------
            0    .5   1  precision
    a *
    """
    points = [(x, y) for _, _, pts in series for x, y in pts if _finite(x) and _finite(y)]
    top = max((y for _, y in points), default=1.0) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for _, mark, pts in series:
        for x, y in pts:
            if not (_finite(x) and _finite(y)):
                continue
            col = min(width - 1, max(0, round(x * (width - 1))))
            row = min(height - 1, max(0, round((1 - y / top) * (height - 1))))
            grid[row][col] = mark
    lines = ["lead s"]
    for i, cells in enumerate(grid):
        label = f"{top:6.1f}" if i == 0 else f"{0.0:6.1f}" if i == height - 1 else " " * 6
        lines.append(f"{label} |{''.join(cells)}".rstrip())
    lines.append(" " * 7 + "+" + "-" * width)
    axis = [" "] * width
    for frac, text in ((0.0, "0"), (0.5, ".5"), (1.0, "1")):
        at = min(width - len(text), round(frac * (width - 1)))
        axis[at : at + len(text)] = text
    lines.append(" " * 8 + "".join(axis).rstrip() + "  precision")
    lines.append("  ".join(f"{name} {mark}" for name, mark, _ in series))
    return "\n".join(lines)


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
