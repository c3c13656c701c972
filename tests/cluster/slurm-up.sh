#!/usr/bin/env bash
# A real one-node SLURM cluster on this host, for the cluster tests: installs Debian's SLURM and
# munge when missing, writes a minimal /etc/slurm/slurm.conf (state and logs in $SBP_SLURM_DIR),
# starts munged, slurmctld and slurmd, and waits until the node is idle. Running it again while
# the cluster is up changes nothing; slurm-down.sh stops it.
# The config goes where every SLURM command looks by default: the executor plugin's job steps
# drop SLURM_CONF from their environment (snakemake-executor-plugin-slurm-jobstep 0.6.1).
set -euo pipefail

dir=${SBP_SLURM_DIR:-/tmp/sbp-slurm}
conf=/etc/slurm/slurm.conf
marker="# Written by tests/cluster/slurm-up.sh"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
fi

if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
fi

if [[ -f $conf ]] && ! grep -qF "$marker" "$conf"; then
    echo "slurm-up.sh: $conf exists and is not ours: not touching a real cluster's config" >&2
    exit 1
fi

node=$(hostname -s)
cpus=$(nproc)
# Leave a little memory to the host: slurmd refuses a node that declares more than it has.
memory_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 512))
mkdir -p "$dir/state" "$dir/spool" "$(dirname "$conf")"
cat >"$conf.new" <<CONF
$marker: one node, this host, every core and most of its memory.
ClusterName=sbp-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# No accounting database: job states come from squeue, which keeps finished jobs this long.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$conf.new" "$conf"; then
    mv "$conf.new" "$conf"
    "$(dirname "$0")/slurm-down.sh" --keep-munge # a changed config takes a restart
else
    rm "$conf.new"
fi

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
running "$dir/slurmctld.pid" || slurmctld
running "$dir/slurmd.pid" || slurmd

for _ in $(seq 60); do
    state=$(sinfo --noheader --nodes "$node" --format %T 2>/dev/null || true)
    if [[ $state == idle ]]; then
        sinfo
        exit 0
    fi
    sleep 1
done
echo "slurm-up.sh: node $node is '${state:-unreachable}', not idle, after 60 s (logs in $dir)" >&2
exit 1
