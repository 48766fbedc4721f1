#!/usr/bin/env bash
# tests/cluster/slurm.sh (taken from shared/infra/slurm-up.sh and owned here) -- idempotent single-node Slurm (+munge, optional slurmdbd/mariadb)
# and a private loopback sshd, for test suites and CI on a Debian 12 VM/container
# without systemd. Run as root.
#
#   slurm.sh install      apt-get the packages (only what is missing)
#   slurm.sh apt PKG...   apt-get PKG... (only those missing): the one install path of the cluster
#   slurm.sh start        install if needed, write slurm.conf, start munge,
#                            [mariadb+slurmdbd], slurmctld, slurmd; wait until
#                            the node is idle
#   slurm.sh stop         cancel all jobs, stop the daemons THIS SCRIPT started
#   slurm.sh status       exit 0 if everything is up, 3 otherwise
#   slurm.sh smoke        sbatch/squeue/scontrol/scancel (+sacct) round trip
#   slurm.sh reset        stop, then wipe state/spool/logs (fresh cluster)
#   slurm.sh ssh-up       private sshd on 127.0.0.1:$SSH_UP_PORT, key-only
#   slurm.sh ssh-down     stop that sshd
#   slurm.sh ssh-status
#   slurm.sh ssh-env      print shell exports (host, port, user, key, known_hosts)
#   slurm.sh ctld-stop    stop only slurmctld (jobs keep running under slurmd); `start` brings
#                            it back (tests of a controller outage)
#   slurm.sh registry-up  Debian's docker-registry (Distribution) on 127.0.0.1:$REGISTRY_UP_PORT
#                            [5055], plain HTTP, no auth, log in $BASE/registry/registry.log
#   slurm.sh registry-down | registry-status
#   slurm.sh redis-up     Debian's redis-server on 127.0.0.1:$REDIS_UP_PORT [6390], no disk
#                            persistence, log in $BASE/redis/redis.log (the Celery broker)
#   slurm.sh redis-down | redis-status
#   slurm.sh assoc        the account, users and QOS of slurmdbd accounting (idempotent)
#   slurm.sh up | down    start+ssh-up+assoc | ssh-down+stop
#   slurm.sh conf         print the slurm.conf that start would write
#
# Safety rules this script keeps:
#  * every external call that could block is wrapped in `timeout`;
#  * it only ever signals PIDs read from ITS OWN pid files under $BASE/run,
#    after checking /proc/PID/comm matches the daemon it started (no pkill,
#    no killall, no kill by name);
#  * a daemon that was already running when we got there (e.g. a munged that
#    someone else started) is used but never stopped.
#
# Knobs (environment):
#   SLURM_UP_BASE        state/log/pid root            [/var/lib/slurm-up]
#   SLURM_UP_CONF        slurm.conf path               [/etc/slurm/slurm.conf]
#                        (a non-default path needs SLURM_CONF exported for clients)
#   SLURM_UP_NODE        NodeName (slurmd -N)          [localhost]
#   SLURM_UP_CPUS        CPUs of the node              [$(nproc)]
#   SLURM_UP_MEM_MB      RealMemory                    [1024]
#   SLURM_UP_MIN_JOB_AGE MinJobAge seconds             [300]
#   SLURM_UP_ACCOUNTING  none | filetxt | slurmdbd     [slurmdbd]
#                        (slurmdbd: MariaDB, associations and QOS limits enforced, the
#                        account physics with root and the ssh user in it)
#   SLURM_UP_CGROUP      yes | no: cgroup v1 process tracking and memory enforcement [yes]
#   SLURM_UP_SCHED_PARAMS SchedulerParameters (empty = Slurm defaults)
#                        [batch_sched_delay=0]
#   SLURM_UP_TIMEOUT     seconds to wait for a daemon  [30]
#   SLURM_UP_NO_INSTALL  1 = never call apt-get
#   SSH_UP_PORT          sshd port on 127.0.0.1        [2222]
#   SSH_UP_USER          login user (created if absent) [psijtest]
#                        (both sticky: when unset, the values of the last ssh-up,
#                        recorded in $SLURM_UP_BASE/ssh/env, are used)
set -u -o pipefail

