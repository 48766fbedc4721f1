#!/usr/bin/env bash
# SSH the way real HPC sites require it, for the test cluster's user ($SSH_UP_USER), on 127.0.0.1:
#
#   - a certificate-only sshd (port $SSH_UP_PORT+2): it trusts a test CA (TrustedUserCAKeys) and
#     no authorized key, so the bare key is refused; the client gets a key with a certificate
#     valid for a year and one that expired (NERSC's sshproxy style);
#   - a Kerberos KDC (Debian's krb5-kdc; realm PACKTIVITY.TEST on 127.0.0.1:$KDC_PORT) with a
#     principal for the user (its keytab, for kinit -k) and host principals for the sshd;
#   - a Kerberos-only sshd (port $SSH_UP_PORT+3): GSSAPIAuthentication, nothing else (CERN's
#     lxplus style).
#
#   ssh-sites.sh up | down | status | env
#
# Run as root, after slurm.sh ssh-up (it reuses its host key, user and known_hosts).  Stops only
# what it started (PID files).  Everything lives under $BASE/ssh-sites.
set -euo pipefail
BASE=${SLURM_UP_BASE:-/var/lib/packtivity-cluster}
# shellcheck disable=SC1091
. "$BASE/ssh/env"
DIR=$BASE/ssh-sites
RUN=$DIR/run
LOG=$BASE/log
SSHD=$BASE/ssh
CERT_PORT=$((SSH_UP_PORT + 2))
KRB_PORT=$((SSH_UP_PORT + 3))
KDC_PORT=${KDC_UP_PORT:-8888}
REALM=PACKTIVITY.TEST
KRB=$DIR/krb5
log() { printf '[ssh-sites %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() {  # alive PIDFILE NAME: the pid, when that process runs and is NAME
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

stop() {  # stop PIDFILE NAME
    local pid
    if pid=$(alive "$1" "$2"); then
        log "$2: stopping pid $pid"
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$1"
}

install_packages() {
    local missing=()
    for p in krb5-kdc krb5-admin-server krb5-user; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    # the packages ask for a realm (debconf) and try to start their services: neither is used
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >"$LOG/ssh-sites-apt.log" 2>&1 || { tail -20 "$LOG/ssh-sites-apt.log" >&2; die "apt-get failed"; }
}

ca_up() {
    mkdir -p "$DIR/ca" "$DIR/client/expired"
    chmod 700 "$DIR/ca"
    [ -s "$DIR/ca/ca" ] || ssh-keygen -q -t ed25519 -N '' -C packtivity-test-ca -f "$DIR/ca/ca"
    local key=$DIR/client/id_ed25519 old=$DIR/client/expired/id_ed25519
    [ -s "$key" ] || ssh-keygen -q -t ed25519 -N '' -C packtivity-cert-client -f "$key"
    [ -s "$old" ] || ssh-keygen -q -t ed25519 -N '' -C packtivity-cert-expired -f "$old"
    # re-signed at every up: valid from a minute ago for 52 weeks
    ssh-keygen -q -s "$DIR/ca/ca" -I packtivity-test -n "$SSH_UP_USER" -V -1m:+52w "$key.pub"
    ssh-keygen -q -s "$DIR/ca/ca" -I packtivity-expired -n "$SSH_UP_USER" \
        -V 20200101:20200102 "$old.pub"
    chmod 600 "$key" "$old"
}

write_sshd_config() {  # write_sshd_config NAME PORT LINES...
    local name=$1 port=$2; shift 2
    {
        echo "# Written by tests/cluster/ssh-sites.sh -- private test sshd, loopback only"
        echo "Port $port"
        echo "ListenAddress 127.0.0.1"
        echo "HostKey $SSHD/ssh_host_ed25519_key"
        echo "PidFile $RUN/sshd-$name.pid"
        echo "AllowUsers $SSH_UP_USER"
        echo "PasswordAuthentication no"
        echo "KbdInteractiveAuthentication no"
        echo "UsePAM no"
        echo "X11Forwarding no"
        echo "PrintMotd no"
        echo "MaxStartups 50:30:100"
        echo "MaxSessions 50"
        echo "Subsystem sftp internal-sftp"
        echo "LogLevel VERBOSE"
        printf '%s\n' "$@"
    } >"$DIR/sshd-$name.conf"
    /usr/sbin/sshd -t -f "$DIR/sshd-$name.conf" || die "sshd-$name: config test failed"
}

start_sshd() {  # start_sshd NAME [ENV=value...]
    local name=$1; shift
    if alive "$RUN/sshd-$name.pid" sshd >/dev/null; then log "sshd-$name: running (ours)"; return; fi
    log "sshd-$name: starting"
    env "$@" /usr/sbin/sshd -f "$DIR/sshd-$name.conf" -E "$LOG/sshd-$name.log" </dev/null >/dev/null 2>&1 ||
        { tail -5 "$LOG/sshd-$name.log" >&2; die "sshd-$name failed to start"; }
}

krb_config() {
    mkdir -p "$KRB/db"
    chmod 700 "$KRB/db"
    cat >"$KRB/krb5.conf" <<EOF
# Written by tests/cluster/ssh-sites.sh -- the test realm (clients: KRB5_CONFIG=this file)
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
[realms]
    $REALM = {
        kdc = 127.0.0.1:$KDC_PORT
    }
[domain_realm]
    127.0.0.1 = $REALM
    localhost = $REALM
EOF
    cat >"$KRB/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$KDC_PORT
    kdc_tcp_listen = 127.0.0.1:$KDC_PORT
[realms]
    $REALM = {
        database_name = $KRB/db/principal
        key_stash_file = $KRB/db/stash
        acl_file = $KRB/kadm5.acl
        max_life = 10h
        max_renewable_life = 1d
    }
[logging]
    kdc = FILE:$LOG/krb5kdc.log
EOF
    : >"$KRB/kadm5.acl"
    chmod 644 "$KRB/krb5.conf"
}

kdc_up() {
    krb_config
    export KRB5_CONFIG=$KRB/krb5.conf KRB5_KDC_PROFILE=$KRB/kdc.conf
    if [ ! -s "$KRB/db/principal" ]; then
        log "kdb5_util create (realm $REALM)"
        kdb5_util create -s -r "$REALM" -P "$(openssl rand -hex 16)" >/dev/null
    fi
    local p
    for p in "$SSH_UP_USER" host/127.0.0.1 host/localhost; do
        kadmin.local -q "getprinc $p" 2>/dev/null | grep -q "^Principal: $p@" ||
            kadmin.local -q "addprinc -randkey $p" >/dev/null
    done
    if [ ! -s "$KRB/sshd.keytab" ]; then
        kadmin.local -q "ktadd -k $KRB/sshd.keytab host/127.0.0.1 host/localhost" >/dev/null
        chmod 600 "$KRB/sshd.keytab"
    fi
    if [ ! -s "$KRB/user.keytab" ]; then  # kinit -k -t: the test's stand-in for typing a password
        kadmin.local -q "ktadd -k $KRB/user.keytab $SSH_UP_USER" >/dev/null
        chmod 644 "$KRB/user.keytab"
    fi
    if ! alive "$RUN/krb5kdc.pid" krb5kdc >/dev/null; then
        log "krb5kdc: starting on 127.0.0.1:$KDC_PORT"
        krb5kdc -P "$RUN/krb5kdc.pid" || die "krb5kdc failed to start"
    fi
}

do_up() {
    mkdir -p "$RUN" "$LOG"
    install_packages
    ca_up
    write_sshd_config cert "$CERT_PORT" \
        "PubkeyAuthentication yes" "AuthorizedKeysFile none" "TrustedUserCAKeys $DIR/ca/ca.pub"
    start_sshd cert
    kdc_up
    write_sshd_config kerberos "$KRB_PORT" \
        "PubkeyAuthentication no" "GSSAPIAuthentication yes" "GSSAPIStrictAcceptorCheck no" \
        "GSSAPICleanupCredentials yes"
    start_sshd kerberos "KRB5_CONFIG=$KRB/krb5.conf" "KRB5_KTNAME=FILE:$KRB/sshd.keytab"
    local hk; hk=$(cut -d' ' -f1,2 "$SSHD/ssh_host_ed25519_key.pub")
    printf '[127.0.0.1]:%s %s\n' "$CERT_PORT" "$hk" "$KRB_PORT" "$hk" >"$DIR/known_hosts"
    do_env >"$DIR/env"
    log "up: certificates on 127.0.0.1:$CERT_PORT, Kerberos ($REALM) on 127.0.0.1:$KRB_PORT"
}

do_down() {
    stop "$RUN/sshd-kerberos.pid" sshd
    stop "$RUN/sshd-cert.pid" sshd
    stop "$RUN/krb5kdc.pid" krb5kdc
}

do_status() {
    local rc=0 what
    for what in sshd-cert:sshd sshd-kerberos:sshd krb5kdc:krb5kdc; do
        if pid=$(alive "$RUN/${what%%:*}.pid" "${what##*:}"); then echo "${what%%:*}: running pid $pid"
        else echo "${what%%:*}: not running"; rc=3; fi
    done
    return $rc
}

do_env() {
    cat <<EOF
export PACKTIVITY_TEST_SSH_CERT_PORT=$CERT_PORT
export PACKTIVITY_TEST_SSH_CERT_KEY=$DIR/client/id_ed25519
export PACKTIVITY_TEST_SSH_EXPIRED_CERT_KEY=$DIR/client/expired/id_ed25519
export PACKTIVITY_TEST_SSH_SITES_KNOWN_HOSTS=$DIR/known_hosts
export PACKTIVITY_TEST_SSH_KERBEROS_PORT=$KRB_PORT
export PACKTIVITY_TEST_KRB5_CONFIG=$KRB/krb5.conf
export PACKTIVITY_TEST_KRB5_KEYTAB=$KRB/user.keytab
export PACKTIVITY_TEST_KRB5_PRINCIPAL=$SSH_UP_USER@$REALM
EOF
}

case "${1:-}" in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
    env) do_env ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
esac
