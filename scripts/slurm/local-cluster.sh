#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the test suite (docs/SLURM.md).
#
#   local-cluster.sh [start]   install slurm-wlm and munge if missing, write /etc/slurm/slurm.conf,
#                              start munged, slurmctld and slurmd, wait until the node is idle
#   local-cluster.sh stop      stop the daemons this script started
#   local-cluster.sh status    sinfo and squeue
#   local-cluster.sh restart   stop, then start
#
# `start` is idempotent: it does only what is missing, and copes with stale pid files and a
# node left down or drained by an earlier run. No systemd needed: the daemons are started by hand.
set -euo pipefail

MARK="# Written by w2s scripts/slurm/local-cluster.sh (single-node test cluster); it rewrites this file while this line is here."
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
RUN_DIR=/run/w2s-slurm            # pid files of the daemons this script started
LOG_DIR=/var/log/slurm
SPOOL=/var/spool/slurm            # ctld/: slurmctld state, d/: slurmd spool
MUNGE_KEY=/etc/munge/munge.key
NODE=$(hostname -s)
CPUS=${W2S_SLURM_CPUS:-$(nproc)}  # more than nproc oversubscribes the machine on purpose
WAIT_S=${W2S_SLURM_WAIT_S:-30}

say() { echo "local-cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# Process $1 runs and is not a zombie (which, here, a killed process can stay for seconds).
pid_alive() { [ -e /proc/"$1" ] && ! grep -q '^State:[[:space:]]*Z' /proc/"$1"/status 2>/dev/null; }
# The pid in file $1 is alive and is the program $2 (not a reused pid).
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$2" ] && pid_alive "$pid"
}
# Some process named $1 runs (zombies left by daemonizing or killed daemons do not count).
any_running() { pgrep -x -r D,R,S,T,t,I,W "$1" >/dev/null; }
# $1 runs: started by us (pid file) or by anyone else.
running() { alive "$RUN_DIR/$1.pid" "$1" || any_running "$1"; }

log_tail() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f" >&2
        tail -n 25 "$f" >&2
    done
}

