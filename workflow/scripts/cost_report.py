"""Snakemake script: periphery cost tables and figures."""

from sbp_core.report.cost_report import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
