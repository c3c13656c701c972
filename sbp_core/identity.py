"""Which data a run trains on, as one SHA-256: RunSpec's `data_sha256`, and so part of its run id;
likewise which device file it simulates (`device_sha256`).

An IDX dataset (MNIST and look-alikes) is its four files: its identity is the SHA-256 of a listing
of the files' own SHA-256s by part (`<sha256>  train-images` lines), so a local folder and a
download verified against the same sums share run ids, and any other files give other run ids (a
gunzipped copy too: the identity is of the files, not of the pixels). The UCI digits ship inside
scikit-learn; their identity is the SHA-256 of the arrays a run reads.

A device file is identified by the SHA-256 of its bytes: two copies of one file share run ids
wherever they lie, and an edited file (a comment included) gives new ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path

from sbp_core.data import MNIST_DIR_HINT, find_mnist_file, load_digits_split
from sbp_core.errors import ConfigError, DataError
from sbp_core.fetch import MNIST_FILES, sha256_of
from sbp_core.spec import RunSpec, names_device_file

IDX_PARTS = ("train-images", "train-labels", "t10k-images", "t10k-labels")
"""The four files of an IDX dataset, in the order of fetch.MNIST_FILES."""
DIGITS_SOURCE = "scikit-learn's UCI digits"


def of_file_sums(sums: Mapping[str, str]) -> str:
    """The identity of an IDX dataset from each part's file SHA-256 (part -> hex digest)."""
    listing = "".join(f"{sums[part]}  {part}\n" for part in IDX_PARTS)
    return hashlib.sha256(listing.encode()).hexdigest()


def of_checksums(checksums: Mapping[str, str]) -> str:
    """The identity of a download verified against `checksums` (file name -> SHA-256)."""
    return of_file_sums(
        {part: checksums[name] for part, name in zip(IDX_PARTS, MNIST_FILES, strict=True)}
    )


def of_folder(directory: str | Path) -> str:
    """The identity of the four IDX files in `directory` (hashes about 11 MB for MNIST)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: MNIST folder not found; {MNIST_DIR_HINT}")
    return of_file_sums({part: sha256_of(find_mnist_file(directory, part)) for part in IDX_PARTS})


def of_digits() -> str:
    """The identity of the digits arrays (train and test split, with shapes and dtypes)."""
    digest = hashlib.sha256()
    for array in load_digits_split():
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def of_dataset(dataset: str, mnist_dir: str | Path | None) -> tuple[str, str]:
    """(identity, where the data is) of what a run of `dataset` reads, from mnist_dir for mnist."""
    if dataset == "digits":
        return of_digits(), DIGITS_SOURCE
    if mnist_dir is None:
        raise ConfigError(f"dataset mnist needs its files: {MNIST_DIR_HINT}")
    return of_folder(mnist_dir), str(mnist_dir)


def stamped(spec: RunSpec, actual: str, source: str) -> RunSpec:
    """`spec` with the data identity `actual` filled in; DataError naming `source` when the spec
    names other data (its run id stands for those, so these must not land in its folder)."""
    if spec.data_sha256 is None:
        return dataclasses.replace(spec, data_sha256=actual)
    if spec.data_sha256 != actual:
        raise DataError(
            f"{source}: data identity {actual[:12]}... differs from the run spec's data_sha256 "
            f"{spec.data_sha256[:12]}..., so these are not the data the run id stands for"
        )
    return spec


def of_device_file(path: str | Path) -> str:
    """The identity of a device file: the SHA-256 of its content."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: device file not found")
    return sha256_of(path)


def device_stamped(spec: RunSpec) -> RunSpec:
    """`spec` with the identity of the device file it names filled in (a preset: unchanged);
    ConfigError naming the file when the spec records another content (its run id stands for
    that one)."""
    if not names_device_file(spec.device):
        return spec
    actual = of_device_file(spec.device)
    if spec.device_sha256 is None:
        return dataclasses.replace(spec, device_sha256=actual)
    if spec.device_sha256 != actual:
        raise ConfigError(
            f"{spec.device}: device file content {actual[:12]}... differs from the run spec's "
            f"device_sha256 {spec.device_sha256[:12]}..., so this is not the device the run id "
            "stands for"
        )
    return spec