BASE=${SLURM_UP_BASE:-/var/lib/packtivity-cluster}
CONF=${SLURM_UP_CONF:-/etc/slurm/slurm.conf}
NODE=${SLURM_UP_NODE:-localhost}
CPUS=${SLURM_UP_CPUS:-$(nproc)}
MEM=${SLURM_UP_MEM_MB:-2048}
MAXTIME=${SLURM_UP_MAX_TIME:-30}
MINJOBAGE=${SLURM_UP_MIN_JOB_AGE:-10}
ACCT=${SLURM_UP_ACCOUNTING:-slurmdbd}
CGROUP=${SLURM_UP_CGROUP:-yes}
ACCOUNT=physics
SCHED_PARAMS=${SLURM_UP_SCHED_PARAMS-batch_sched_delay=0}
T=${SLURM_UP_TIMEOUT:-30}
CLUSTER=testcluster
# ssh settings are sticky: unset knobs fall back to what the last ssh-up recorded
_SSH_ENV_FILE=${SLURM_UP_BASE:-/var/lib/packtivity-cluster}/ssh/env
_rec() { [ -r "$_SSH_ENV_FILE" ] && sed -n "s/^export $1=//p" "$_SSH_ENV_FILE" | head -n1; }
SSH_PORT=${SSH_UP_PORT:-$(_rec SSH_UP_PORT)}; SSH_PORT=${SSH_PORT:-2222}
SSH_USER=${SSH_UP_USER:-$(_rec SSH_UP_USER)}; SSH_USER=${SSH_USER:-packtivity}

RUN=$BASE/run
LOG=$BASE/log
SSHD_DIR=$BASE/ssh
DBD_CONF=$(dirname "$CONF")/slurmdbd.conf
CGROUP_CONF=$(dirname "$CONF")/cgroup.conf
MUNGE_PID=$RUN/munge/munged.pid
CTLD_PID=$RUN/slurmctld.pid
SLURMD_PID=$RUN/slurmd.pid
DBD_PID=$RUN/slurmdbd.pid
MARIADB_PID=$RUN/mysql/mariadbd.pid
SSHD_PID=$RUN/sshd.pid
SSHD_2FA_PID=$RUN/sshd-2fa.pid
SSH_2FA_PORT=$((SSH_PORT + 1))

export SLURM_CONF=$CONF

log() { printf '[cluster/slurm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------- helpers ---

# pid_alive PIDFILE COMM -> 0 if the pid in PIDFILE is alive and is COMM
pid_alive() {
    local f=$1 comm=$2 pid
    [ -s "$f" ] || return 1
    pid=$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] || return 1
    [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
    echo "$pid"
}

# stop_pid PIDFILE COMM: TERM, wait up to $T s, then KILL. Only our pid files.
stop_pid() {
    local f=$1 comm=$2 pid i
    if ! pid=$(pid_alive "$f" "$comm"); then
        [ -e "$f" ] && { log "$comm: stale pid file $f removed"; rm -f "$f"; }
        return 0
    fi
    log "$comm: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq $((T * 10))); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$comm" ]; then
        log "$comm: pid $pid ignored SIGTERM for ${T}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
    fi
    rm -f "$f"
}

# wait_for SECONDS CMD... : poll CMD every 0.2 s until it succeeds
wait_for() {
    local secs=$1; shift
    local end=$(( $(date +%s) + secs ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}

apt_install() {
    [ "${SLURM_UP_NO_INSTALL:-0}" = 1 ] && die "missing packages ($*) and SLURM_UP_NO_INSTALL=1"
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    # the lists may be absent or stale on a fresh machine
    timeout 300 apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed (continuing)"
    timeout 600 apt-get install -y -qq --no-install-recommends "$@" >"$LOG/apt.log" 2>&1 \
        || { tail -20 "$LOG/apt.log" >&2; die "apt-get install $* failed"; }
}

need_pkgs() {  # print the packages among "$@" that are not installed
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
    done
}

do_install() {
    mkdir -p "$LOG"
    local pkgs="slurm-wlm munge"
    [ "$ACCT" = slurmdbd ] && pkgs="$pkgs slurmdbd mariadb-server"
    local missing; missing=$(need_pkgs $pkgs | tr '\n' ' ')
    if [ -n "${missing// /}" ]; then apt_install $missing; else log "packages present: $pkgs"; fi
}

# ------------------------------------------------------------ slurm.conf ---

gen_conf() {
    cat <<EOF
# Written by tests/cluster/slurm.sh -- single-node test cluster, no systemd.
ClusterName=$CLUSTER
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$(gen_tracking)
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
${SCHED_PARAMS:+SchedulerParameters=$SCHED_PARAMS}
MpiDefault=none
MailProg=/bin/true
# reject at submit time a job that can never run here (e.g. more CPUs than the node)
# instead of leaving it PENDING forever with Reason=PartitionConfig
EnforcePartLimits=ALL
# bind slurmctld/slurmd to the address their names resolve to (127.0.0.1), not 0.0.0.0
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
ReturnToService=2
# don't drain the node if the VM's topology differs from what we declare
SlurmdParameters=config_overrides
# seconds a finished job stays visible in squeue/scontrol
MinJobAge=$MINJOBAGE
KillWait=5
EOF
    case "$ACCT" in
    filetxt)
        echo "JobCompType=jobcomp/filetxt"
        echo "JobCompLoc=$LOG/jobcomp.log"
        echo "AccountingStorageType=accounting_storage/none" ;;
    slurmdbd)
        echo "AccountingStorageType=accounting_storage/slurmdbd"
        echo "AccountingStorageHost=localhost"
        echo "AccountingStoragePort=6819"
        echo "# as at production sites: no association, no job; QOS and account limits hold"
        echo "AccountingStorageEnforce=associations,limits,qos,safe"
        echo "JobCompType=jobcomp/none" ;;
    none)
        echo "JobCompType=jobcomp/none"
        echo "AccountingStorageType=accounting_storage/none" ;;
    *) die "SLURM_UP_ACCOUNTING must be none|filetxt|slurmdbd" ;;
    esac
    cat <<EOF
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
# a time and a memory limit, so that TIMEOUT and memory limits can be exercised
PartitionName=debug Nodes=ALL Default=YES MaxTime=$MAXTIME DefaultTime=10 MaxMemPerNode=$MEM DefMemPerCPU=256 State=UP
EOF
}

