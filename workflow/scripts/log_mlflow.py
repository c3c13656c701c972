"""Snakemake script: log every finished run to MLflow from this one process."""

import json
from contextlib import redirect_stderr
from pathlib import Path

from sbp_core.tracking import log_runs, read_cost


def main(smk) -> None:
    params = smk.params
    summary = log_runs(
        run_dirs=[Path(metrics).parent for metrics in smk.input.metrics],
        sweeps=params.sweeps,
        memberships=params.memberships,
        tracking_uri=params.tracking_uri,
        experiment=params.experiment,
        artifact_root=params.artifact_root,
        provenance=params.provenance,
        cost=read_cost(smk.input.cost),
        workers=smk.threads,
    )
    Path(smk.output[0]).write_text(json.dumps(summary, indent=2) + "\n")


with open(snakemake.log[0], "w") as log, redirect_stderr(log):  # noqa: F821 (injected)
    main(snakemake)  # noqa: F821
