"""Figures of one run that MLflow shows beside its numbers: confusion matrix, state histogram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 100
"""Artifact previews in the MLflow UI, not page figures (those are sbp_core.report.page)."""


def confusion(matrix: Sequence[Sequence[int]]) -> Figure:
    counts = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    fig.subplots_adjust(left=0.14, right=0.95, bottom=0.12, top=0.92)
    ax.imshow(counts, cmap="Blues")
    for (row, col), value in np.ndenumerate(counts):
        color = "white" if value > counts.max() / 2 else "black"
        ax.text(col, row, str(value), ha="center", va="center", fontsize=7, color=color)
    ax.set(
        xlabel="predicted class (label index)",
        ylabel="true class (label index)",
        title="test-set confusion matrix (images)",
    )
    ax.set_xticks(range(counts.shape[1]))
    ax.set_yticks(range(counts.shape[0]))
    ax.grid(False)
    return fig


def histogram(arrays: Mapping[str, np.ndarray]) -> Figure:
    """One step histogram per saved array: conductances (siemens) or software weights."""
    conductances = any(name.startswith("G") for name in arrays)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.15, top=0.9)
    for name, values in arrays.items():
        ax.hist(np.ravel(values), bins=60, histtype="step", label=name)
    ax.set(
        xlabel="conductance (S)" if conductances else "weight (unitless)",
        ylabel="devices (count)" if conductances else "weights (count)",
        title="final conductances" if conductances else "final weights",
    )
    ax.legend(fontsize="small")
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]], path: Path) -> None:
    _save(confusion(matrix), path)


def histogram_figure(arrays: Mapping[str, np.ndarray], path: Path) -> None:
    _save(histogram(arrays), path)


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
