"""Dataset arrays for training: IDX files (MNIST and look-alikes), the UCI digits, splits, inputs.

Pixels and labels stay uint8 from disk to learner; conversion to binary read pulses or float32
happens per call (`binarize`, `to_unit_float`), so no float64 copy of MNIST is ever held.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sbp_core.errors import ConfigError, DataError

IDX_LABELS_MAGIC = 0x00000801
"""Unsigned bytes, one dimension (item count)."""
IDX_IMAGES_MAGIC = 0x00000803
"""Unsigned bytes, three dimensions (item count, rows, columns)."""
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

MNIST_DIR_HINT = "set mnist_dir (config) or --mnist-dir (CLI) to a folder with the four IDX files"
N_CLASSES = 10

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0
"""Fixed whatever the run seed, so every run is scored on the same digits test set."""


class IdxError(DataError):
    """An IDX file is unreadable or malformed; `reason` is the message without the file name."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


# --- IDX files ------------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """Read an MNIST-style IDX file (uint8 labels or images), gzipped or not, checking every byte.

    Gzip is recognised by its magic bytes, not the file name. The header must describe exactly the
    bytes that follow: truncated and over-long files are errors, as is a corrupt gzip stream.
    """
    path = Path(path)
    try:
        with path.open("rb") as raw:
            if raw.read(2) == GZIP_MAGIC:
                raw.seek(0)
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read_idx_stream(stream, path)
            raw.seek(0)
            return _read_idx_stream(raw, path)
    except FileNotFoundError:
        raise IdxError(path, "file not found") from None
    except IsADirectoryError:
        raise IdxError(path, "is a folder, not an IDX file") from None
    except (gzip.BadGzipFile, zlib.error, EOFError) as err:
        raise IdxError(path, f"corrupt or truncated gzip stream ({one_line(err)})") from None
    except OSError as err:
        raise IdxError(path, f"cannot read ({one_line(err)})") from None


def _read_idx_stream(stream: BinaryIO, path: Path) -> np.ndarray:
    """Parse header then payload from an open (possibly decompressing) byte stream."""
    shape = _read_idx_header(stream, path)
    expected = math.prod(shape)
    payload = _read_up_to(stream, expected)
    extra = 0 if len(payload) < expected else _count_remaining(stream)
    if len(payload) != expected or extra:
        problem = "truncated" if extra == 0 else "too long"
        raise IdxError(
            path,
            f"{problem}: header says {_dims_text(shape)} = {expected} bytes of data, "
            f"file has {len(payload) + extra}",
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _read_idx_header(stream: BinaryIO, path: Path) -> tuple[int, ...]:
    """Magic number and dimensions; only the two uint8 layouts MNIST uses are accepted."""
    magic_bytes = stream.read(4)
    if len(magic_bytes) < 4:
        raise IdxError(path, f"too short for an IDX header ({len(magic_bytes)} bytes)")
    magic = int.from_bytes(magic_bytes, "big")
    if magic not in (IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC):
        raise IdxError(
            path,
            f"not an MNIST IDX file: magic number 0x{magic:08X}, expected "
            f"0x{IDX_LABELS_MAGIC:08X} (labels) or 0x{IDX_IMAGES_MAGIC:08X} (images)",
        )
    n_dims = magic & 0xFF
    dims_bytes = stream.read(4 * n_dims)
    if len(dims_bytes) < 4 * n_dims:
        raise IdxError(path, f"truncated header: {n_dims} dimensions announced")
    shape = tuple(int.from_bytes(dims_bytes[i : i + 4], "big") for i in range(0, 4 * n_dims, 4))
    if 0 in shape:
        raise IdxError(path, f"empty dimension in header ({_dims_text(shape)})")
    return shape


def _read_up_to(stream: BinaryIO, n_bytes: int) -> bytearray:
    """Read at most n_bytes in chunks (a lying header cannot force a huge allocation up front)."""
    data = bytearray()
    while len(data) < n_bytes:
        chunk = stream.read(min(n_bytes - len(data), _CHUNK))
        if not chunk:
            break
        data += chunk
    return data


def _count_remaining(stream: BinaryIO) -> int:
    """Bytes left in the stream; reading to the end also makes gzip verify its CRC."""
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
    return total


def _dims_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def one_line(err: object) -> str:
    """An exception's message squeezed onto one line, for one-line user errors."""
    return " ".join(str(err).split()) or type(err).__name__


# --- MNIST folders --------------------------------------------------------------------------


