"""Figures of one run that MLflow shows beside its numbers: confusion matrix, state histogram.

They are written as SVG text, not drawn: MLflow's artifact view shows SVG, and writing a figure
takes about a millisecond where drawing it with matplotlib took 0.1-0.15 s, which was most of
`log_mlflow`'s CPU (one figure pair per run folder; benchmarks/README.md, section 10).
matplotlib still gives the colours and the tick positions, so they look like the page figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.ticker import MaxNLocator

FONTS = "DejaVu Sans, Arial, sans-serif"
"""matplotlib's default font first, so the run figures look like the page figures."""
FONT_PX = 12
"""Axis labels and titles; tick labels and cell counts are smaller."""

DEVICE_ARRAYS = ("G_", "A_")
"""Names of saved arrays that are conductances (a crossbar's G, TTv2's fast array A). The digital
buffers saved beside them (TTv2's H, mixed precision's chi) are not device states."""


def confusion(matrix: Sequence[Sequence[int]]) -> str:
    """A heat map of the test-set confusion matrix with its counts written in the cells."""
    counts = np.asarray(matrix)
    n = counts.shape[0]
    cell, left, top = 320 / n, 62, 36
    top_count = max(int(counts.max()), 1)
    blues = colormaps["Blues"]
    parts = [_text(left + 160, 22, "test-set confusion matrix (images)", FONT_PX + 1)]
    for (row, col), value in np.ndenumerate(counts):
        x, y = left + col * cell, top + row * cell
        fill = to_hex(blues(value / top_count))
        parts.append(_rect(x, y, cell, cell, fill=fill))
        color = "white" if value > top_count / 2 else "black"
        parts.append(_text(x + cell / 2, y + cell / 2 + 3, str(value), 8, fill=color))
    for k in range(n):
        parts.append(_text(left + (k + 0.5) * cell, top + 320 + 14, str(k), 10))
        parts.append(_text(left - 6, top + (k + 0.5) * cell + 3, str(k), 10, anchor="end"))
    parts.append(_text(left + 160, top + 320 + 34, "predicted class (label index)", FONT_PX))
    parts.append(_text(18, top + 160, "true class (label index)", FONT_PX, rotate=True))
    return _svg(400, 400, parts)


def histogram(arrays: Mapping[str, np.ndarray], g_max_s: float | None = None) -> str:
    """One step histogram per device array, over shared bins: the saved conductances are
    fractions of the device's Gmax, shown in microsiemens when `g_max_s` is given. For a run
    without devices (float, ste, binarized), one per software weight or bias array."""
    devices = {name: values for name, values in arrays.items() if name.startswith(DEVICE_ARRAYS)}
    scale = 1e6 * g_max_s if devices and g_max_s else 1.0
    shown = {name: np.ravel(values) * scale for name, values in (devices or arrays).items()}
    edges = np.histogram_bin_edges(np.concatenate(list(shown.values())), bins=60)
    heights = {name: np.histogram(values, edges)[0] for name, values in shown.items()}
    x_ticks = _ticks(edges[0], edges[-1])
    y_ticks = _ticks(0, max(max(int(h.max()) for h in heights.values()), 1))
    box = (70, 36, 390, 300)  # the plot's left, top, right and bottom edges, in pixels

    def at(x: float, y: float) -> tuple[float, float]:
        left, top, right, bottom = box
        span_x, span_y = x_ticks[-1] - x_ticks[0], y_ticks[-1] - y_ticks[0]
        return (left + (x - x_ticks[0]) / span_x * (right - left),
                bottom - (y - y_ticks[0]) / span_y * (bottom - top))  # fmt: skip

    left, top, right, bottom = box
    parts = [_rect(left, top, right - left, bottom - top, stroke="black")]
    for tick in x_ticks:
        x = at(tick, 0)[0]
        parts.append(_line(x, bottom, x, bottom + 4))
        parts.append(_text(x, bottom + 16, f"{tick:g}", 10))
    for tick in y_ticks:
        y = at(0, tick)[1]
        parts.append(_line(left - 4, y, left, y))
        parts.append(_text(left - 7, y + 3, f"{tick:g}", 10, anchor="end"))
    colors = colormaps["tab10"].colors
    for index, (name, counts) in enumerate(heights.items()):
        color = to_hex(colors[index % len(colors)])
        steps = [at(edges[0], 0)]
        for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
            steps += [at(low, count), at(high, count)]
        steps.append(at(edges[-1], 0))
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in steps)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}"/>')
        y = top + 10 + 16 * index
        parts.append(_line(right + 10, y, right + 30, y, color))
        parts.append(_text(right + 35, y + 4, name, 10, anchor="start"))
    what = "conductances" if devices else "weights"
    parts.append(_text((left + right) / 2, 22, f"final {what}", FONT_PX + 1))
    x_label = "weight (unitless)"
    if devices:
        x_label = "conductance (µS)" if scale != 1.0 else "conductance (G / Gmax)"
    parts.append(_text((left + right) / 2, bottom + 36, x_label, FONT_PX))
    y_label = "devices (count)" if devices else "weights (count)"
    parts.append(_text(16, (top + bottom) / 2, y_label, FONT_PX, rotate=True))
    return _svg(520, 350, parts)


def confusion_figure(matrix: Sequence[Sequence[int]], path: Path) -> None:
    path.write_text(confusion(matrix))


def histogram_figure(arrays: Mapping[str, np.ndarray], g_max_s: float | None, path: Path) -> None:
    path.write_text(histogram(arrays, g_max_s))


def _ticks(low: float, high: float) -> np.ndarray:
    """At most six round ticks that span [low, high], as matplotlib would place them."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return MaxNLocator(nbins=5).tick_values(low, high)


def _rect(
    x: float, y: float, width: float, height: float, fill: str = "none", stroke: str = "none"
) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{fill}" stroke="{stroke}"/>')  # fmt: skip


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = "black") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>'


def _text(
    x: float,
    y: float,
    text: str,
    size: int,
    *,
    anchor: str = "middle",
    fill: str = "black",
    rotate: bool = False,
) -> str:
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{turn}>{escape(text)}</text>')  # fmt: skip


def _svg(width: int, height: int, parts: list[str]) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONTS}">')  # fmt: skip
    return "\n".join([head, _rect(0, 0, width, height, fill="white"), *parts, "</svg>\n"])