# process tracking and memory: cgroup v1 (what this machine kind mounts) with the job's memory
# request as a hard limit, so that a job allocating past --mem ends OUT_OF_MEMORY
gen_tracking() {
    if [ "$CGROUP" = yes ]; then
        echo "ProctrackType=proctrack/cgroup"
        echo "TaskPlugin=task/cgroup"
        echo "JobAcctGatherType=jobacct_gather/cgroup"
        echo "JobAcctGatherFrequency=task=5"
    else
        echo "# no cgroups: plain /proc process tracking, no task binding, memory not enforced"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
    fi
}

gen_cgroup_conf() {
    cat <<EOF
# Written by tests/cluster/slurm.sh -- cgroup v1, mounted by the machine (not by Slurm)
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
CgroupAutomount=no
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
ConstrainCores=no
ConstrainDevices=no
EOF
}

gen_dbd_conf() {
    cat <<EOF
# Written by tests/cluster/slurm.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$DBD_PID
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmtest
StorageLoc=slurm_acct_db
EOF
}

# write_if_changed FILE MODE < content ; sets CHANGED=1 when the file changed
# (feed it with < <(...), not a pipe: a pipe would run it in a subshell)
write_if_changed() {
    local f=$1 mode=$2 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$f" ] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; return 0; fi
    mkdir -p "$(dirname "$f")"
    install -m "$mode" "$tmp" "$f"; rm -f "$tmp"
    CHANGED=1
    log "wrote $f"
}

# ------------------------------------------------------------------ munge ---

munge_ok() { timeout 5 munge -n </dev/null 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_ok; then
        if pid_alive "$MUNGE_PID" munged >/dev/null; then log "munged: running (ours)"
        else log "munged: already running (not started by us; will not stop it)"; fi
        return 0
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        log "munge: creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key >/dev/null 2>&1 \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key; chmod 0700 /etc/munge; chmod 0600 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    install -d -o munge -g munge -m 0755 "$RUN/munge"
    rm -f "$MUNGE_PID"
    log "munged: starting"
    timeout "$T" runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" \
        </dev/null >>"$LOG/munged.out" 2>&1 || { tail -5 /var/log/munge/munged.log >&2; die "munged failed to start"; }
    wait_for "$T" munge_ok || die "munged started but munge -n | unmunge fails"
}

# -------------------------------------------------------- mariadb + dbd ---

mariadb_ok() { timeout 5 mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }

start_mariadb() {
    if mariadb_ok; then
        if pid_alive "$MARIADB_PID" mariadbd >/dev/null; then log "mariadb: running (ours)"
        else log "mariadb: already answering (not started by us; will not stop it)"; fi
    else
        _launch_mariadb
    fi
    # idempotent; also covers a mariadb that someone else started
    timeout 20 mariadb -uroot <<'SQL' || die "mariadb: creating slurm user failed"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmtest';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
}

