"""A tuned sweep's table and figures, from its selection files and the runs they name.

The table holds, per point and method, the tuned final runs' and the untuned runs' test accuracy
(median [IQR] and the 95 % stratified-bootstrap interval: sbp_core.tuning.stats), the settings
chosen on validation, the point they were tuned at, how many trials learned at all (a rule whose
search space is mostly at chance had fewer real trials than its K), the expected best validation
score of K/2 and of K trials (still rising: K was not enough) and which chosen values sit at an
end of their range (its good region may run past the space). The figures: expected
best validation accuracy against the number of trials, and the performance profile over a
sweep's devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sbp_core import runfolder  # noqa: E402
from sbp_core.data import N_CLASSES  # noqa: E402
from sbp_core.documents import read_document  # noqa: E402
from sbp_core.methods.registry import RULES  # noqa: E402
from sbp_core.report import learned, page, rule_log  # noqa: E402
from sbp_core.report.formats import to_markdown  # noqa: E402
from sbp_core.tuning import stats  # noqa: E402

EDGE = 0.1
"""A chosen value within this fraction of its range's end (by the dimension's scale) is at the
edge: the rule's good region may run past its declared space (docs/tuning_protocol.md)."""
TAUS = np.linspace(0.0, 0.5, 501)
"""Accuracy gaps of the performance profile: 0 to 50 points."""
PANELS_PER_ROW = 3
"""Methods per row of the expected-best figure: six in two rows fit the page's text width."""


def point_label(point: Mapping[str, Any]) -> str:
    """`device=ag_si`, `c2c_sigma=0.1, d2d_sigma=0.2`, or `-` for a sweep without axes."""
    return ", ".join(f"{axis}={value}" for axis, value in point.items()) or "-"


def test_accuracy(runs_dir: str | Path, run_id: str) -> float:
    """final_test_acc of a finished, verified run folder."""
    return float(runfolder.verify(Path(runs_dir) / run_id)["final_test_acc"])


def at_the_edge(method: str, settings: Mapping[str, Any]) -> str:
    """The chosen settings at an end of their declared range, `lr_out (top)`, or `-`."""
    edges = []
    for dimension in RULES[method].search_space:
        if dimension.name not in settings:  # a field the trial set leaves out
            continue
        position = dimension.position(settings[dimension.name])
        if position is not None and position <= EDGE:
            edges.append(f"{dimension.name} (bottom)")
        elif position is not None and position >= 1 - EDGE:
            edges.append(f"{dimension.name} (top)")
    return ", ".join(edges) or "-"


def trial_scores(selection: Mapping[str, Any]) -> list[float]:
    """The K trials' validation scores, a trial without one (NaN, never chosen) as 0."""
    return [np.nan_to_num(trial["score"], nan=0.0) for trial in selection["trials"]]


def summary(values: Sequence[float], prefix: str) -> dict[str, float]:
    """Median, quartiles and bootstrap interval of one set of seeds' accuracies."""
    median, q1, q3 = stats.median_iqr(values)
    low, high = stats.stratified_bootstrap_ci([values])
    return {
        f"{prefix}_median": median, f"{prefix}_q1": q1, f"{prefix}_q3": q3,
        f"{prefix}_ci_low": low, f"{prefix}_ci_high": high, f"{prefix}_seeds": len(values),
    }  # fmt: skip


