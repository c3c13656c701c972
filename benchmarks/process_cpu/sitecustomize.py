"""Per-process CPU accounting for `pipeline_timeline.py`: with this folder on PYTHONPATH and
PROCESS_CPU_LOG naming a file, every Python process started (Snakemake and each job it runs)
appends one JSON line at exit: its command line, wall seconds since start-up, its own user and
system CPU seconds (resource.getrusage, all its threads) and those of the child processes it waited
for. Python imports `sitecustomize` at start-up by itself; nothing else changes. A process ended by
os._exit or a signal writes nothing: a forked multiprocessing worker (log_mlflow's figure workers)
is counted only in its parent's children.
"""

import atexit
import json
import os
import resource
import sys
import time

_STARTED = time.time()


def _record() -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = {
        "argv": sys.argv,
        "wall_s": round(time.time() - _STARTED, 3),
        "cpu_s": round(own.ru_utime + own.ru_stime, 3),
        "children_cpu_s": round(children.ru_utime + children.ru_stime, 3),
    }
    with open(os.environ["PROCESS_CPU_LOG"], "a") as log:
        log.write(json.dumps(line) + "\n")


if os.environ.get("PROCESS_CPU_LOG"):
    atexit.register(_record)
