#!/bin/sh
# tests/tools/node_agent.sh — Open MPI's remote-start agent (plm_rsh_agent) for "nodes" that are
# namespaces of this machine: called as `node_agent.sh HOST COMMAND...` where ssh would be, it
# runs COMMAND (Open MPI's daemon, orted) in a new UTS namespace whose hostname is HOST. Each host
# of a hostfile then gets a daemon of its own under its own name, so Open MPI takes the hosts
# for separate nodes: ranks on different ones share no memory (MPI_COMM_TYPE_SHARED groups by
# host) and their bytes go over TCP. Needs root (unshare --uts). Host names need not resolve.
#
# usage: mpirun --mca plm_rsh_agent tests/tools/node_agent.sh --hostfile HOSTS -np N PROGRAM...
host=$1
shift
# ssh hands the remote shell one command line: so does this.
exec unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$host" "$*"
