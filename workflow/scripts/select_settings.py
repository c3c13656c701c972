"""Snakemake script: a tuning unit's trials -> its selection file (chosen on validation)."""

from sbp_core.tuning.select import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
