#!/usr/bin/env bash
# tests/tools/slurm_local.sh — a one-node Slurm cluster of this machine for the tests: munged with
# a fresh key, slurmctld and slurmd for a node named localhost with this machine's CPUs, PMIx as
# the default MPI plugin, every file (configuration, state, spool, logs, sockets) under DIR, and
# ports of its own (so that it does not meet a Slurm the machine may run). Runs as root.
# TaskPlugin=task/affinity makes srun --cpu-bind bind tasks as on a cluster (sched_setaffinity; no
# cgroups needed). A job past its --time gets SIGTERM, and SIGKILL KillWait = 5 s later
# (OverTimeLimit=0: no grace). slurmctld looks for jobs past their limit every 30 s from its
# start (PERIODIC_TIMEOUT, fixed when Slurm is built), so a 1-minute job started within 30 s of
# `start` times out 90 s after `start`.
#
# usage: slurm_local.sh start DIR    # then: export SLURM_CONF=DIR/slurm.conf
#        slurm_local.sh stop DIR
set -euo pipefail
action=${1:-} dir=${2:-}
[ -n "$dir" ] && { [ "$action" = start ] || [ "$action" = stop ]; } ||
  { echo "usage: slurm_local.sh start|stop DIR" >&2; exit 64; }

stop() {
  local pid_file jobs
  # Jobs still running (a test that failed half-way) are cancelled first: their steps would
  # outlive slurmd. Then wait for them to end (SIGTERM, then SIGKILL after KillWait).
  if [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    jobs=$(SLURM_CONF=$dir/slurm.conf squeue -h -o %i 2>/dev/null) || jobs=""
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086  # one job id a word
      SLURM_CONF=$dir/slurm.conf scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 150); do
        [ -z "$(SLURM_CONF=$dir/slurm.conf squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
  fi
  for pid_file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/pid"; do
    [ -s "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  # Wait for them to go (slurmd ends its steps first).
  for _ in $(seq 1 50); do
    local alive=0
    for pid_file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/pid"; do
      [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null && alive=1
    done
    [ "$alive" -eq 0 ] && return 0
    sleep 0.1
  done
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi

mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
chmod 700 "$dir/munge"
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/sock" --pid-file="$dir/munge/pid" \
  --log-file="$dir/munge/log" --seed-file="$dir/munge/seed" --force
cat >"$dir/slurm.conf" <<EOF
ClusterName=mpimr-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/sock
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${MPIMR_SLURMCTLD_PORT:-16817}
SlurmdPort=${MPIMR_SLURMD_PORT:-16818}
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
KillWait=5
OverTimeLimit=0
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF=$dir/slurm.conf
slurmctld
slurmd
# Ready once the node is idle.
for _ in $(seq 1 100); do
  if sinfo -h -o %t 2>/dev/null | grep -q idle; then exit 0; fi
  sleep 0.1
done
echo "slurm_local: the node did not come up; logs in $dir/log:" >&2
tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
stop
exit 1
