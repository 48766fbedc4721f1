#!/bin/bash
# openpbs-up.sh (taken from shared/infra/openpbs and owned here) - bring up a real single-node OpenPBS (comm + mom + sched + server + its
# PostgreSQL data service) on a Debian 12 test machine, from the prebuilt tarball.
#
# All PBS daemons run inside their own network namespace (default `pbsnet`), on a PBS head host
# named `pbs-head` (198.18.0.2 on a veth pair; the root-namespace end is 198.18.0.1, named
# `pbs-submit`).  Clients (qsub/qstat/qdel, PSI/J) run unchanged in the root namespace: they
# read PBS_SERVER=pbs-head from /etc/pbs.conf and talk to 198.18.0.2.  PBS traffic therefore
# only ever targets the namespace's own addresses (198.18.0.2 and its loopback).
#
# Idempotent: re-running converges to the same state and starts only what is not running.
#
#   openpbs-up.sh [TARBALL]      install (if needed) and start; waits until the node is free
#   openpbs-up.sh smoke          submit `exit 3` as $OPENPBS_USER and check Exit_status == 3
#   openpbs-up.sh status         print namespace, daemon PIDs, pbsnodes, qstat -B
#   openpbs-up.sh env            print `export PATH=...` for the PBS commands
#   openpbs-up.sh exec CMD...    run CMD (as root) on the PBS head: in the namespace, hostname pbs-head
#
# Environment:
#   OPENPBS_TARBALL     tarball path (default: openpbs-*-debian12-amd64.tar.gz next to this script)
#   OPENPBS_USER        non-root submitter to create if missing (default pbsuser; empty: none)
#   OPENPBS_ALLOW_ROOT  1: set acl_roots=root so root may submit too (default 0: root is refused)
#   OPENPBS_NO_APT      1: never call apt-get; fail if a runtime package is missing
#   OPENPBS_NETNS       network namespace name (default pbsnet; veth ends <name>0 and <name>1)
#   OPENPBS_HEAD        host name of the PBS head inside the namespace (default pbs-head)
#   OPENPBS_HEAD_IP     its address, namespace end of the veth (default 198.18.0.2)
#   OPENPBS_CLIENT      name of the root-namespace end (default pbs-submit)
#   OPENPBS_CLIENT_IP   its address (default 198.18.0.1; must share a /30 with OPENPBS_HEAD_IP)
#   OPENPBS_WAIT        seconds to wait for the server / node (default 120)
#   OPENPBS_FORCE       1: replace an /opt/pbs that this script did not install
#
# Fixed locations (compiled into the build): PBS_EXEC=/opt/pbs, PBS_HOME=/var/spool/pbs,
# config /etc/pbs.conf.  Ports (inside the namespace): 15001-15004 (server, mom), 15007
# (PostgreSQL), 17001 (comm).  Needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN (ip netns, unshare).
# Stop with openpbs-down.sh (by PID; also removes the namespace, the veth pair and the
# /etc/hosts lines; --purge also removes what this script installed).
set -euo pipefail

PBS_EXEC=/opt/pbs
PBS_HOME=/var/spool/pbs
PBS_CONF=/etc/pbs.conf
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USER_NAME=${OPENPBS_USER-pbsuser}
ALLOW_ROOT=${OPENPBS_ALLOW_ROOT:-0}
NO_APT=${OPENPBS_NO_APT:-0}
WAIT=${OPENPBS_WAIT:-120}
STATE_DIR=$PBS_HOME/openpbs-up          # PIDs of the daemons this script started
PIDS=$STATE_DIR/pids
MARKER=$PBS_EXEC/.openpbs-tarball.sha256
NETNS=${OPENPBS_NETNS:-pbsnet}
HEAD=${OPENPBS_HEAD:-pbs-head}
HEAD_IP=${OPENPBS_HEAD_IP:-198.18.0.2}
CLIENT=${OPENPBS_CLIENT:-pbs-submit}
CLIENT_IP=${OPENPBS_CLIENT_IP:-198.18.0.1}
VETH_ROOT=${NETNS}0                     # root-namespace end of the veth pair
VETH_NS=${NETNS}1                       # namespace end
NETNS_FILE=/run/netns/$NETNS
# every /etc/hosts line this script writes ends with this tag (openpbs-down.sh removes them all)
HOSTS_TAG='# openpbs-up:'
HOSTS_MARK="$HOSTS_TAG PBS test cluster, network namespace $NETNS"