# ---------------------------------------------------------------------------------------------
ensure_packages() {
    local missing=() c
    for c in sbatch slurmctld slurmd munged; do
        command -v "$c" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$c" >/dev/null || missing+=("$c")
    done
    [ ${#missing[@]} = 0 ] && return 0
    is_root || die "${missing[*]} not installed; run as root, or: sudo apt-get install -y --no-install-recommends slurm-wlm munge"
    command -v apt-get >/dev/null || die "${missing[*]} not installed and no apt-get: install Slurm and MUNGE by hand"
    local pkgs
    pkgs=$(apt-get install -s --no-install-recommends slurm-wlm munge 2>/dev/null | awk '/^Inst /{print $2}' | xargs || true)
    say "${missing[*]} missing; installing slurm-wlm munge (${pkgs:-with their dependencies})"
    mkdir -p "$LOG_DIR"
    local alog=$LOG_DIR/w2s-apt.log
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends slurm-wlm munge >"$alog" 2>&1; then
        say "install failed; running apt-get update and trying again"
        { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } >>"$alog" 2>&1 \
            || { log_tail "$alog"; die "could not install slurm-wlm munge (log: $alog)"; }
    fi
}

# ---------------------------------------------------------------------------------------------
# Memory for slurm.conf: 90% of what is available now, in MB, rounded down to 256 MB.
real_memory() {
    awk '/^MemAvailable:/{m=$2} /^MemTotal:/{t=$2} END{if(!m)m=t; v=int(m*0.9/1024/256)*256; if(v<256)v=int(m/1024); print v}' /proc/meminfo
}

render_conf() {
    cat <<EOF
$MARK
# Start/stop: scripts/slurm/local-cluster.sh start|stop|status (docs/SLURM.md).
ClusterName=w2s
# With its address: clients need not resolve the host name.
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
# No cgroups: processes are tracked through their parent pids, tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so no sacct. Finished jobs stay in slurmctld (scontrol show job, squeue -t all)
# for MinJobAge seconds, and each one gets a line in the job completion log. (A dependency on
# a job slurmctld no longer knows counts as satisfied.)
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
MinJobAge=3600
# One CPU per task: as many 1-CPU array tasks run at once as the node has CPUs.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Use the node line below as it is, whatever topology slurmd detects.
SlurmdParameters=config_overrides
# Schedule as soon as a job is submitted or ends (the default batch_sched_delay waits 3 s).
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$(real_memory) State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

CONF_CHANGED=0
write_conf() {
    local new
    new=$(render_conf)
    if [ -e "$CONF" ]; then
        head -n 1 "$CONF" | grep -qxF "$MARK" \
            || die "$CONF exists and was not written by this script; move it away to use the test cluster"
        # Free memory moves between runs: keep the old RealMemory while it still fits.
        local old_mem new_mem total_mb
        old_mem=$(sed -n 's/^NodeName=.* RealMemory=\([0-9]*\).*/\1/p' "$CONF")
        total_mb=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)
        if [ -n "$old_mem" ] && [ "$old_mem" -le "$total_mb" ]; then
            new_mem=$(sed -n 's/^NodeName=.* RealMemory=\([0-9]*\).*/\1/p' <<<"$new")
            new=${new/RealMemory=$new_mem /RealMemory=$old_mem }
        fi
        [ "$(cat "$CONF")" = "$new" ] && return 0
        say "updating $CONF"
    else
        say "writing $CONF"
    fi
    is_root || die "$CONF needs to be (re)written; run as root"
    mkdir -p "$CONF_DIR"
    printf '%s\n' "$new" >"$CONF.tmp.$$"
    chmod 644 "$CONF.tmp.$$"
    mv -f "$CONF.tmp.$$" "$CONF"
    CONF_CHANGED=1
}

# ---------------------------------------------------------------------------------------------
# (Without a munged, `munge` retries its socket for seconds: ask only when one runs.)
munge_ok() { any_running munged && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ensure_munge() {
    if munge_ok; then
        return 0
    fi
    is_root || die "munged is not running; run as root"
    getent passwd munge >/dev/null || die "no munge user (the munge package creates it); reinstall munge"
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    chown munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 700 /etc/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    if [ ! -s "$MUNGE_KEY" ]; then
        say "creating $MUNGE_KEY"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 400 "$MUNGE_KEY"
    # Up to 10 s: start munged when none runs (one that is still exiting is waited for).
    local started=0
    for _ in $(seq 100); do
        munge_ok && break
        if [ $started = 0 ] && ! alive /run/munge/munged.pid munged && ! any_running munged; then
            # A munged killed without cleaning up leaves its socket and pid file behind.
            rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
            say "starting munged"
            runuser -u munge -- munged >/dev/null 2>&1 \
                || { log_tail /var/log/munge/munged.log; die "munged did not start"; }
            started=1
        fi
        sleep 0.1
    done
    munge_ok || { log_tail /var/log/munge/munged.log; die "munged runs but \`munge -n | unmunge\` fails"; }
    # Remember that we started it, for `stop`.
    [ $started = 0 ] || cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
}

# $1: slurmctld | slurmd
start_daemon() {
    local d=$1 log=$LOG_DIR/$1.log
    alive "$RUN_DIR/$d.pid" "$d" && return 0
    # One without a live pid file here may still be exiting (killed just before): wait for it.
    for _ in $(seq 50); do
        any_running "$d" || break
        sleep 0.1
    done
    if any_running "$d"; then
        say "$d runs but was not started by this script; using it"
        return 0
    fi
    is_root || die "$d is not running; run as root"
    rm -f "$RUN_DIR/$d.pid"
    say "starting $d"
    if ! "$d" >>"$log" 2>&1; then
        if [ "$d" = slurmctld ]; then
            # State saved by an older, different setup can keep slurmctld from starting.
            say "slurmctld did not start; starting it again without its saved state (-c)"
            slurmctld -c >>"$log" 2>&1 || { log_tail "$log"; die "slurmctld did not start"; }
        else
            log_tail "$log"
            die "$d did not start"
        fi
    fi
    for _ in $(seq 50); do
        alive "$RUN_DIR/$d.pid" "$d" && return 0
        sleep 0.1
    done
    log_tail "$log"
    die "$d exited right after starting"
}

stop_ours() {
    local d pid
    for d in "$@"; do
        if alive "$RUN_DIR/$d.pid" "$d"; then
            pid=$(cat "$RUN_DIR/$d.pid")
            say "stopping $d ($pid)"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 100); do
                pid_alive "$pid" || break
                sleep 0.1
            done
            pid_alive "$pid" && { say "$d ($pid) still runs after 10 s; sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
        elif any_running "$d"; then
            say "$d runs but was not started by this script; leaving it"
        fi
        rm -f "$RUN_DIR/$d.pid"
    done
}

# ---------------------------------------------------------------------------------------------
node_state() { sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -n 1; }

wait_node() {
    local deadline=$((SECONDS + WAIT_S)) st="" last_resume=-100
    while [ $SECONDS -lt $deadline ]; do
        st=$(node_state || true)
        case "$st" in
            idle | mix | alloc | comp | plnd) return 0 ;;
            down* | drain* | drng* | fail* | boot* | "unk"*)
                # Left down or drained by an earlier run (e.g. slurmd killed with the machine).
                if [[ $st != unk* && $st != boot* ]] && [ $((SECONDS - last_resume)) -ge 3 ] && is_root; then
                    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
                    last_resume=$SECONDS
                fi
                ;;
        esac
        sleep 0.5
    done
    say "node $NODE is not up after ${WAIT_S} s (state: ${st:-unknown})"
    scontrol show node "$NODE" 2>/dev/null | grep -E 'State=|Reason=' >&2 || true
    log_tail "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"
    return 1
}

# ---------------------------------------------------------------------------------------------
cmd_start() {
    local t0=${EPOCHREALTIME/,/.}
    ensure_packages
    write_conf
    if is_root; then
        mkdir -p "$RUN_DIR" "$LOG_DIR" "$SPOOL/ctld" "$SPOOL/d"
        # Pid files of daemons that are gone (killed, machine restarted) are stale.
        local d
        for d in munged slurmctld slurmd; do
            if ! alive "$RUN_DIR/$d.pid" "$d"; then rm -f "$RUN_DIR/$d.pid"; fi
        done
    fi
    if [ $CONF_CHANGED = 1 ]; then
        # Node and partition changes need the daemons restarted.
        stop_ours slurmd slurmctld
        if running slurmctld || running slurmd; then
            say "Slurm daemons not started by this script are running; they keep their old configuration"
        fi
    fi
    ensure_munge
    start_daemon slurmctld
    start_daemon slurmd
    wait_node || die "the cluster did not come up"
    echo "slurm: node $NODE ($CPUS CPUs) up in partition debug, $(sinfo -h -N -n "$NODE" -o %t) ($(awk -v a="$t0" -v b="${EPOCHREALTIME/,/.}" 'BEGIN{printf "%.1f", b-a}') s; $CONF, logs in $LOG_DIR)"
}

cmd_stop() {
    stop_ours slurmd slurmctld munged
}

cmd_status() {
    sinfo
    echo
    squeue
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop; cmd_start ;;
    -h | --help | help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown action '$1' (start, stop, status, restart)" ;;
esac
