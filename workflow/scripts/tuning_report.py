"""Snakemake script: a tuned sweep's table or figure (sbp_core.tuning.report)."""

from sbp_core.tuning.report import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
