# sbp-bench: sign backpropagation on simulated RRAM crossbars, benchmarked against its baselines.
# Table of contents only; the grid lives in config/, the logic in sbp_core/ and workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


# The default profile, unless --configfile names another (which then replaces it, not merges).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/tuning_common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        tuning_outputs(),
