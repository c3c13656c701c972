"""Snakemake script: one figure (PNG and PDF) of one sweep from the tidy tables."""

from sbp_core.report.figures import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
