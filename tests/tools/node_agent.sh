#!/bin/sh
# tests/tools/node_agent.sh — Open MPI's remote-start agent (plm_rsh_agent) for "nodes" that are
# namespaces of this machine: called as `node_agent.sh HOST COMMAND...` where ssh would be, it
# runs COMMAND (Open MPI's daemon, orted) in a new UTS namespace whose hostname is HOST. Each host
# of a hostfile then gets a daemon of its own under its own name, so Open MPI takes the hosts
# for separate nodes: ranks on different ones share no memory (MPI_COMM_TYPE_SHARED groups by
# host) and their bytes go over TCP. Needs root (unshare --uts). Host names need not resolve.
#
# Every node sees the whole machine, so by default each one binds its first rank to core 0: the
# nodes' ranks share cores that real nodes would not. With NODE_AGENT_CPUS set (a
# semicolon-separated list of CPU lists, one per node in hostfile order: "0;1" gives n1 CPU 0 and
# n2 CPU 1) the daemon of the Kth host named in that order runs on the Kth list (taskset), and
# with `mpirun --bind-to none` its ranks stay there, as on nodes of their own. Host names must
# then end in their number (n1, n2, ...).
#
# usage: [NODE_AGENT_CPUS='0;1'] mpirun --mca plm_rsh_agent tests/tools/node_agent.sh \
#          --hostfile HOSTS -np N PROGRAM...
host=$1
shift
if [ -n "${NODE_AGENT_CPUS:-}" ]; then
  number=$(printf '%s' "$host" | sed -n 's/^[^0-9]*\([0-9][0-9]*\)$/\1/p')
  cpus=$(printf '%s\n' "$NODE_AGENT_CPUS" | awk -F';' -v k="${number:-0}" 'k >= 1 && k <= NF { print $k }')
  if [ -z "$number" ] || [ -z "$cpus" ]; then
    echo "node_agent.sh: NODE_AGENT_CPUS='$NODE_AGENT_CPUS' has no CPU list for host '$host'" >&2
    exit 1
  fi
  # ssh hands the remote shell one command line: so does this.
  # shellcheck disable=SC2016  # $0 and $1 are the inner shell's
  exec taskset -c "$cpus" unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$host" "$*"
fi
# shellcheck disable=SC2016
exec unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$host" "$*"
