"""sbp_core.data: IDX parsing and its errors, MNIST folders, digits splits, input encodings."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.machinery
import importlib.util
import shutil

import numpy as np
import pytest

from sbp_core.data import (
    Dataset,
    binarize,
    centre_crop,
    digits_arrays,
    load_dataset,
    load_digits_split,
    load_mnist,
    read_idx,
    stratified_split,
    to_unit_float,
)
from sbp_core.errors import ConfigError, DataError

IMAGES = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
LABELS = np.array([5, 0, 4], dtype=np.uint8)


def error_of(call, *args, **kwargs) -> str:
    """The message of the DataError the call raises, checked to be a single line."""
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- read_idx -------------------------------------------------------------------------------


@pytest.mark.parametrize("array", [IMAGES, LABELS], ids=["images", "labels"])
def test_gzip_and_raw_give_identical_arrays(tmp_path, write_idx, array):
    raw = read_idx(write_idx(tmp_path / "raw", array))
    packed = read_idx(write_idx(tmp_path / "packed.gz", array, gz=True))
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, array)
    np.testing.assert_array_equal(packed, array)


def test_gzip_is_detected_by_content_not_name(tmp_path, write_idx):
    gz_without_suffix = write_idx(tmp_path / "images-idx3-ubyte", IMAGES, gz=True)
    raw_with_gz_suffix = write_idx(tmp_path / "images-idx3-ubyte.gz", IMAGES)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), IMAGES)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), IMAGES)


def test_result_is_writable(tmp_path, write_idx):
    array = read_idx(write_idx(tmp_path / "x.gz", IMAGES, gz=True))
    array[0, 0, 0] = 7  # learners and splits may modify their inputs in place
    assert array[0, 0, 0] == 7


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_truncated_file(tmp_path, write_idx, gz):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", IMAGES, gz=gz, cut=7)
    message = error_of(read_idx, path)
    assert message == f"{path}: truncated: header says 3x4x5 = 60 bytes of data, file has 53"


def test_over_long_file(tmp_path, write_idx):
    path = write_idx(tmp_path / "labels", LABELS, tail=b"\x00\x01")
    assert "too long: header says 3 = 3 bytes of data, file has 5" in error_of(read_idx, path)


def test_header_dims_inconsistent_with_data(tmp_path, write_idx):
    path = write_idx(tmp_path / "images", IMAGES, dims=(3, 28, 28))
    assert "header says 3x28x28 = 2352 bytes of data, file has 60" in error_of(read_idx, path)


@pytest.mark.parametrize(
    "magic, shown",
    [(0x00000802, "0x00000802"), (0x00000D03, "0x00000D03"), (0x1F000803, "0x1F000803")],
    ids=["two-dims", "float-data", "garbage"],
)
def test_wrong_magic(tmp_path, write_idx, magic, shown):
    path = write_idx(tmp_path / "images", IMAGES, magic=magic)
    message = error_of(read_idx, path)
    assert message.startswith(f"{path}: not an MNIST IDX file: magic number {shown}")


def test_short_and_empty_header(tmp_path, write_idx):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert "too short for an IDX header (0 bytes)" in error_of(read_idx, empty)
    half_header = tmp_path / "half"
    half_header.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x03")
    assert "truncated header: 3 dimensions" in error_of(read_idx, half_header)
    zero = write_idx(tmp_path / "zero", IMAGES, dims=(0, 4, 5), cut=60)
    assert "empty dimension" in error_of(read_idx, zero)


def test_corrupt_gzip_stream_is_one_line(tmp_path, write_idx):
    path = write_idx(tmp_path / "images.gz", IMAGES, gz=True)
    content = bytearray(path.read_bytes())
    content[12:20] = b"\xff" * 8  # inside the deflate data
    path.write_bytes(bytes(content))
    assert "corrupt or truncated gzip stream" in error_of(read_idx, path)


def test_cut_gzip_stream_is_one_line(tmp_path, write_idx):
    path = write_idx(tmp_path / "images.gz", IMAGES, gz=True)
    path.write_bytes(path.read_bytes()[:-12])
    assert "corrupt or truncated gzip stream" in error_of(read_idx, path)


def test_gzip_crc_mismatch_is_caught(tmp_path):
    header = (0x801).to_bytes(4, "big") + (3).to_bytes(4, "big")
    content = bytearray(gzip.compress(header + LABELS.tobytes(), mtime=0))
    content[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    path = tmp_path / "labels.gz"
    path.write_bytes(bytes(content))
    assert "CRC" in error_of(read_idx, path)


def test_missing_file(tmp_path):
    assert error_of(read_idx, tmp_path / "nope") == f"{tmp_path / 'nope'}: file not found"


# --- load_mnist -----------------------------------------------------------------------------


def test_load_mnist_flattens_and_keeps_uint8(fake_mnist_dir):
    X_train, y_train, X_test, y_test = load_mnist(fake_mnist_dir)
    assert X_train.shape == (40, 16) and X_test.shape == (20, 16)
    assert y_train.shape == (40,) and y_test.shape == (20,)
    assert {a.dtype for a in (X_train, y_train, X_test, y_test)} == {np.dtype(np.uint8)}


@pytest.mark.parametrize(
    "rename",
    [
        lambda name: name.removesuffix(".gz"),
        lambda name: name.replace("s-idx", "s.idx"),
        lambda name: name.replace("s-idx", "s.idx").removesuffix(".gz"),
    ],
    ids=["uncompressed-name", "dotted", "dotted-uncompressed-name"],
)
def test_load_mnist_accepts_name_variants(fake_mnist_dir, tmp_path, rename):
    variant = tmp_path / "variant"
    variant.mkdir()
    for path in fake_mnist_dir.iterdir():
        shutil.copy(path, variant / rename(path.name))
    for expected, got in zip(load_mnist(fake_mnist_dir), load_mnist(variant), strict=True):
        np.testing.assert_array_equal(expected, got)


def test_missing_folder_points_at_the_settings(tmp_path):
    message = error_of(load_mnist, tmp_path / "absent")
    assert str(tmp_path / "absent") in message
    assert "mnist_dir" in message and "--mnist-dir" in message


def test_missing_file_is_named(fake_mnist_dir):
    (fake_mnist_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    message = error_of(load_mnist, fake_mnist_dir)
    assert "t10k-labels-idx1-ubyte.gz: MNIST file missing" in message
    assert "t10k-labels.idx1-ubyte" in message and "--mnist-dir" in message


def test_label_image_count_mismatch(fake_mnist_dir, write_idx):
    labels = fake_mnist_dir / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.zeros(39, dtype=np.uint8), gz=True)
    assert error_of(load_mnist, fake_mnist_dir) == (
        f"{labels}: 39 labels but train-images-idx3-ubyte.gz has 40 images"
    )


def test_train_and_test_image_sizes_differ(fake_mnist_dir, write_idx):
    test_images = fake_mnist_dir / "t10k-images-idx3-ubyte.gz"
    write_idx(test_images, np.zeros((20, 5, 5), dtype=np.uint8), gz=True)
    assert error_of(load_mnist, fake_mnist_dir) == (
        f"{test_images}: images are 5x5 but the training images are 4x4"
    )


def test_label_out_of_range(fake_mnist_dir, write_idx):
    labels = fake_mnist_dir / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, np.array([1] * 7 + [12] + [0] * 12, dtype=np.uint8), gz=True)
    assert error_of(load_mnist, fake_mnist_dir) == (
        f"{labels}: label 12 at index 7 is outside 0..9"
    )


def test_labels_file_in_place_of_images(fake_mnist_dir):
    images = fake_mnist_dir / "train-images-idx3-ubyte.gz"
    shutil.copy(fake_mnist_dir / "train-labels-idx1-ubyte.gz", images)
    assert "expected images (3-D IDX), found a 1-D file" in error_of(load_mnist, fake_mnist_dir)


@pytest.mark.mnist
def test_real_mnist(mnist_dir):
    X_train, y_train, X_test, y_test = load_mnist(mnist_dir)
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.uint8 and X_train.max() == 255
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(y_train).tolist()[:2] == [5923, 6742]


@pytest.mark.mnist
def test_real_mnist_dataset(mnist_dir):
    data = load_dataset("mnist", mnist_dir=mnist_dir, n_train=1000, seed=2)
    assert (len(data.X_train), len(data.X_val), len(data.X_test)) == (1000, 6000, 10000)
    assert data.max_value == 255 and data.n_features == 784 and data.n_classes == 10


# --- digits, splits and load_dataset --------------------------------------------------------


def test_digits_fixed_split():
    X_train, y_train, X_test, y_test = load_digits_split()
    assert len(X_train) + len(X_test) == 1797
    assert X_train.shape[1] == 64 and X_train.dtype == np.uint8 and X_train.max() == 16
    counts = np.bincount(np.concatenate([y_train, y_test]))
    np.testing.assert_allclose(np.bincount(y_test), 0.25 * counts, atol=0.5)


def test_digits_read_without_scikit_learn_are_its_load_digits():
    from sklearn.datasets import load_digits

    X, y = digits_arrays()
    digits = load_digits()
    assert X.dtype == y.dtype == np.uint8
    np.testing.assert_array_equal(X, digits.data)
    np.testing.assert_array_equal(y, digits.target)


def test_digits_file_missing_is_one_line_naming_it(monkeypatch, tmp_path):
    (tmp_path / "__init__.py").touch()
    package = importlib.machinery.ModuleSpec("sklearn", None, origin=str(tmp_path / "__init__.py"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: package)
    with pytest.raises(DataError) as err:
        digits_arrays()
    assert str(tmp_path / "datasets" / "data" / "digits.csv.gz") in str(err.value)
    assert "\n" not in str(err.value)


def test_digits_test_set_is_independent_of_the_run_seed():
    first, second = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    np.testing.assert_array_equal(first.X_test, second.X_test)
    np.testing.assert_array_equal(first.y_test, second.y_test)


def test_validation_split_depends_on_seed_and_is_reproducible():
    first, again, other = (load_dataset("digits", seed=s) for s in (5, 5, 6))
    for name in ("X_train", "y_train", "X_val", "y_val"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.X_val, other.X_val)


def test_validation_split_is_stratified_and_from_training_pool():
    data = load_dataset("digits", val_fraction=0.2, seed=3)
    X_pool, y_pool, _, _ = load_digits_split()
    assert len(data.X_train) + len(data.X_val) == len(X_pool)
    pool_counts = np.bincount(y_pool)
    np.testing.assert_allclose(np.bincount(data.y_val), 0.2 * pool_counts, atol=0.5)
    rows = np.concatenate([data.X_train, data.X_val])
    np.testing.assert_array_equal(np.unique(rows, axis=0), np.unique(X_pool, axis=0))


def test_stratified_split_partitions_indices():
    y = np.array([0] * 7 + [1] * 3 + [2] * 10)
    kept, held = stratified_split(y, 0.3, np.random.default_rng(0))
    assert np.intersect1d(kept, held).size == 0
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(20))
    assert np.bincount(y[held]).tolist() == [2, 1, 3]


def test_n_train_subsets_are_nested():
    small, large = (load_dataset("digits", n_train=n, seed=4) for n in (50, 200))
    assert len(small.X_train) == 50 and len(large.X_train) == 200
    np.testing.assert_array_equal(small.X_train, large.X_train[:50])
    np.testing.assert_array_equal(small.X_val, large.X_val)


def test_n_train_larger_than_available():
    with pytest.raises(ConfigError, match=r"^n_train \(5000\) exceeds the 1210 digits"):
        load_dataset("digits", n_train=5000)


def test_zero_validation_fraction():
    data = load_dataset("digits", val_fraction=0.0)
    assert data.X_val.shape == (0, 64) and data.y_val.shape == (0,)
    assert len(data.X_train) == 1346


def test_dataset_is_frozen_and_compact():
    data = load_dataset("digits")
    assert isinstance(data, Dataset) and data.max_value == 16 and data.n_classes == 10
    arrays = (data.X_train, data.y_train, data.X_val, data.y_val, data.X_test, data.y_test)
    assert all(a.dtype == np.uint8 for a in arrays)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"


def test_dataset_name_and_mnist_dir_errors():
    with pytest.raises(ConfigError, match="digits or mnist"):
        load_dataset("cifar")
    with pytest.raises(ConfigError, match="--mnist-dir"):
        load_dataset("mnist")


# --- input encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "threshold, expected",
    [(0.0, [0, 1, 1, 1, 1]), (0.5, [0, 0, 0, 1, 1]), (1.0, [0, 0, 0, 0, 0])],
)
def test_binarize_is_strictly_above_the_threshold(threshold, expected):
    X = np.array([0, 1, 8, 9, 16], dtype=np.uint8)
    result = binarize(X, threshold, 16)
    assert result.dtype == np.bool_
    assert result.astype(int).tolist() == expected


def test_binarize_mnist_scale():
    X = np.array([[127, 128, 255]], dtype=np.uint8)
    assert binarize(X, 0.5, 255).tolist() == [[False, True, True]]


def test_to_unit_float():
    X = np.array([[0, 51, 255]], dtype=np.uint8)
    result = to_unit_float(X, 255)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [[0.0, 0.2, 1.0]], rtol=1e-7)


def test_centre_crop_keeps_the_middle_square():
    X = np.arange(2 * 36).reshape(2, 36)  # two 6x6 images
    out = centre_crop(X, 4, "toy")
    assert out.shape == (2, 16)
    np.testing.assert_array_equal(out[1].reshape(4, 4), X[1].reshape(6, 6)[1:5, 1:5])


def test_a_crop_larger_than_the_image_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"input_crop \(9\) exceeds the 8x8 digits images"):
        centre_crop(np.zeros((1, 64)), 9, "digits")