_launch_mariadb() {
    install -d -o mysql -g mysql -m 0755 /run/mysqld "$RUN/mysql"
    if [ ! -d /var/lib/mysql/mysql ]; then
        log "mariadb: initialising /var/lib/mysql"
        timeout 120 mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed (see $LOG/mariadb-install.log)"
    fi
    log "mariadb: starting (socket only, no TCP)"
    # mariadbd does not daemonize: background it and keep our own pid file
    setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking \
        --socket=/run/mysqld/mysqld.sock --pid-file="$MARIADB_PID" \
        --log-error="$LOG/mariadb.err" </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadb_ok || die "mariadb did not come up (see $LOG/mariadb.err)"
}

dbd_ok() { timeout 10 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }

start_dbd() {
    start_mariadb
    CHANGED=0; write_if_changed "$DBD_CONF" 0600 < <(gen_dbd_conf)
    if pid_alive "$DBD_PID" slurmdbd >/dev/null; then
        [ "$CHANGED" = 1 ] && { log "slurmdbd.conf changed: restarting slurmdbd"; stop_pid "$DBD_PID" slurmdbd; } \
            || { log "slurmdbd: running (ours)"; return 0; }
    fi
    log "slurmdbd: starting"
    timeout "$T" /usr/sbin/slurmdbd </dev/null >>"$LOG/slurmdbd.out" 2>&1 || die "slurmdbd failed to start"
    wait_for "$T" dbd_ok || die "slurmdbd not answering (see $LOG/slurmdbd.log)"
    # make sure the cluster row exists before slurmctld registers
    if ! timeout 10 sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        timeout 20 sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
    fi
}

# associations (needed: AccountingStorageEnforce=associations): the account $ACCOUNT with root
# and the ssh user in it, under the QOS normal; normal's per-user limits are cleared, so that
# a test that set one and died leaves nothing behind (tests set them with sacctmgr)
do_assoc() {
    [ "$ACCT" = slurmdbd ] || return 0
    local u
    timeout 20 sacctmgr -i -Q add account "$ACCOUNT" Description=test Organization=test >/dev/null 2>&1
    for u in root "$SSH_USER"; do
        id "$u" >/dev/null 2>&1 || continue
        timeout 20 sacctmgr -n -P show assoc where user="$u" account="$ACCOUNT" format=user | grep -qx "$u" \
            || timeout 20 sacctmgr -i -Q add user "$u" account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null \
            || die "sacctmgr add user $u failed"
    done
    timeout 20 sacctmgr -i -Q modify qos normal set MaxSubmitJobsPerUser=-1 MaxJobsPerUser=-1 \
        GrpSubmitJobs=-1 >/dev/null 2>&1
    log "associations: account $ACCOUNT, users root $SSH_USER, QOS normal without per-user limits"
}

# ------------------------------------------------------------------ slurm ---

ctld_ok() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_state() { timeout 5 sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1 | tr -d '*~#!%$@^-'; }

node_ready() { case "$(node_state)" in idle|mixed|allocated|completing) return 0 ;; esac; return 1; }

do_start() {
    do_install
    mkdir -p "$BASE/state" "$BASE/spool" "$LOG" "$RUN"
    chmod 0755 "$BASE"
    CHANGED=0
    write_if_changed "$CONF" 0644 < <(gen_conf)
    case "$CGROUP" in
        yes) [ -w /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/freezer ] \
                 || die "SLURM_UP_CGROUP=yes needs the cgroup v1 memory and freezer controllers mounted writable at /sys/fs/cgroup (SLURM_UP_CGROUP=no runs without memory enforcement)"
             write_if_changed "$CGROUP_CONF" 0644 < <(gen_cgroup_conf) ;;
        no) ;;
        *) die "SLURM_UP_CGROUP must be yes|no" ;;
    esac
    local conf_changed=$CHANGED
    start_munge
    if [ "$ACCT" = slurmdbd ]; then start_dbd
    else  # switched away from slurmdbd: stop ours (no-op when we never started them)
        stop_pid "$DBD_PID" slurmdbd; stop_pid "$MARIADB_PID" mariadbd
    fi

    if pid_alive "$CTLD_PID" slurmctld >/dev/null; then
        if [ "$conf_changed" = 1 ]; then log "slurm.conf changed: restarting slurmctld"; stop_pid "$CTLD_PID" slurmctld
        else log "slurmctld: running (ours)"; fi
    fi
    if ! pid_alive "$CTLD_PID" slurmctld >/dev/null; then
        ctld_ok && die "a slurmctld not started by this script answers on this config; stop it first"
        log "slurmctld: starting"
        timeout "$T" /usr/sbin/slurmctld </dev/null >>"$LOG/slurmctld.out" 2>&1 \
            || { tail -5 "$LOG/slurmctld.out" "$LOG/slurmctld.log" >&2; die "slurmctld failed to start"; }
    fi
    wait_for "$T" ctld_ok || { tail -5 "$LOG/slurmctld.log" >&2; die "slurmctld not answering"; }

    if pid_alive "$SLURMD_PID" slurmd >/dev/null; then
        if [ "$conf_changed" = 1 ]; then log "slurm.conf changed: restarting slurmd"; stop_pid "$SLURMD_PID" slurmd
        else log "slurmd: running (ours)"; fi
    fi
    if ! pid_alive "$SLURMD_PID" slurmd >/dev/null; then
        log "slurmd: starting as node $NODE"
        timeout "$T" /usr/sbin/slurmd -N "$NODE" </dev/null >>"$LOG/slurmd.out" 2>&1 \
            || { tail -5 "$LOG/slurmd.out" "$LOG/slurmd.log" >&2; die "slurmd failed to start"; }
    fi
    if ! wait_for "$T" node_ready; then
        log "node $NODE is '$(node_state)': resuming it"
        timeout 10 scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1
        wait_for "$T" node_ready || { tail -5 "$LOG/slurmd.log" >&2; die "node $NODE not ready: $(node_state)"; }
    fi
    log "cluster up: node $NODE $(node_state), accounting=$ACCT, conf=$CONF"
}

