"""Data identities (RunSpec's `data_sha256`) in words, for every figure and table title.

A table that names its data `f7183b0644d6` says nothing to a reader; these are the identities
this project can compute (sbp_core.identity): the UCI digits scikit-learn ships, and the official
MNIST and Fashion-MNIST files (gzipped, as distributed and as `fetch-mnist` verifies them; a
gunzipped copy is other files). Other data are named by a prefix of their identity
("data 0123456789ab").
"""

from __future__ import annotations

from types import MappingProxyType

from sbp_core.fetch import OFFICIAL_SHA256
from sbp_core.identity import of_checksums

DIGITS_SHA256 = "f7183b0644d65463b76818673a5d0d6dc8e61ce4f721674e7c08f936bf32770d"
"""`identity.of_digits()` with scikit-learn's digits (tests/test_report.py recomputes it)."""
PREFIX = 12

FASHION_MNIST_SHA256 = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": (
            "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"
        ),
        "train-labels-idx1-ubyte.gz": (
            "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"
        ),
    }
)
"""SHA-256 of the gzipped Fashion-MNIST files as Zalando distributes them
(github.com/zalandoresearch/fashion-mnist), as two independent public packages pin them: the
`mnists` package (C. Olding, its hashes module, whose MNIST sums equal fetch.OFFICIAL_SHA256) and
`batchup`'s fashion_mnist module. Not computed here: no copy of the files is at hand."""

KNOWN_DATA = MappingProxyType(
    {
        DIGITS_SHA256: "UCI digits",
        of_checksums(OFFICIAL_SHA256): "MNIST",
        of_checksums(FASHION_MNIST_SHA256): "Fashion-MNIST",
    }
)
"""Identity -> name of every dataset this registry knows."""


def data_name(sha256: str) -> str:
    """The dataset's name, or `data <prefix>` for data this registry does not know."""
    return KNOWN_DATA.get(sha256, f"data {str(sha256)[:PREFIX]}")


def data_names(shas) -> str:
    """The names of every dataset among `shas`, in order of appearance, joined by ' + '."""
    return " + ".join(dict.fromkeys(data_name(sha) for sha in shas if isinstance(sha, str)))
