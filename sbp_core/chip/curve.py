"""The NeuroSim device curve and its nonlinearity labels.

One pulse moves a device along the NeuroSim curve (Chen et al., "NeuroSim: a circuit-level macro
model for benchmarking neuro-inspired architectures in online learning", IEEE TCAD 37(12), 2018):

    G(P) = B (1 - exp(-P / A)) + Gmin,   B = (Gmax - Gmin) / (1 - exp(-Pmax / A))

with P the pulse number (0..Pmax) and A set by the nonlinearity label of the direction (sign
included, A -> infinity for a linear device). A SET (LTP) pulse moves P -> P + 1 along the LTP
curve; a RESET (LTD) pulse moves P -> P - 1 along the LTD curve. Written in terms of the current
conductance this is an affine map per device and direction (`affine`),

    g_new = alpha + beta * g   (then Gaussian cycle-to-cycle noise, then clipping to the bounds),

so no inverse curve and no loop over devices, and device-to-device variation simply makes alpha,
beta and the bounds per-device arrays.
"""

from __future__ import annotations

import numpy as np

from sbp_core.errors import ConfigError

# NeuroSim normalises A to Pmax and defines the nonlinearity label NL through the largest
# deviation of the normalised LTP curve from the straight line: deviation = NL * 0.099
# (it reproduces NeuroSim's tabulated getParamA to 4 digits: NL 0.01 -> 126.27, 1 -> 1.2517,
# 9 -> 0.02281; see tests/test_device.py).
_DEVIATION_PER_NL = 0.099
MAX_LABEL = 9.0
"""Nonlinearity labels lie in [-MAX_LABEL, MAX_LABEL], the range NeuroSim tabulates (getParamA):
a label outside it is rejected wherever it is given, and device-to-device draws of a label are
truncated to it (a truncated Gaussian; docs/method.md, "Device")."""


def check_label(label: float, name: str) -> None:
    """A one-line ConfigError unless `label` is a nonlinearity label NeuroSim defines."""
    if not abs(label) <= MAX_LABEL:  # NaN fails too
        raise ConfigError(
            f"{name} must be in [-{MAX_LABEL:g}, {MAX_LABEL:g}] (NeuroSim's nonlinearity labels),"
            f" got {label!r}"
        )


def nonlinearity_to_a(nl: float | np.ndarray) -> float | np.ndarray:
    """NeuroSim's curvature parameter A, normalised to Pmax, for nonlinearity labels (inf at 0).

    Vectorised bisection (in log A) on the curve's largest deviation from the straight line,
    which falls monotonically as A grows, once per distinct label: an array of identical devices
    costs one bisection, not one per device.
    """
    nl = np.asarray(nl, dtype=float)
    labels, where = np.unique(nl, return_inverse=True)
    check_label(labels[np.argmax(np.abs(labels))], "nonlinearity label")
    target = np.abs(labels) * _DEVIATION_PER_NL
    low, high = np.full(labels.shape, -14.0), np.full(labels.shape, 14.0)  # log A
    for _ in range(64):
        mid = 0.5 * (low + high)
        too_curved = _max_deviation(np.exp(mid)) > target
        low, high = np.where(too_curved, mid, low), np.where(too_curved, high, mid)
    a = np.where(labels == 0, np.inf, np.copysign(np.exp(0.5 * (low + high)), labels))
    a = a[where].reshape(nl.shape)
    return float(a) if a.ndim == 0 else a


def a_to_nonlinearity(a: float | np.ndarray) -> float | np.ndarray:
    """The nonlinearity label of a normalised curvature A (the inverse of `nonlinearity_to_a`;
    infinite A, the straight line, is label 0), not truncated to [-MAX_LABEL, MAX_LABEL]."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = _max_deviation(np.abs(a))
    label = np.where(np.isinf(a), 0.0, np.sign(a) * deviation / _DEVIATION_PER_NL)
    return float(label) if label.ndim == 0 else label


def _max_deviation(a: np.ndarray) -> np.ndarray:
    """Largest gap between the normalised curve (1 - e^(-p/a)) / (1 - e^(-1/a)) and p on [0, 1]."""
    c = -np.expm1(-1.0 / a)
    p_star = a * np.log(1.0 / (a * c))
    return (1.0 - a * c) / c - p_star


def truncated_labels(labels: np.ndarray) -> np.ndarray:
    """Device-to-device draws of a label, truncated to the labels NeuroSim defines."""
    return np.clip(labels, -MAX_LABEL, MAX_LABEL)


def affine(
    nl: np.ndarray, g_lo: np.ndarray, g_hi: np.ndarray, pulses: np.ndarray, direction: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (alpha, beta) of g_new = alpha + beta * g for one pulse in one direction.

    With x = g - Gmin and A in pulses, the NeuroSim curve gives x_new = B - (B - x) e^(-d/A) for
    d = +1 (SET) or -1 (RESET); a linear device gives x_new = x + d * range / Pmax.
    """
    span = g_hi - g_lo
    a_norm = np.asarray(nonlinearity_to_a(nl))
    linear = np.isinf(a_norm)
    a = np.where(linear, 1.0, a_norm * pulses)  # any finite A where linear: masked out below
    b = span / -np.expm1(-pulses / a)
    k = np.exp(-direction / a)
    x_coef = np.where(linear, 1.0, k)
    x_const = np.where(linear, direction * span / pulses, b * (1.0 - k))
    # back from x = g - g_lo to g: g_new = g_lo + x_const + x_coef * (g - g_lo)
    return g_lo + x_const - x_coef * g_lo, x_coef


def nominal_fractions(n_states: int, nl_ltp: float) -> np.ndarray:
    """Fraction of the range, (G - Gmin) / (Gmax - Gmin), after k = 0..Pmax SET pulses from Gmin
    on the LTP curve of label `nl_ltp`."""
    fraction = np.arange(n_states) / (n_states - 1)
    a = nonlinearity_to_a(nl_ltp)
    return fraction if np.isinf(a) else np.expm1(-fraction / a) / np.expm1(-1.0 / a)