do_stop() {
    if pid_alive "$CTLD_PID" slurmctld >/dev/null && ctld_ok; then
        local ids
        ids=$(timeout 10 squeue -h -t PD,R,CG,S,CF -o %i 2>/dev/null | tr '\n' ' ')
        if [ -n "${ids// /}" ]; then
            log "cancelling jobs: $ids"
            timeout 20 scancel $ids >/dev/null 2>&1
            wait_for "$T" sh -c "[ -z \"\$(timeout 5 squeue -h -t R,CG -o %i)\" ]" \
                || log "WARNING: jobs still running/completing after ${T}s"
        fi
    fi
    stop_pid "$SLURMD_PID" slurmd
    stop_pid "$CTLD_PID" slurmctld
    stop_pid "$DBD_PID" slurmdbd
    stop_pid "$MARIADB_PID" mariadbd
    stop_pid "$MUNGE_PID" munged
    local left
    left=$(ps -eo pid=,comm= | awk '$2=="slurmstepd"{print $1}' | tr '\n' ' ')
    [ -n "${left// /}" ] && log "WARNING: slurmstepd still running (pids $left); not killed by name"
    return 0
}

do_status() {
    local rc=0 pid d
    for d in "munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID" \
             "slurmdbd:$DBD_PID" "mariadbd:$MARIADB_PID" "sshd:$SSHD_PID"; do
        if pid=$(pid_alive "${d#*:}" "${d%%:*}"); then echo "${d%%:*}: running pid $pid (ours)"
        else echo "${d%%:*}: not running (by our pid file)"; fi
    done
    munge_ok && echo "munge: credential round trip OK" || { echo "munge: FAIL"; rc=3; }
    ctld_ok && echo "slurmctld: ping UP" || { echo "slurmctld: DOWN"; rc=3; }
    echo "node $NODE: $(node_state)"; node_ready || rc=3
    ctld_ok && timeout 5 squeue -h -t PD,R,CG -o %i 2>/dev/null | wc -l | sed 's/^/active jobs: /'
    return $rc
}

do_smoke() {
    local dir j st
    dir=$(mktemp -d /tmp/slurm-up-smoke.XXXXXX)
    j=$(cd "$dir" && timeout 10 sbatch --parsable --wrap 'hostname; exit 3') || die "sbatch failed"
    echo "sbatch -> job $j"
    timeout 10 squeue -t all -j "$j"
    wait_for 60 sh -c "timeout 5 scontrol show job $j | grep -qE 'JobState=(COMPLETED|FAILED)'" || die "job $j did not finish"
    timeout 5 scontrol show job "$j" | grep -oE 'JobState=[A-Z]+|ExitCode=[0-9:]+' | tr '\n' ' '; echo
    j=$(timeout 10 sbatch --parsable -o /dev/null --wrap 'sleep 300') || die "sbatch failed"
    timeout 10 scancel "$j" || die "scancel failed"
    wait_for 30 sh -c "timeout 5 scontrol show job $j | grep -q JobState=CANCELLED" || die "job $j not cancelled"
    echo "scancel $j -> CANCELLED"
    case "$ACCT" in
        filetxt)  wait_for 10 sh -c "timeout 5 sacct -c -j $j -n | grep -q ." ; timeout 10 sacct -c -j "$j" ;;
        slurmdbd) wait_for 10 sh -c "timeout 5 sacct -j $j -n | grep -q ." ; timeout 10 sacct -j "$j" -o JobID,State,ExitCode ;;
    esac
    rm -rf "$dir"
}

