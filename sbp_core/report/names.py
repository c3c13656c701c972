"""Data identities (RunSpec's `data_sha256`) in words, for every figure and table title.

A table that names its data `f7183b0644d6` says nothing to a reader; these are the identities
this project can compute itself (sbp_core.identity): the UCI digits scikit-learn ships, and the
official MNIST files (gzipped, as distributed and as `fetch-mnist` verifies them). Other data are
named by a prefix of their identity ("data 0123456789ab").
"""

from __future__ import annotations

from types import MappingProxyType

from sbp_core.fetch import OFFICIAL_SHA256
from sbp_core.identity import of_checksums

DIGITS_SHA256 = "f7183b0644d65463b76818673a5d0d6dc8e61ce4f721674e7c08f936bf32770d"
"""`identity.of_digits()` with scikit-learn's digits (tests/test_report.py recomputes it)."""
PREFIX = 12

KNOWN_DATA = MappingProxyType({DIGITS_SHA256: "UCI digits", of_checksums(OFFICIAL_SHA256): "MNIST"})
"""Identity -> name of every dataset whose identity is computed here."""


def data_name(sha256: str) -> str:
    """The dataset's name, or `data <prefix>` for data this registry does not know."""
    return KNOWN_DATA.get(sha256, f"data {str(sha256)[:PREFIX]}")


def data_names(shas) -> str:
    """The names of every dataset among `shas`, in order of appearance, joined by ' + '."""
    return " + ".join(dict.fromkeys(data_name(sha) for sha in shas if isinstance(sha, str)))
