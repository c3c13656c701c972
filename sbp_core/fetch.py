"""Download the four MNIST IDX files from mirrors, verified, without ever leaving a bad file behind.

Each file goes to a temporary file beside its destination, is checked (its SHA-256 when checksums
are given, else its IDX structure) and only then moved into place with `os.replace`. Any IDX
dataset in the MNIST file layout (Fashion-MNIST, KMNIST, ...) can be fetched by passing its base
URL as a mirror with `checksums=None` or its own SHA256SUMS file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from sbp_core.data import MNIST_DIR_HINT, IdxError, one_line, read_idx
from sbp_core.errors import DataError

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",  # torchvision's primary mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist",  # CVDF bucket (TensorFlow/Keras)
    "http://yann.lecun.com/exdb/mnist",  # the original page (LeCun, Cortes, Burges)
)

# SHA-256 of the official gzipped files as distributed at yann.lecun.com/exdb/mnist and the mirrors
# above (their MD5s are the published ones that torchvision pins, e.g. f68b3c2d... for
# train-images); same values as the SHA256SUMS shipped with the project's reference copy.
OFFICIAL_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    }
)

_CHUNK = 1 << 20
_SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_USER_AGENT = "sbp-bench (MNIST fetch)"


@dataclass(frozen=True)
class Fetched:
    """A file in place; `source` is the URL it came from, None when an existing file was kept."""

    path: Path
    source: str | None


class _MirrorFailure(Exception):
    """One attempt failed; `transient` failures (network, 5xx, short transfer) are retried."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


# --- checksums ------------------------------------------------------------------------------


def load_checksums(spec: str | Path) -> Mapping[str, str] | None:
    """Checksums from a CLI value: 'official', 'none' (skip verification) or a SHA256SUMS file."""
    if str(spec) == "official":
        return OFFICIAL_SHA256
    if str(spec) == "none":
        return None
    path = Path(spec)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: checksums file not found (or use 'official' or 'none')") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read checksums file ({err})") from None
    sums = _parse_sums(lines, path)
    missing = _uncovered(sums)
    if missing:
        raise DataError(f"{path}: no SHA-256 for {', '.join(missing)}")
    return sums


def _parse_sums(lines: Sequence[str], path: Path) -> dict[str, str]:
    """`sha256sum` output: '<64 hex>  <name>' (or ' *<name>'); blank and # lines are skipped."""
    sums = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _SUMS_LINE.match(line.strip())
        if not match:
            raise DataError(f"{path}: line {number} is not '<sha256>  <file name>': {line[:60]!r}")
        sums[Path(match.group(2)).name] = match.group(1).lower()
    return sums


def _uncovered(checksums: Mapping[str, str]) -> list[str]:
    return [name for name in MNIST_FILES if name not in checksums]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- fetching -------------------------------------------------------------------------------


def fetch_mnist(
    dest_dir: str | Path,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    checksums: Mapping[str, str] | None = OFFICIAL_SHA256,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 0.5,
) -> list[Fetched]:
    """Make dest_dir hold the four verified MNIST files; files already good are kept.

    Each mirror is tried up to `retries` times (at least once) for transient failures, waiting
    backoff * 2**k seconds between attempts. A file failing on every mirror raises a one-line
    DataError.
    """
    dest = Path(dest_dir)
    _check_checksums_cover(checksums)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{dest}: cannot create the download folder ({err.strerror})") from None
    return [
        _fetch_one(dest / name, mirrors, checksums, retries, timeout, backoff)
        for name in MNIST_FILES
    ]


def _check_checksums_cover(checksums: Mapping[str, str] | None) -> None:
    missing = [] if checksums is None else _uncovered(checksums)
    if missing:
        raise DataError(
            f"no SHA-256 given for {', '.join(missing)}; pass checksums 'none' to skip verification"
        )


def _fetch_one(
    target: Path,
    mirrors: Sequence[str],
    checksums: Mapping[str, str] | None,
    retries: int,
    timeout: float,
    backoff: float,
) -> Fetched:
    expected = None if checksums is None else checksums[target.name]
    if target.is_file() and _problem(target, expected) is None:
        return Fetched(target, None)
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{target.name}"
        reason = _download_with_retries(url, target, expected, retries, timeout, backoff)
        if reason is None:
            return Fetched(target, url)
        failures.append(f"{mirror} ({reason})")
    tried = "; ".join(failures) or "no mirrors given"
    raise DataError(
        f"{target.name}: download failed from every mirror: {tried}. "
        f"Download the files by hand and {MNIST_DIR_HINT}"
    )


def _download_with_retries(
    url: str, target: Path, expected: str | None, retries: int, timeout: float, backoff: float
) -> str | None:
    """None on success, else the short reason of the last failed attempt."""
    for attempt in range(max(retries, 1)):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _download_verified(url, target, expected, timeout)
            return None
        except _MirrorFailure as failure:
            last = failure
            if not failure.transient:
                break
    return last.reason


def _download_verified(url: str, target: Path, expected: str | None, timeout: float) -> None:
    """Download into a temp file beside target, verify it, then move it into place atomically."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        out = tmp.open("xb")  # a fresh name, created with the user's umask
    except OSError as err:
        raise DataError(f"{target.parent}: cannot write the download ({err.strerror})") from None
    try:
        with out:
            _copy_url(url, out, timeout)
            out.flush()
            os.fsync(out.fileno())
        problem = _problem(tmp, expected)
        if problem:
            raise _MirrorFailure(problem, transient=False)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_url(url: str, out: BinaryIO, timeout: float) -> None:
    """Stream url into out; every way it can fail becomes a one-line _MirrorFailure."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as err:
        raise _MirrorFailure(f"HTTP {err.code}", transient=err.code >= 500) from None
    except urllib.error.URLError as err:
        missing = isinstance(err.reason, FileNotFoundError)
        reason = "not found" if missing else one_line(err.reason)
        raise _MirrorFailure(reason, transient=not missing) from None
    except TimeoutError:
        raise _MirrorFailure(f"timed out after {timeout:g} s", transient=True) from None
    except ValueError as err:
        raise _MirrorFailure(f"bad URL ({one_line(err)})", transient=False) from None
    except (OSError, http.client.HTTPException) as err:
        raise _MirrorFailure(one_line(err), transient=True) from None
    if announced is not None and received != int(announced):
        raise _MirrorFailure(f"got {received} of {announced} bytes", transient=True)


def _problem(path: Path, expected_sha256: str | None) -> str | None:
    """Why the file at path is not acceptable, or None: wrong SHA-256, else not a valid IDX file."""
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual == expected_sha256:
            return None
        return f"SHA-256 mismatch: got {actual[:12]}..., expected {expected_sha256[:12]}..."
    try:
        read_idx(path)
    except IdxError as err:
        return err.reason
    return None