do_reset() {
    do_stop
    log "wiping $BASE/state $BASE/spool and slurm logs"
    rm -rf "$BASE/state" "$BASE/spool"
    rm -f "$LOG"/slurm*.log "$LOG"/jobcomp.log
}

# -------------------------------------------------------------------- ssh ---

ssh_probe() {
    timeout 10 ssh -o BatchMode=yes -o StrictHostKeyChecking=yes \
        -o UserKnownHostsFile="$SSHD_DIR/known_hosts" -o GlobalKnownHostsFile=/dev/null \
        -o ConnectTimeout=5 -i "$SSHD_DIR/client/id_ed25519" -p "$SSH_PORT" \
        "$SSH_USER@127.0.0.1" true </dev/null >/dev/null 2>&1
}

do_ssh_up() {
    mkdir -p "$LOG" "$RUN"
    [ -x /usr/sbin/sshd ] || apt_install openssh-server
    if [ "$SSH_USER" != root ] && ! id "$SSH_USER" >/dev/null 2>&1; then
        log "creating user $SSH_USER"
        useradd -m -s /bin/bash "$SSH_USER" || die "useradd $SSH_USER failed"
        # useradd leaves the password field '!' (locked); with UsePAM no, sshd then
        # refuses even key logins ("account is locked"). '*' = no password, not locked.
        usermod -p '*' "$SSH_USER" || die "usermod -p '*' $SSH_USER failed"
    fi
    if getent shadow "$SSH_USER" | cut -d: -f2 | grep -q '^!'; then
        log "WARNING: $SSH_USER is locked (password field starts with '!'): sshd will refuse it"
    fi
    chmod 0755 "$BASE"
    install -d -m 0755 "$SSHD_DIR" "$SSHD_DIR/authorized_keys"
    install -d -m 0700 "$SSHD_DIR/client"
    install -d -m 0755 /run/sshd                  # privilege separation dir
    [ -s "$SSHD_DIR/ssh_host_ed25519_key" ] || \
        ssh-keygen -q -t ed25519 -N '' -C slurm-up-host -f "$SSHD_DIR/ssh_host_ed25519_key"
    [ -s "$SSHD_DIR/client/id_ed25519" ] || \
        ssh-keygen -q -t ed25519 -N '' -C slurm-up-client -f "$SSHD_DIR/client/id_ed25519"
    # root-owned 0644 in a 0755 dir: readable by sshd acting as the user, passes StrictModes
    install -m 0644 "$SSHD_DIR/client/id_ed25519.pub" "$SSHD_DIR/authorized_keys/$SSH_USER"
    local hk; hk=$(cut -d' ' -f1,2 "$SSHD_DIR/ssh_host_ed25519_key.pub")
    write_if_changed "$SSHD_DIR/known_hosts" 0644 \
        < <(printf '[127.0.0.1]:%s %s\n[localhost]:%s %s\n[127.0.0.1]:%s %s\n' \
              "$SSH_PORT" "$hk" "$SSH_PORT" "$hk" "$SSH_2FA_PORT" "$hk")
    CHANGED=0
    write_if_changed "$SSHD_DIR/sshd_config" 0644 <<EOF
# Written by tests/cluster/slurm.sh -- private test sshd, loopback only, key-only
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/ssh_host_ed25519_key
PidFile $SSHD_PID
AuthorizedKeysFile $SSHD_DIR/authorized_keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $SSH_USER
UsePAM no
X11Forwarding no
PrintMotd no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel INFO
EOF
    timeout 10 /usr/sbin/sshd -t -f "$SSHD_DIR/sshd_config" || die "sshd config test failed"
    if pid_alive "$SSHD_PID" sshd >/dev/null; then
        if [ "$CHANGED" = 1 ]; then log "sshd_config changed: restarting sshd"; stop_pid "$SSHD_PID" sshd
        else log "sshd: running (ours)"; fi
    fi
    if ! pid_alive "$SSHD_PID" sshd >/dev/null; then
        log "sshd: starting on 127.0.0.1:$SSH_PORT for $SSH_USER"
        timeout "$T" /usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E "$LOG/sshd.log" </dev/null >/dev/null 2>&1 \
            || { tail -5 "$LOG/sshd.log" >&2; die "sshd failed to start"; }
    fi
    wait_for "$T" ssh_probe || { tail -5 "$LOG/sshd.log" >&2; die "ssh probe failed"; }
    do_ssh_2fa_up
    do_ssh_env_gen >"$_SSH_ENV_FILE"
    log "ssh up: $SSH_USER@127.0.0.1:$SSH_PORT key=$SSHD_DIR/client/id_ed25519 known_hosts=$SSHD_DIR/known_hosts"
}