def find_mnist_file(directory: Path, part: str) -> Path:
    """The file of one part ("train-images", ...): official or dotted name, gzipped or not."""
    idx = "idx3" if part.endswith("images") else "idx1"
    candidates = [
        directory / f"{part}{sep}{idx}-ubyte{ext}" for sep in ("-", ".") for ext in (".gz", "")
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{directory / candidates[0].name}: MNIST file missing (also looked for "
        f"{', '.join(c.name for c in candidates[1:])}); {MNIST_DIR_HINT}"
    )


def load_mnist(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) as uint8, images flattened to (n, rows * cols).

    Works for any dataset stored in the MNIST IDX layout (Fashion-MNIST, KMNIST, ...).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: MNIST folder not found; {MNIST_DIR_HINT}")
    X_train, y_train = _load_mnist_split(directory, "train")
    X_test, y_test = _load_mnist_split(directory, "t10k")
    train_size, test_size = _dims_text(X_train.shape[1:]), _dims_text(X_test.shape[1:])
    if train_size != test_size:
        raise DataError(
            f"{find_mnist_file(directory, 't10k-images')}: images are {test_size} "
            f"but the training images are {train_size}"
        )
    n_train, n_test = len(X_train), len(X_test)
    return X_train.reshape(n_train, -1), y_train, X_test.reshape(n_test, -1), y_test


def _load_mnist_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, rows, cols) and labels (n,) of one split, checked against each other."""
    images_path = find_mnist_file(directory, f"{split}-images")
    labels_path = find_mnist_file(directory, f"{split}-labels")
    images = _read_idx_expecting(images_path, n_dims=3, kind="images")
    labels = _read_idx_expecting(labels_path, n_dims=1, kind="labels")
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(images)} images"
        )
    _check_labels(labels, labels_path)
    return images, labels


def _read_idx_expecting(path: Path, n_dims: int, kind: str) -> np.ndarray:
    array = read_idx(path)
    if array.ndim != n_dims:
        raise DataError(f"{path}: expected {kind} ({n_dims}-D IDX), found a {array.ndim}-D file")
    return array


def _check_labels(labels: np.ndarray, path: Path) -> None:
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(
            f"{path}: label {labels[bad[0]]} at index {bad[0]} is outside 0..{N_CLASSES - 1}"
        )


# --- UCI digits -----------------------------------------------------------------------------


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) of the 1797 8x8 UCI digits (pixels 0..16) as uint8.

    The stratified 75/25 split uses a fixed seed, so the test set is the same for every run.
    """
    X, y = digits_arrays()
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    train_idx, test_idx = stratified_split(y, DIGITS_TEST_FRACTION, rng)
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(pixels, labels) of the 1797 UCI digits as uint8, in scikit-learn's order, read from the
    copy it ships (`digits.csv.gz`, which its `load_digits` reads: a row per image, its 64 pixels,
    then its label) without importing scikit-learn: that import takes 1.4 s of CPU, more than a
    digits run's training, in every process of the default profile."""
    package = importlib.util.find_spec("sklearn")  # a dependency: found, never imported here
    path = Path(package.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DataError(f"{path}: scikit-learn's copy of the UCI digits not found")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1], table[:, -1]


# --- splits and the Dataset -----------------------------------------------------------------


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) sorted indices; each class gives round(fraction * its count) to held-out.

    Plain numpy rather than scikit-learn's splitters, so the split depends only on the numpy
    generator and never fails on small classes.
    """
    held = [
        rng.permutation(members)[: int(fraction * members.size + 0.5)]
        for members in (np.flatnonzero(y == label) for label in np.unique(y))
    ]
    held_idx = np.sort(np.concatenate(held)) if held else np.empty(0, dtype=np.intp)
    kept = np.ones(len(y), dtype=bool)
    kept[held_idx] = False
    return np.flatnonzero(kept), held_idx


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays: uint8 pixels (n, n_features) and uint8 labels (n,).

    `sbp_core.train.network_inputs` swaps the pixels for what a method reads (bool or float32).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    max_value: int
    """Largest possible pixel value: 255 for MNIST, 16 for the UCI digits."""
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def load_dataset(
    name: str,
    *,
    mnist_dir: str | Path | None = None,
    val_fraction: float = 0.1,
    n_train: int = 0,
    seed: int = 0,
) -> Dataset:
    """Load a dataset and carve out the validation set and the training subset for one run.

    The validation set is a stratified, seeded share of the official training set (never the test
    set). The remaining training images are shuffled with the same seed and the first `n_train`
    kept (0 keeps all): for one seed, a smaller subset is contained in every larger one, which is
    what a learning curve over n_train needs.
    """
    X_pool, y_pool, X_test, y_test, max_value = _load_train_test(name, mnist_dir)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = stratified_split(y_pool, val_fraction, rng)
    train_idx = rng.permutation(train_idx)
    if n_train > len(train_idx):
        raise ConfigError(
            f"n_train ({n_train}) exceeds the {len(train_idx)} {name} training images left "
            f"after the validation split"
        )
    if n_train:
        train_idx = train_idx[:n_train]
    return Dataset(
        name=name,
        X_train=X_pool[train_idx],
        y_train=y_pool[train_idx],
        X_val=X_pool[val_idx],
        y_val=y_pool[val_idx],
        X_test=X_test,
        y_test=y_test,
        max_value=max_value,
        n_classes=N_CLASSES,
    )


def _load_train_test(
    name: str, mnist_dir: str | Path | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    if name == "digits":
        return (*load_digits_split(), 16)
    if name == "mnist":
        if mnist_dir is None:
            raise ConfigError(f"dataset mnist needs its files: {MNIST_DIR_HINT}")
        return (*load_mnist(mnist_dir), 255)
    raise ConfigError(f"dataset must be digits or mnist, got {name!r}")


# --- network inputs -------------------------------------------------------------------------


def centre_crop(X: np.ndarray, side: int, name: str) -> np.ndarray:
    """The centred side x side square of every flattened square image (NeuroSim trains on the
    20 x 20 centre of MNIST, where nearly all the ink is)."""
    full = math.isqrt(X.shape[1])
    if full * full != X.shape[1]:
        raise ConfigError(
            f"input_crop needs square images; the {name} images have {X.shape[1]} pixels"
        )
    if side > full:
        raise ConfigError(f"input_crop ({side}) exceeds the {full}x{full} {name} images")
    start = (full - side) // 2
    square = X.reshape(len(X), full, full)[:, start : start + side, start : start + side]
    return square.reshape(len(X), side * side)


def binarize(X: np.ndarray, threshold: float, max_value: float) -> np.ndarray:
    """Binary read pulses: a pixel is on when strictly above threshold * max_value."""
    return np.greater(X, threshold * max_value)


def to_unit_float(X: np.ndarray, max_value: float) -> np.ndarray:
    """Real-valued inputs in [0, 1] as float32 (half the memory of float64, ample precision)."""
    out = X.astype(np.float32)
    out /= np.float32(max_value)
    return out
