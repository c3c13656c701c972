"""Snakemake script: every finished run into MLflow, from this one process."""

from sbp_core.tracking import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