# A second sshd, on $SSH_PORT+1, that asks for two factors like many clusters do: the key,
# then keyboard-interactive through PAM (the user's password, random, in $SSHD_DIR/password).
# It runs under the name packtivity-sshd so that PAM uses its own service file, which checks
# only the password (Debian's sshd service also wants pam_loginuid, absent in containers).
do_ssh_2fa_up() {
    command -v openssl >/dev/null || apt_install openssl
    [ -s "$SSHD_DIR/password" ] || (umask 077; openssl rand -hex 12 >"$SSHD_DIR/password")
    usermod -p "$(openssl passwd -6 -stdin <"$SSHD_DIR/password")" "$SSH_USER" \
        || die "cannot set the password of $SSH_USER"
    printf '%s\n' 'auth required pam_unix.so' 'account required pam_unix.so' \
        'session required pam_permit.so' | write_if_changed /etc/pam.d/packtivity-sshd 0644
    ln -sfn /usr/sbin/sshd "$SSHD_DIR/packtivity-sshd"
    CHANGED=0
    write_if_changed "$SSHD_DIR/sshd_2fa_config" 0644 <<EOF
# Written by tests/cluster/slurm.sh -- private test sshd, loopback only, key + password
Port $SSH_2FA_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/ssh_host_ed25519_key
PidFile $SSHD_2FA_PID
AuthorizedKeysFile $SSHD_DIR/authorized_keys/%u
AuthenticationMethods publickey,keyboard-interactive
PubkeyAuthentication yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
UsePAM yes
AllowUsers $SSH_USER
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
LogLevel INFO
EOF
    if pid_alive "$SSHD_2FA_PID" packtivity-sshd >/dev/null && [ "$CHANGED" = 1 ]; then
        stop_pid "$SSHD_2FA_PID" packtivity-sshd
    fi
    if ! pid_alive "$SSHD_2FA_PID" packtivity-sshd >/dev/null; then
        log "sshd (key + password): starting on 127.0.0.1:$SSH_2FA_PORT for $SSH_USER"
        timeout "$T" "$SSHD_DIR/packtivity-sshd" -f "$SSHD_DIR/sshd_2fa_config" \
            -E "$LOG/sshd-2fa.log" </dev/null >/dev/null 2>&1 \
            || { tail -5 "$LOG/sshd-2fa.log" >&2; die "sshd (key + password) failed to start"; }
    fi
}

do_ssh_down() { stop_pid "$SSHD_2FA_PID" packtivity-sshd; stop_pid "$SSHD_PID" sshd; }

# ------------------------------------------- daemons of their own session ---

# start_daemon PIDFILE COMM CHECK LOGFILE CMD...: start CMD in a session of its own (its PID is
# ours to stop, by PIDFILE), its output appended to LOGFILE; wait until CHECK answers
start_daemon() {
    local pidfile=$1 comm=$2 check=$3 logfile=$4; shift 4
    mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
    setsid "$@" >>"$logfile" 2>&1 </dev/null &
    echo $! > "$pidfile"
    wait_for "$T" "$check" || die "$comm did not answer (log: $logfile)"
}

# daemon_status LABEL PIDFILE COMM CHECK WHERE: exit 0 when our daemon runs and answers
daemon_status() {
    local label=$1 pidfile=$2 comm=$3 check=$4 where=$5 pid
    if pid=$(pid_alive "$pidfile" "$comm") && "$check"; then
        echo "$label: running pid $pid on $where"
    else echo "$label: not running"; return 3; fi
}

# ------------------------------------------------------------- registry ---

REGISTRY_DIR=$BASE/registry
REGISTRY_PID=$RUN/docker-registry.pid
REGISTRY_PORT=${REGISTRY_UP_PORT:-5055}
registry_ok() { timeout 5 curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1; }