def table(
    selections: Sequence[Mapping[str, Any]], runs_dir: str | Path, tuning: Mapping[str, Any]
) -> pd.DataFrame:
    """One row per point and method of the sweep, in the selections' order."""
    rows = []
    for selection in selections:
        chosen = selection["chosen"]
        scores = trial_scores(selection)
        trials = {
            "trials": len(scores),
            # still rising from K/2 to K: more trials would have found better settings
            "expected_best_half_k": stats.expected_max(scores, len(scores) // 2),
            "expected_best_k": stats.expected_max(scores, len(scores)),
            "trials_learned": sum(learned(score, N_CLASSES) for score in scores),
        }
        for entry in selection["untuned_runs"]:
            tuned = [
                test_accuracy(runs_dir, run["run_id"])
                for run in selection["final_runs"]
                if run["point"] == entry["point"]
            ]
            untuned = [test_accuracy(runs_dir, run_id) for run_id in entry["run_ids"]]
            rows.append(
                {
                    "point": point_label(entry["point"]),
                    "method": selection["method"],
                    **summary(tuned, "tuned"),
                    **summary(untuned, "untuned"),
                    "tuned_at": point_label(selection["point"]),
                    **trials,
                    "trial_epochs": tuning["trial_epochs"],
                    "selection": selection["rule"],
                    "chosen_val_score": chosen["score"],
                    "chosen_trial": chosen["trial"],
                    "settings": ", ".join(f"{k}={v}" for k, v in chosen["settings"].items()),
                    "at_the_edge": at_the_edge(selection["method"], chosen["settings"]),
                }
            )
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame, sweep: str) -> str:
    """The table as the reader reads it: accuracies in percent, median [IQR] and the CI."""

    def cell(row: pd.Series, prefix: str) -> str:
        return (
            f"{100 * row[f'{prefix}_median']:.1f} [{100 * row[f'{prefix}_q1']:.1f}, "
            f"{100 * row[f'{prefix}_q3']:.1f}]"
        )

    def interval(row: pd.Series, prefix: str) -> str:
        return f"{100 * row[f'{prefix}_ci_low']:.1f} to {100 * row[f'{prefix}_ci_high']:.1f}"

    shown = pd.DataFrame(
        {
            "point": frame["point"],
            "method": frame["method"],
            "tuned, median [IQR] (%)": frame.apply(cell, axis=1, prefix="tuned"),
            "tuned 95 % CI": frame.apply(interval, axis=1, prefix="tuned"),
            "untuned, median [IQR] (%)": frame.apply(cell, axis=1, prefix="untuned"),
            "untuned 95 % CI": frame.apply(interval, axis=1, prefix="untuned"),
            "seeds (tuned/untuned)": frame["tuned_seeds"].astype(str)
            + "/"
            + frame["untuned_seeds"].astype(str),
            "tuned at": frame["tuned_at"],
            "trials that learned": frame["trials_learned"].astype(str)
            + "/"
            + frame["trials"].astype(str),
            "expected best val., K/2 → K trials (%)": frame.apply(
                lambda row: (
                    f"{100 * row['expected_best_half_k']:.1f} → {100 * row['expected_best_k']:.1f}"
                ),
                axis=1,
            ),
            "chosen settings": frame["settings"],
            "chosen at a range's edge": frame["at_the_edge"],
        }
    )
    first = frame.iloc[0]
    title = (
        f"Sweep {sweep}: {first['trials']} trials of {first['trial_epochs']} epochs per method "
        f"and tuned point, chosen by {first['selection']} on the validation split"
    )
    return to_markdown(shown, title)


def expected_best_figure(selections: Sequence[Mapping[str, Any]]) -> plt.Figure:
    """Per method, expected best validation score of n trials (1..K), a line per tuned point,
    three panels a row to stay within the page; a legend of the points where there are any."""
    page.theme()
    methods = list(dict.fromkeys(selection["method"] for selection in selections))
    columns = min(len(methods), PANELS_PER_ROW)
    rows = -(-len(methods) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(page.TEXT_WIDTH_IN, 0.6 + 2.2 * rows), sharey=True,
        squeeze=False, layout="constrained",
    )  # fmt: skip
    for ax, method in zip(axes.flat, methods, strict=False):
        for selection in (s for s in selections if s["method"] == method):
            scores = trial_scores(selection)
            n = np.arange(1, len(scores) + 1)
            best = [100 * stats.expected_max(scores, k) for k in n]
            ax.plot(n, best, marker="o", markersize=3, label=point_label(selection["point"]))
        ax.set_title(method)
        ax.set_xlabel("trials (count)")
    for ax in axes.flat[len(methods) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("expected best\nval. accuracy (%)")
    if any(selection["point"] for selection in selections):  # a sweep without axes has one line
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", fontsize="small", frameon=False)
    return fig


def profile_figure(frame: pd.DataFrame) -> plt.Figure:
    """One performance profile of every method tuned (solid) and untuned (dashed), all measured
    against the best of them on each point, by their median test accuracy."""
    page.theme()
    fig, ax = plt.subplots(figsize=(page.TEXT_WIDTH_IN, 3.2), layout="constrained")
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = dict(zip(frame["method"].unique(), palette, strict=False))
    styles = {"tuned": "-", "untuned": "--"}
    scores = {
        (method, prefix): dict(zip(rows["point"], rows[f"{prefix}_median"], strict=True))
        for prefix in styles
        for method, rows in frame.groupby("method", sort=False)
    }
    for (method, prefix), fractions in stats.performance_profile(scores, TAUS).items():
        ax.step(
            100 * TAUS, fractions, where="post", linestyle=styles[prefix], color=colours[method],
            label=f"{method} ({prefix})",
        )  # fmt: skip
    ax.set_xlabel("tau: accuracy below the best (points)")
    ax.set_ylabel("fraction of devices")
    ax.set_ylim(-0.02, 1.02)
    fig.legend(loc="outside right center", fontsize="small", frameon=False)  # off the curves
    return fig


def from_snakemake(smk: Any) -> None:
    """Rules `tuning_table`, `tuning_expected_best` and `tuning_profile` of one tuned sweep."""
    with rule_log(smk):
        if smk.params.kind == "profile":  # from the sweep's table: its medians, not its bootstrap
            frame = pd.read_csv(smk.input.table)
            page.save(profile_figure(frame), smk.output.png, smk.output.pdf)
            return
        selections = [
            read_document(path, "selection file missing") for path in smk.input.selections
        ]
        if smk.params.kind == "expected_best":
            page.save(expected_best_figure(selections), smk.output.png, smk.output.pdf)
            return
        frame = table(selections, smk.params.runs, smk.params.tuning)
        frame.to_csv(smk.output.csv, index=False)
        Path(smk.output.md).write_text(markdown(frame, smk.wildcards.sweep))
