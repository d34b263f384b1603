#!/bin/sh
# A throwaway one-node Slurm cluster for the engine tests, everything under DIR:
#   slurm_cluster.sh up DIR CTLD_PORT SLURMD_PORT   start slurmctld and slurmd, wait until
#                                                   the node is idle; prints the config path
#   slurm_cluster.sh down DIR                       stop both, cancel their jobs
# Runs as root (the daemons' user); no munge: auth/none, which is enough for one machine.
set -eu
cmd=$1 dir=$2
export SLURM_CONF="$dir/slurm.conf"

up() {
    ctld_port=$1 slurmd_port=$2
    # The node is not called as this machine is: Open MPI then sees it as another host
    # and starts its daemon there through srun, as on a real cluster.
    node=rustpxnode
    mkdir -p "$dir/ctld" "$dir/spool" "$dir/log"
    cat >"$SLURM_CONF" <<CONF
ClusterName=rustpxtest
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld -D -i -f "$SLURM_CONF" >>"$dir/log/slurmctld.out" 2>&1 &
    echo $! >"$dir/slurmctld.bgpid"
    slurmd -D -N "$node" -f "$SLURM_CONF" >>"$dir/log/slurmd.out" 2>&1 &
    echo $! >"$dir/slurmd.bgpid"
    tries=0
    until sinfo -h -N -o '%t' 2>/dev/null | grep -qx idle; do
        tries=$((tries + 1))
        if [ $tries -gt 120 ]; then
            echo "slurm did not come up; its logs are in $dir/log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "$SLURM_CONF"
}

down() {
    scancel --quiet -u "$(id -un)" 2>/dev/null || true
    for daemon in slurmd slurmctld; do
        pidfile="$dir/$daemon.bgpid"
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        tries=0
        while kill -0 "$pid" 2>/dev/null && [ $tries -lt 100 ]; do
            sleep 0.1
            tries=$((tries + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

case $cmd in
    up) shift 2; up "$@" ;;
    down) down ;;
    *) echo "usage: $0 up DIR CTLD_PORT SLURMD_PORT | down DIR" >&2; exit 2 ;;
esac
