#!/usr/bin/env bash
# Stops the cluster that slurm-up.sh started (its jobs with it), and munged unless --keep-munge.
# Stopping a cluster that is not running does nothing.
set -euo pipefail

dir=${SBP_SLURM_DIR:-/tmp/sbp-slurm}

stop() { # pid file: ends that process and waits for it
    local pid
    [[ -f $1 ]] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    rm -f "$1"
}

if [[ -f $dir/slurmctld.pid ]]; then
    scancel --user "$(id -un)" 2>/dev/null || true
fi
stop "$dir/slurmd.pid"
stop "$dir/slurmctld.pid"
if [[ ${1:-} != --keep-munge ]]; then
    stop /run/munge/munged.pid
fi