# Debian 12 runtime packages (see runtime-packages.txt; Tcl/Tk/X11 only for pbs_tclsh/pbs_wish/pbs_idled)
RUNTIME_PKGS=(postgresql libpq5 python3 libpython3.11 libical3 libhwloc15 libedit2 libssl3 zlib1g
              libstdc++6 libgcc-s1 procps hostname iproute2 util-linux)
[ "${OPENPBS_WITH_TK:-0}" = 1 ] && RUNTIME_PKGS+=(libtcl8.6 libtk8.6 libx11-6)

# Hermetic environment for everything we start (no pyenv shims, no caller PYTHON*)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP LD_LIBRARY_PATH PBS_CONF_FILE || true
export LANG=C.UTF-8 LC_ALL=C.UTF-8

log() { printf '[openpbs-up %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf '[openpbs-up] ERROR: %s\n' "$*" >&2; exit 1; }
[ ${#VETH_NS} -le 15 ] || die "OPENPBS_NETNS '$NETNS' is too long for an interface name"

# --- helpers -----------------------------------------------------------------------------------
lockpid() { [ -s "$1" ] && head -1 "$1" | tr -dc '0-9' || true; }   # first line of a lock file
alive() {   # alive PID NAME: PID exists and its command line mentions NAME
    [ -n "${1:-}" ] && [ -d "/proc/$1" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}
daemon_pid() {  # daemon_pid comm|mom|sched|server|postgres|ds_monitor
    case $1 in
    comm) lockpid "$PBS_HOME/server_priv/comm.lock" ;;
    mom) lockpid "$PBS_HOME/mom_priv/mom.lock" ;;
    sched) lockpid "$PBS_HOME/sched_priv/sched.lock" ;;
    server) lockpid "$PBS_HOME/server_priv/server.lock" ;;
    postgres) lockpid "$PBS_HOME/datastore/postmaster.pid" ;;
    ds_monitor) lockpid "$PBS_HOME/datastore/pbs_dblock" ;;
    esac
}
daemon_pat() {
    case $1 in comm) echo pbs_comm ;; mom) echo pbs_mom ;; sched) echo pbs_sched ;;
    server) echo pbs_server.bin ;; postgres) echo postgres ;; ds_monitor) echo pbs_ds_monitor ;; esac
}
running() { local p; p=$(daemon_pid "$1"); alive "$p" "$(daemon_pat "$1")"; }
record() {  # remember a daemon we started (name pid), replacing an older entry for it
    local name=$1 pid; pid=$(daemon_pid "$1")
    [ -n "$pid" ] || return 0
    mkdir -p "$STATE_DIR"
    { grep -v "^$name " "$PIDS" 2>/dev/null || true; echo "$name $pid"; } >"$PIDS.new"
    mv -f "$PIDS.new" "$PIDS"
}
wait_for() {  # wait_for SECONDS CMD...
    local n=$1; shift
    for ((i = 0; i < n * 2; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}
set_conf() {  # set_conf KEY VALUE in /etc/pbs.conf (no duplicates)
    if grep -q "^[[:space:]]*$1=" "$PBS_CONF"; then
        sed -i "s|^[[:space:]]*$1=.*|$1=$2|" "$PBS_CONF"
    else
        echo "$1=$2" >>"$PBS_CONF"
    fi
}
Q() { "$PBS_EXEC/bin/$@"; }                 # a PBS client command, run here (root namespace)
in_ns() {  # run a command on the PBS head: in the network namespace, with UTS hostname $HEAD
    nsenter --net="$NETNS_FILE" -- unshare --uts -- /bin/sh -c 'hostname "$0" && exec "$@"' "$HEAD" "$@"
}
QH() { in_ns "$PBS_EXEC/bin/$@"; }          # a PBS command run on the head (root there is a manager)
netns_id() { [ -e "$NETNS_FILE" ] && echo "net:[$(stat -L -c %i "$NETNS_FILE")]"; }
in_our_ns() { [ -n "$1" ] && [ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "$(netns_id)" ]; }
hosts_rewrite() {  # hosts_rewrite LINE...: drop every tagged line, append LINEs (in place: /etc/hosts may be a bind mount)
    local tmp=/etc/hosts.openpbs-up.$$
    { grep -vF -- "$HOSTS_TAG" /etc/hosts || true; for l in "$@"; do echo "$l"; done; } >"$tmp"
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

cmd_env() { echo "export PATH=$PBS_EXEC/bin:$PBS_EXEC/sbin:\$PATH"; }

cmd_status() {
    local where
    if [ -e "$NETNS_FILE" ]; then
        echo "namespace $NETNS ($(netns_id)): $HEAD $HEAD_IP on $VETH_NS; root end $CLIENT $CLIENT_IP on $VETH_ROOT"
    else
        echo "namespace $NETNS: absent"
    fi
    for d in comm mom sched server postgres ds_monitor; do
        p=$(daemon_pid $d)
        if alive "$p" "$(daemon_pat $d)"; then
            in_our_ns "$p" && where="in $NETNS" || where="NOT in $NETNS"
            echo "$d: pid $p ($where)"
        else
            echo "$d: not running"
        fi
    done
    [ -s "$PIDS" ] && { echo "started by openpbs-up:"; sed 's/^/  /' "$PIDS"; }
    Q qstat -B 2>&1 || true
    Q pbsnodes -a 2>&1 | grep -E '^[^ ]|state =|ncpus =' || true
}

cmd_smoke() {
    [ -n "$USER_NAME" ] || die "smoke needs OPENPBS_USER"
    [ "$(id -u)" = 0 ] || die "run as root"
    local dir script jid st ec
    dir=$(su -s /bin/sh "$USER_NAME" -c 'mktemp -d "$HOME/.openpbs-smoke.XXXXXX"')
    script=$dir/t.sh
    printf '#!/bin/bash\n#PBS -N t\n#PBS -l walltime=00:01:00\n#PBS -l select=1:ncpus=1\nexit 3\n' >"$script"
    chown "$USER_NAME" "$script"
    jid=$(su -s /bin/sh "$USER_NAME" -c "cd '$dir' && $PBS_EXEC/bin/qsub '$script'") || die "qsub failed"
    log "smoke: submitted $jid as $USER_NAME"
    for ((i = 0; i < WAIT * 2; i++)); do
        st=$(Q qstat -f -F json -x "$jid" 2>/dev/null | python3 -c \
            'import json,sys; j=list(json.load(sys.stdin)["Jobs"].values())[0]; print(j["job_state"], j.get("Exit_status"))' \
            2>/dev/null || true)
        case $st in F*) break ;; esac
        sleep 0.5
    done
    rm -rf "$dir"
    ec=${st#F }
    [ "${st%% *}" = F ] && [ "$ec" = 3 ] || die "smoke: $jid ended as '$st' (want 'F 3')"
    log "smoke: OK ($jid job_state=F Exit_status=3)"
}

# --- steps -------------------------------------------------------------------------------------
ensure_packages() {
    local missing=() p tmp_policy=0
    for p in "${RUNTIME_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && { log "runtime packages present"; return; }
    [ "$NO_APT" = 1 ] && die "missing packages (OPENPBS_NO_APT=1): ${missing[*]}"
    log "apt-get install ${missing[*]}"
    # keep the postgresql package from starting its default cluster (PBS runs its own on 15007)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        tmp_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}")
    if ! "${apt[@]}" >/dev/null; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
        "${apt[@]}" >/dev/null || die "apt-get install failed"
    fi
    if [ $tmp_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
}

ensure_install() {
    local tarball=${OPENPBS_TARBALL:-${1:-}} want have=""
    if [ -z "$tarball" ]; then
        tarball=$(ls -1 "$HERE"/openpbs-*-debian12-amd64.tar.gz 2>/dev/null | tail -1 || true)
    fi
    [ -f "$MARKER" ] && have=$(cat "$MARKER")
    if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
        [ -n "$have" ] && { log "$PBS_EXEC already installed (no tarball given)"; return; }
        die "no tarball found (give it as argument or OPENPBS_TARBALL)"
    fi
    want=$(sha256sum "$tarball" | cut -d' ' -f1)
    if [ "$want" != "$have" ]; then
        if [ -e "$PBS_EXEC" ] && [ -z "$have" ] && [ "${OPENPBS_FORCE:-0}" != 1 ]; then
            die "$PBS_EXEC exists but was not installed by openpbs-up.sh (OPENPBS_FORCE=1 replaces it)"
        fi
        for d in comm mom sched server; do
            running $d && die "PBS $d is running from an older install: run openpbs-down.sh first"
        done
        log "unpacking $(basename "$tarball") to $PBS_EXEC"
        rm -rf "$PBS_EXEC.new"
        mkdir -p "$PBS_EXEC.new"
        tar -xzpf "$tarball" -C "$PBS_EXEC.new" --strip-components=2 --no-same-owner opt/pbs
        rm -rf "$PBS_EXEC"
        mv "$PBS_EXEC.new" "$PBS_EXEC"
        echo "$want" >"$MARKER"
    else
        log "$PBS_EXEC is up to date ($(cat "$PBS_EXEC/VERSION" 2>/dev/null || echo ?))"
    fi
    chown -R root:root "$PBS_EXEC"
    chmod 4755 "$PBS_EXEC/sbin/pbs_iff" "$PBS_EXEC/sbin/pbs_rcp"   # INSTALL step 12
}

ensure_netns() {
    # PBS ignores 127.0.0.0/8 (TPP, node addresses, get_fullhostname), so its host needs a
    # non-loopback address.  It gets one in a network namespace of its own: a veth pair whose
    # namespace end is $HEAD_IP.  The namespace has no default route: from inside it only
    # $HEAD_IP, its loopback and the other veth end are reachable.
    local other
    other=$(ip -o -4 addr show to "$CLIENT_IP/30" 2>/dev/null | awk -v d="$VETH_ROOT" '$2 != d {print $2}')
    [ -z "$other" ] || die "$CLIENT_IP/30 is already used in the root namespace (on $other): set OPENPBS_CLIENT_IP/OPENPBS_HEAD_IP"
    if [ ! -e "$NETNS_FILE" ]; then
        log "ip netns add $NETNS"
        ip netns add "$NETNS" || die "ip netns add $NETNS failed (needs CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    fi
    # a root end without its peer in the namespace (namespace re-created) is stale
    if ip link show "$VETH_ROOT" >/dev/null 2>&1 && ! ip -n "$NETNS" link show "$VETH_NS" >/dev/null 2>&1; then
        ip link del "$VETH_ROOT"
    fi
    if ! ip link show "$VETH_ROOT" >/dev/null 2>&1; then
        log "veth $VETH_ROOT ($CLIENT_IP/30) <-> $NETNS:$VETH_NS ($HEAD_IP/30)"
        ip link add "$VETH_ROOT" type veth peer name "$VETH_NS" netns "$NETNS"
    fi
    ip addr replace "$CLIENT_IP/30" dev "$VETH_ROOT"
    ip link set "$VETH_ROOT" up
    ip -n "$NETNS" link set lo up
    ip -n "$NETNS" addr replace "$HEAD_IP/30" dev "$VETH_NS"
    ip -n "$NETNS" link set "$VETH_NS" up
}

ensure_hosts() {
    # $HEAD -> $HEAD_IP for everyone (the mount namespace is shared, so is /etc/hosts), and a
    # name for the root end so the server's reverse lookup of a client never needs DNS.  Drops
    # the line of older versions of this script, which mapped $(hostname) to the eth0 address.
    local want1="$HEAD_IP $HEAD $HOSTS_MARK" want2="$CLIENT_IP $CLIENT $HOSTS_MARK" have
    have=$(grep -F -- "$HOSTS_TAG" /etc/hosts || true)
    if [ "$have" != "$(printf '%s\n%s' "$want1" "$want2")" ]; then
        log "/etc/hosts: '$HEAD_IP $HEAD', '$CLIENT_IP $CLIENT'"
        hosts_rewrite "$want1" "$want2"
    fi
    [ "$(getent ahostsv4 "$HEAD" | awk 'NR==1{print $1}')" = "$HEAD_IP" ] ||
        die "$HEAD does not resolve to $HEAD_IP first (another /etc/hosts line?)"
    [ "$(getent hosts "$CLIENT_IP" | awk 'NR==1{print $2}')" = "$CLIENT" ] ||
        die "$CLIENT_IP does not resolve to $CLIENT first (another /etc/hosts line?)"
}

ensure_conf() {
    if [ ! -f "$PBS_CONF" ] || [ ! -d "$PBS_HOME/server_priv" ] || [ ! -d "$PBS_HOME/mom_priv" ]; then
        log "pbs_postinstall"
        "$PBS_EXEC/libexec/pbs_postinstall" >"$STATE_LOG.postinstall" 2>&1 ||
            { cat "$STATE_LOG.postinstall" >&2; die "pbs_postinstall failed"; }
    fi
    set_conf PBS_SERVER "$HEAD"
    set_conf PBS_EXEC "$PBS_EXEC"
    set_conf PBS_HOME "$PBS_HOME"
    for k in PBS_START_SERVER PBS_START_SCHED PBS_START_COMM PBS_START_MOM; do set_conf $k 1; done
    chmod 644 "$PBS_CONF"
    # as pbs_init.d does before starting a MoM
    local cfg=$PBS_HOME/mom_priv/config val
    if ! grep -q '^\$restrict_user_maxsysid' "$cfg" 2>/dev/null; then
        val=$(awk '$1 == "SYSTEM_UID_MAX" {print $2}' /etc/login.defs 2>/dev/null)
        [ -n "$val" ] || val=$(awk '$1 == "UID_MIN" {print $2 - 1}' /etc/login.defs 2>/dev/null)
        [ -n "$val" ] && echo "\$restrict_user_maxsysid $val" >>"$cfg"
    fi
    # Output_Path is <submit host>:<dir>, and the submit host ($CLIENT) is not the MoM's host: without
    # this the MoM would scp the job's stdout/stderr to $CLIENT_IP.  The file system is shared, so copy.
    if ! grep -q '^\$usecp \*:/ /$' "$cfg" 2>/dev/null; then
        echo '$usecp *:/ /' >>"$cfg"
        MOM_CONFIG_CHANGED=1
    fi
    mkdir -p "$STATE_DIR"
    printf 'NETNS=%s\nVETH_ROOT=%s\nHEAD=%s\nHEAD_IP=%s\nCLIENT=%s\nCLIENT_IP=%s\n' \
        "$NETNS" "$VETH_ROOT" "$HEAD" "$HEAD_IP" "$CLIENT" "$CLIENT_IP" >"$STATE_DIR/net"
    return 0
}

ensure_home() {
    # pbs_habitat: first start (or version change) initialises the datastore and default queue.
    # It starts pbs_server (-t create) and qmgr itself, so it runs on the head too.
    local ver homever=""
    ver=$("$PBS_EXEC/bin/qstat" --version | sed -e 's/^.* = //')
    [ -f "$PBS_HOME/pbs_version" ] && homever=$(cat "$PBS_HOME/pbs_version")
    if [ "$ver" != "$homever" ] || [ ! -d "$PBS_HOME/datastore" ]; then
        log "pbs_habitat (initialise datastore + default queue, node $HEAD)"
        in_ns "$PBS_EXEC/libexec/pbs_habitat" >"$STATE_LOG.habitat" 2>&1 ||
            { cat "$STATE_LOG.habitat" >&2; die "pbs_habitat failed"; }
    fi
}

check_ns() {  # check_ns NAME: a running daemon must live in our namespace
    local p; p=$(daemon_pid "$1")
    in_our_ns "$p" || die "$1 (pid $p) runs outside network namespace $NETNS (started by an older version of this script?): run openpbs-down.sh first"
}

start_daemon() {  # start_daemon NAME CMD...   (CMD runs on the head)
    local name=$1; shift
    if running "$name"; then check_ns "$name"; log "$name already running (pid $(daemon_pid "$name"))"; return; fi
    log "starting $name"
    in_ns "$@" >>"$STATE_LOG" 2>&1 || { tail -20 "$STATE_LOG" >&2; die "$name failed to start"; }
    wait_for 30 running "$name" || { tail -20 "$STATE_LOG" >&2; die "$name did not come up"; }
    record "$name"
}

start_all() {
    # same order as pbs_init.d: comm, mom, sched, server (the server starts PostgreSQL)
    local d
    for d in comm mom sched server; do running $d && check_ns $d; done
    start_daemon comm "$PBS_EXEC/sbin/pbs_comm"
    if running mom && [ "${MOM_CONFIG_CHANGED:-0}" = 1 ]; then
        log "mom: config changed, kill -HUP $(daemon_pid mom)"; kill -HUP "$(daemon_pid mom)"
    fi
    start_daemon mom "$PBS_EXEC/sbin/pbs_mom"
    start_daemon sched "$PBS_EXEC/sbin/pbs_sched"
    local started_server=0
    if ! running server; then
        log "starting server (it starts the PostgreSQL data service on port 15007)"
        local rc=0
        in_ns "$PBS_EXEC/sbin/pbs_server" >>"$STATE_LOG" 2>&1 || rc=$?
        if [ $rc -eq 4 ]; then   # pbs_init.d: "failed to start, will retry once in 30 seconds"
            log "pbs_server exit 4, retrying once in 30s"; sleep 30
            rc=0; in_ns "$PBS_EXEC/sbin/pbs_server" >>"$STATE_LOG" 2>&1 || rc=$?
        fi
        [ $rc -eq 0 ] || { tail -20 "$STATE_LOG" >&2; die "pbs_server failed to start (exit $rc)"; }
        wait_for 60 running server || { tail -20 "$STATE_LOG" >&2; die "server did not come up"; }
        record server
        started_server=1
    else
        check_ns server
        log "server already running (pid $(daemon_pid server))"
    fi
    wait_for "$WAIT" QH qstat -B || die "server does not answer qstat -B on $HEAD"
    if [ $started_server = 1 ]; then
        running postgres && record postgres
        running ds_monitor && record ds_monitor
    fi
    # what every client does: from the root namespace to $HEAD ($HEAD_IP)
    wait_for 10 Q qstat -B || die "server does not answer qstat -B from the root namespace ($HEAD = $HEAD_IP)"
    return 0
}

restart_sched() {
    local p; p=$(daemon_pid sched)
    if alive "$p" pbs_sched; then
        log "sched: kill -TERM $p (restart)"
        kill -TERM "$p" 2>/dev/null || true
        for ((i = 0; i < 60; i++)); do alive "$p" pbs_sched || break; sleep 0.5; done
        ! alive "$p" pbs_sched || die "pbs_sched $p did not stop"
    fi
    start_daemon sched "$PBS_EXEC/sbin/pbs_sched"
}

configure_server() {
    # qmgr runs on the head: root there is always a manager
    local n st
    QH pbsnodes "$HEAD" >/dev/null 2>&1 || { log "qmgr: create node $HEAD"; QH qmgr -c "create node $HEAD"; }
    # nodes left from an older layout (e.g. the machine's own hostname) never come up again
    while read -r n st; do
        [ -n "$n" ] && [ "$n" != "$HEAD" ] || continue
        case $st in *down* | *state-unknown* | *offline*) log "qmgr: delete node $n ($st)"; QH qmgr -c "delete node $n" || true ;; esac
    done < <(QH pbsnodes -a 2>/dev/null | awk '/^[^ ]/{n=$1} $1=="state"{print n, $3}')
    # the server accepts the scheduler only from sched_host's address; a datastore made for
    # another host name keeps that name here and the scheduler is refused (15008, jobs stay Q)
    # (after such a refusal pbs_sched keeps retrying on a half-registered connection: restart it)
    if [ "$(QH qmgr -c "list sched default" 2>/dev/null | awk '$1 == "sched_host" {print $3}')" != "$HEAD" ]; then
        log "qmgr: set sched default sched_host = $HEAD"
        QH qmgr -c "set sched default sched_host = $HEAD"
        restart_sched
    fi
    QH qmgr -c "set server job_history_enable = True"
    # The client's host ($CLIENT, the root-namespace end) is not the server host: without flatuid
    # the server runs ruserok() and answers "Bad UID for job execution" (15023) to every qsub.
    QH qmgr -c "set server flatuid = True"
    # root in the root namespace (root@$CLIENT) keeps manager/operator rights, as root on the
    # server host has: qmgr, pbsnodes -o, qrun, qterm work from the root namespace too
    for a in managers operators; do
        QH qmgr -c "list server $a" 2>/dev/null | grep -q "root@$CLIENT" ||
            QH qmgr -c "set server $a += root@$CLIENT"
    done
    if [ "$ALLOW_ROOT" = 1 ]; then
        QH qmgr -c "set server acl_roots = root"
    else
        QH qmgr -c "unset server acl_roots" 2>/dev/null || true
    fi
    if [ -n "$USER_NAME" ] && ! id "$USER_NAME" >/dev/null 2>&1; then
        log "creating user $USER_NAME"
        useradd -m -s /bin/bash "$USER_NAME"
    fi
}

wait_node_free() {
    local st=""
    for ((i = 0; i < WAIT * 2; i++)); do
        st=$(Q pbsnodes -a 2>/dev/null | awk -v h="$HEAD" '/^[^ ]/{n=$1} n==h && $1=="state"{print $3}')
        [ "$st" = free ] && { log "node $HEAD is free"; return; }
        sleep 0.5
    done
    Q pbsnodes -a >&2 || true
    die "node $HEAD not free after ${WAIT}s (state: ${st:-none})"
}

cmd_exec() {
    [ "$(id -u)" = 0 ] || die "run as root"
    [ -e "$NETNS_FILE" ] || die "network namespace $NETNS does not exist (run openpbs-up.sh)"
    [ $# -gt 0 ] || set -- /bin/bash
    exec nsenter --net="$NETNS_FILE" -- unshare --uts -- /bin/sh -c 'hostname "$0" && exec "$@"' "$HEAD" "$@"
}

cmd_up() {
    [ "$(id -u)" = 0 ] || die "run as root"
    local t0=$SECONDS
    ensure_packages
    ensure_install "${1:-}"
    # daemons of an older layout (outside the namespace): stop before touching network, hosts, conf
    local d
    for d in comm mom sched server; do running $d && check_ns $d; done
    STATE_LOG=/var/log/openpbs-up.log
    : >>"$STATE_LOG"
    ensure_netns
    ensure_hosts
    ensure_conf
    ensure_home
    start_all
    configure_server
    wait_node_free
    log "up in $((SECONDS - t0))s: server $HEAD ($HEAD_IP, network namespace $NETNS), PBS_EXEC=$PBS_EXEC, PBS_HOME=$PBS_HOME; $(cmd_env)"
}

case ${1:-up} in
up) shift || true; cmd_up "$@" ;;
smoke) cmd_smoke ;;
status) cmd_status ;;
env) cmd_env ;;
exec) shift; cmd_exec "$@" ;;
-h | --help) awk 'NR > 1 && /^set -euo/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" ;;
*) cmd_up "$@" ;;   # a tarball path
esac
