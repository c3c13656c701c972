"""Per-process CPU accounting for `pipeline_timeline.py`: with this folder on PYTHONPATH and
PROCESS_CPU_LOG naming a file, every Python process started (Snakemake and each job it runs)
appends one JSON line at exit: its command line, wall seconds since start-up and its own user and
system CPU seconds (resource.getrusage, all its threads). Python imports `sitecustomize` at
start-up by itself; nothing else changes. A process ended by os._exit or a signal writes nothing.
"""

import atexit
import json
import os
import resource
import sys
import time

_STARTED = time.time()


def _record() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    line = {
        "argv": sys.argv,
        "wall_s": round(time.time() - _STARTED, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
    }
    with open(os.environ["PROCESS_CPU_LOG"], "a") as log:
        log.write(json.dumps(line) + "\n")


if os.environ.get("PROCESS_CPU_LOG"):
    atexit.register(_record)