do_registry_up() {
    pid_alive "$REGISTRY_PID" docker-registry >/dev/null && registry_ok && return 0
    local missing; missing=$(need_pkgs docker-registry curl)
    [ -z "$missing" ] || apt_install $missing
    mkdir -p "$REGISTRY_DIR/data" "$RUN"
    printf '%s\n' 'version: 0.1' 'log:' '  level: info' 'storage:' '  filesystem:' \
        "    rootdirectory: $REGISTRY_DIR/data" '  delete:' '    enabled: true' 'http:' \
        "  addr: 127.0.0.1:$REGISTRY_PORT" | write_if_changed "$REGISTRY_DIR/config.yml" 0644
    log "docker-registry: starting on 127.0.0.1:$REGISTRY_PORT"
    start_daemon "$REGISTRY_PID" docker-registry registry_ok "$REGISTRY_DIR/registry.log" \
        docker-registry serve "$REGISTRY_DIR/config.yml"
}

do_registry_down() { stop_pid "$REGISTRY_PID" docker-registry; }

do_registry_status() {
    daemon_status registry "$REGISTRY_PID" docker-registry registry_ok "127.0.0.1:$REGISTRY_PORT"
}

# ---------------------------------------------------------------- redis ---

REDIS_DIR=$BASE/redis
REDIS_PID=$RUN/redis-server.pid
REDIS_PORT=${REDIS_UP_PORT:-6390}
redis_ok() { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

do_redis_up() {
    pid_alive "$REDIS_PID" redis-server >/dev/null && redis_ok && return 0
    local missing; missing=$(need_pkgs redis-server redis-tools)
    [ -z "$missing" ] || apt_install $missing
    mkdir -p "$REDIS_DIR"
    log "redis-server: starting on 127.0.0.1:$REDIS_PORT"
    # in the foreground (not daemonized: its PID is ours); nothing saved to disk
    start_daemon "$REDIS_PID" redis-server redis_ok "$REDIS_DIR/redis.log" \
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
        --save '' --appendonly no
}

do_redis_down() { stop_pid "$REDIS_PID" redis-server; }

do_redis_status() {
    daemon_status redis "$REDIS_PID" redis-server redis_ok "127.0.0.1:$REDIS_PORT"
}

do_ssh_status() {
    local pid
    if pid=$(pid_alive "$SSHD_PID" sshd); then echo "sshd: running pid $pid (ours)"; else echo "sshd: not running"; fi
    if pid=$(pid_alive "$SSHD_2FA_PID" packtivity-sshd); then
        echo "sshd (key + password): running pid $pid on 127.0.0.1:$SSH_2FA_PORT (ours)"
    else echo "sshd (key + password): not running"; return 3; fi
    ssh_probe && { echo "ssh: key login OK"; return 0; }
    echo "ssh: login FAIL"; return 3
}

do_ssh_env() {
    [ -r "$_SSH_ENV_FILE" ] || die "no $_SSH_ENV_FILE: run ssh-up first"
    cat "$_SSH_ENV_FILE"
}

do_ssh_env_gen() {
    cat <<EOF
export SSH_UP_HOST=127.0.0.1
export SSH_UP_PORT=$SSH_PORT
export SSH_UP_USER=$SSH_USER
export SSH_UP_KEY=$SSHD_DIR/client/id_ed25519
export SSH_UP_KNOWN_HOSTS=$SSHD_DIR/known_hosts
export SSH_UP_2FA_PORT=$SSH_2FA_PORT
export SSH_UP_PASSWORD_FILE=$SSHD_DIR/password
EOF
}

# ------------------------------------------------------------------- main ---

case "${1:-}" in
    install)    do_install ;;
    apt)        shift; mkdir -p "$LOG"; missing=$(need_pkgs "$@" | tr '\n' ' ')
                [ -z "${missing// /}" ] || apt_install $missing ;;
    start)      do_start ;;
    stop)       do_stop ;;
    restart)    do_stop; do_start ;;
    status)     do_status ;;
    smoke)      do_smoke ;;
    reset)      do_reset ;;
    conf)       gen_conf ;;
    ssh-up)     do_ssh_up ;;
    ssh-down)   do_ssh_down ;;
    ssh-status) do_ssh_status ;;
    ssh-env)    do_ssh_env ;;
    ctld-stop)       stop_pid "$CTLD_PID" slurmctld ;;
    registry-up)     do_registry_up ;;
    registry-down)   do_registry_down ;;
    registry-status) do_registry_status ;;
    redis-up)        do_redis_up ;;
    redis-down)      do_redis_down ;;
    redis-status)    do_redis_status ;;
    up)         do_start && do_ssh_up && do_assoc ;;
    assoc)      do_assoc ;;
    down)       do_ssh_down; do_stop ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
esac
