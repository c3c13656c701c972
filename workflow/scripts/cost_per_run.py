"""Snakemake script: the periphery cost of every SBP run (cost_per_run.csv)."""

from sbp_core.report.cost_report import per_run_from_snakemake

per_run_from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
