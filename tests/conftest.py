"""Shared pytest fixtures."""

from __future__ import annotations

import fcntl
import gzip
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# --- data fixtures (sbp_core.data / sbp_core.fetch) ------------------------------------------

SHARED_MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
"""The read-only reference copy beside the repository clone; SBP_MNIST_DIR overrides it."""


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with the four official MNIST .gz files; the test is skipped when it is absent."""
    directory = Path(os.environ.get("SBP_MNIST_DIR") or SHARED_MNIST_DIR)
    names = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
    if not all((directory / f"{name}-ubyte.gz").is_file() for name in names):
        pytest.skip(f"MNIST .gz files not found in {directory} (set SBP_MNIST_DIR)")
    return directory


def write_idx_file(
    path: Path,
    array: np.ndarray,
    *,
    gz: bool = False,
    magic: int | None = None,
    dims: tuple[int, ...] | None = None,
    cut: int = 0,
    tail: bytes = b"",
) -> Path:
    """Write uint8 `array` as IDX; magic, dims, cut (bytes dropped) and tail forge broken files."""
    magic = (0x800 + array.ndim) if magic is None else magic
    dims = array.shape if dims is None else dims
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    payload = array.astype(np.uint8).tobytes()
    content = header + payload[: len(payload) - cut] + tail
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    return write_idx_file


def write_fake_mnist(directory: Path, n_train: int = 40, n_test: int = 20, side: int = 4) -> Path:
    """Four small valid MNIST-layout .gz files with seeded random pixels and labels 0..9."""
    rng = np.random.default_rng(123)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx_file(directory / f"{split}-images-idx3-ubyte.gz", images, gz=True)
        write_idx_file(directory / f"{split}-labels-idx1-ubyte.gz", labels, gz=True)
    return directory


@pytest.fixture
def fake_mnist_dir(tmp_path: Path) -> Path:
    """A folder holding a tiny, valid dataset under the four official MNIST .gz names."""
    return write_fake_mnist(tmp_path / "fake_mnist")


# --- end of data fixtures --------------------------------------------------------------------


# --- figure checks (sbp_core.report) ---------------------------------------------------------

NUMBER = re.compile(r"[-+\d.,e]+")
"""A tick label that is a number once matplotlib's math markup is stripped (10$^{-4}$, −0.5)."""


def _is_number(text: str) -> bool:
    plain = re.sub(r"\\mathdefault|[${}^\s]", "", text).replace("\N{MINUS SIGN}", "-")
    return bool(NUMBER.fullmatch(plain))


def check_figure(fig: Figure, png: Path, save: Callable[[Figure, Path], None]) -> None:
    """Every axis with tick labels has a label, with a unit in parentheses where the ticks are
    numbers; saved by `save`, the PNG is at most page.MAX_PIXELS on each side."""
    import matplotlib.pyplot as plt

    from sbp_core.report import page

    fig.canvas.draw()
    unlabelled = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis) if ax.axison else ():
            ticks = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
            label = axis.get_label().get_text()
            numeric = ticks and all(map(_is_number, ticks))
            if ticks and not (re.search(r"\(.+\)", label) if numeric else label):
                unlabelled.append(f"{ax.get_title()!r} {axis.axis_name}: {label!r} for {ticks}")
    assert not unlabelled, unlabelled
    save(fig, png)
    height, width = plt.imread(png).shape[:2]
    assert max(width, height) <= page.MAX_PIXELS, (width, height)


@pytest.fixture
def readable() -> Callable[[Figure, Path, Callable[[Figure, Path], None]], None]:
    return check_figure


# --- a tuned profile, run once (test_tuning, test_tracking_tuning) ---------------------------


@pytest.fixture(scope="session")
def tuned_pipeline(tmp_path_factory, worker_id) -> Path:
    """test_tuning's SHARED_POINT profile run by Snakemake up to its tuning tables, once per
    session: the tests that go on from there (rerun, resume, MLflow logging) each take a copy
    (`shutil.copytree`, which keeps the modification times Snakemake compares). Under
    pytest-xdist (`make test`) the workers share one run: the first builds it under a lock in
    the session's common temporary folder, the others wait and reuse it."""
    from test_pipeline import workflow_copy
    from test_tuning import SHARED_POINT, TUNING_TARGETS, snakemake

    if worker_id == "master":
        workdir = workflow_copy(tmp_path_factory.mktemp("tuned"), SHARED_POINT)
        snakemake(workdir, *TUNING_TARGETS)
        return workdir
    shared = tmp_path_factory.getbasetemp().parent  # one per session, beside each worker's
    with open(shared / "tuned.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "tuned.done"
        if not done.exists():
            shutil.rmtree(shared / "tuned", ignore_errors=True)  # a failed first attempt's
            workdir = workflow_copy(shared / "tuned", SHARED_POINT)
            snakemake(workdir, *TUNING_TARGETS)
            done.write_text(str(workdir))
        return Path(done.read_text())
