#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the SLURM integration test (tests/test_slurm.py).
#
#   tools/slurm/cluster.sh up      install slurm-wlm + munge (Debian, as root) if missing, write the
#                                  config, start munged, slurmctld and slurmd; wait until the node is idle
#   tools/slurm/cluster.sh down    cancel jobs, stop the daemons, remove the config and state
#   tools/slurm/cluster.sh status  sinfo
#
# Partitions `cpu` (default) and `gpu`; the node offers 2 fake GPUs (character devices made with
# mknod, which is all gres.conf needs), so `--gpus=1` schedules like on a GPU node. No accounting
# (profiles/slurm uses squeue for status; MinJobAge keeps finished jobs visible to it). Runs
# without systemd (containers, CI). It refuses to touch a slurm.conf it did not write.
set -euo pipefail

STATE=${DATAENGINE_SLURM_STATE:-/tmp/dataengine-slurm}
CONF_DIR=/etc/slurm
MARK="# written by dataengine tools/slurm/cluster.sh"
HOST=$(hostname -s)

die() { echo "cluster.sh: $*" >&2; exit 1; }

ours() { [[ ! -e $CONF_DIR/slurm.conf ]] || head -1 "$CONF_DIR/slurm.conf" | grep -qxF "$MARK"; }

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    [[ $(id -u) == 0 ]] || die "slurm-wlm and munge are missing; run as root to install them"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    ours || die "$CONF_DIR/slurm.conf exists and was not written by this script; not touching it"
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    mkdir -p "$STATE"/{ctld,spool,dev} "$CONF_DIR"
    for n in 0 1; do
        [[ -c $STATE/dev/nvidia$n ]] || mknod "$STATE/dev/nvidia$n" c 1 3
    done
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=dataengine
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Without DefMemPerCPU a job takes the node's whole memory and jobs run one at a time.
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Finished jobs stay visible to squeue for 10 minutes: the executor's status check relies on it.
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF
    cat >"$CONF_DIR/gres.conf" <<EOF
$MARK
AutoDetect=off
NodeName=$HOST Name=gpu File=$STATE/dev/nvidia[0-1]
EOF
}

start_daemons() {
    if ! pgrep -u munge -x munged >/dev/null; then
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        chown munge:munge /run/munge /var/log/munge /var/lib/munge
        [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create
        runuser -u munge -- munged
    fi
    [[ -s $STATE/slurmctld.pid ]] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null || slurmctld
    [[ -s $STATE/slurmd.pid ]] && kill -0 "$(cat "$STATE/slurmd.pid")" 2>/dev/null || slurmd -N "$HOST"
    for _ in $(seq 60); do
        if sinfo -h -N -o '%t' 2>/dev/null | grep -qx idle; then
            sinfo
            return
        fi
        sleep 1
    done
    tail -20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
    die "the node did not become idle within 60 s (logs above)"
}

stop_pid() {  # pid file
    [[ -s $1 ]] || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    ours || die "$CONF_DIR/slurm.conf was not written by this script; not touching it"
    [[ -e $CONF_DIR/slurm.conf ]] && scancel --full --user root 2>/dev/null || true
    stop_pid "$STATE/slurmd.pid"
    stop_pid "$STATE/slurmctld.pid"
    stop_pid /run/munge/munged.pid
    rm -f "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"
    rm -rf "$STATE"
}

case ${1:-} in
    up) install_packages; write_config; start_daemons ;;
    down) down ;;
    status) sinfo ;;
    *) die "usage: $0 up|down|status" ;;
esac
