"""How every report figure is sized and saved: for a page of a two-column paper, at 300 dpi.

A figure is at most the text width of a two-column paper (7 in, a full-width `figure*`; one
column is 3.5 in) and MAX_HEIGHT_IN tall. It is saved at its own size (constrained layout, no
tight bounding box, so legends sit inside the figure) and at DPI, so its pixels are its inches
times DPI: at most 2100 x 2400 px.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 300
TEXT_WIDTH_IN = 7.0
COLUMN_WIDTH_IN = 3.5
MAX_HEIGHT_IN = 8.0
MAX_PIXELS = 2400
"""No side of a saved PNG exceeds this (`check_figure` in tests/conftest.py, for every kind)."""


def theme() -> None:
    """The one look of every report figure: seaborn's paper context, white grid."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)


def save(fig: Figure, png: str | Path, pdf: str | Path) -> None:
    """PNG at DPI and PDF, without timestamps (a rerun writes the same bytes), then close."""
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None})
    plt.close(fig)
