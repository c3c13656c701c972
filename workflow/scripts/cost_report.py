"""Snakemake script: periphery cost tables and figures (logic in sbp_core.report.cost_report)."""

from sbp_core.report.cost_report import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
