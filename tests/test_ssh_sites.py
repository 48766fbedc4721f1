"""SSH as real HPC sites require it, against the test cluster's real sshds, KDC and CA
(tests/cluster/ssh-sites.sh), driven as a laptop user with only ``~/.ssh/config`` (and
``kinit`` for Kerberos): ``Include``/``Match`` read as OpenSSH reads them, SSH certificates,
Kerberos, ``ProxyCommand``, a two-hop ``ProxyJump``, and one login shared by many processes
(``ssh_transport: openssh``, a ControlMaster connection)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BIN, assert_one_line_error
from stepspecs import host_spec, write_spec
from test_ssh import Laptop, laptop  # noqa: F401  (the laptop fixture)


@dataclass
class Sites:
    """What ``tests/cluster/ssh-sites.sh env`` exported."""

    cert_port: int
    cert_key: str  #: a key with a certificate (``-cert.pub`` beside it) valid for a year
    expired_cert_key: str  #: a key whose certificate expired in 2020
    known_hosts: str
    kerberos_port: int
    krb5_config: str
    keytab: str  #: the user's keys, for ``kinit -k -t`` (the test's way of typing a password)
    principal: str


@pytest.fixture
def sites(laptop: Laptop) -> Sites:  # noqa: F811
    env = os.environ
    names = ["CERT_PORT", "CERT_KEY", "EXPIRED_CERT_KEY", "SITES_KNOWN_HOSTS", "KERBEROS_PORT"]
    missing = [n for n in names if not env.get(f"PACKTIVITY_TEST_SSH_{n}")]
    if missing or not env.get("PACKTIVITY_TEST_KRB5_CONFIG"):
        pytest.fail("the test cluster's SSH sites are not up: run tests/cluster/cluster up")
    with open(laptop.known_hosts, "a") as known:
        known.write(Path(env["PACKTIVITY_TEST_SSH_SITES_KNOWN_HOSTS"]).read_text())
    return Sites(
        int(env["PACKTIVITY_TEST_SSH_CERT_PORT"]),
        env["PACKTIVITY_TEST_SSH_CERT_KEY"],
        env["PACKTIVITY_TEST_SSH_EXPIRED_CERT_KEY"],
        env["PACKTIVITY_TEST_SSH_SITES_KNOWN_HOSTS"],
        int(env["PACKTIVITY_TEST_SSH_KERBEROS_PORT"]),
        env["PACKTIVITY_TEST_KRB5_CONFIG"],
        env["PACKTIVITY_TEST_KRB5_KEYTAB"],
        env["PACKTIVITY_TEST_KRB5_PRINCIPAL"],
    )


def add_config(laptop: Laptop, text: str) -> None:  # noqa: F811
    with open(laptop.home / ".ssh" / "config", "a") as config:
        config.write(text)


def host_block(laptop: Laptop, alias: str, port: int, *lines: str) -> str:  # noqa: F811
    c = laptop.cluster
    body = "".join(f"  {line}\n" for line in lines)
    return (
        f"Host {alias}\n  HostName {c.ssh_host}\n  Port {port}\n  User {c.ssh_user}\n"
        f"  UserKnownHostsFile {laptop.known_hosts}\n{body}"
    )


def run_step(cli, tmp_path: Path, target: str, workdir: Path, *extra: str, env=None):
    """A host step through ``--ssh target`` (``-b local``: the transport is what is tested)."""
    write_spec(tmp_path, "step.yml", host_spec("id -un > who.txt", {"who": "{workdir}/who.txt"}))
    argv = [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "local",
            "--ssh", target, "-w", str(workdir), *extra]  # fmt: skip
    return subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )  # fmt: skip


TRANSPORTS = ["paramiko", "openssh"]


def with_transport(transport: str) -> dict[str, str]:
    return {"PACKTIVITY_SSH_TRANSPORT": transport}


@pytest.fixture(autouse=True)
def runtime_dir(monkeypatch) -> Iterator[Path]:
    """A short ``XDG_RUNTIME_DIR`` of this test's own: the laptop's home (under pytest's
    tmp_path) is too long a path for a socket, so the master sockets go there."""
    directory = Path(tempfile.mkdtemp(prefix="cm-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def control_sockets() -> list[Path]:
    return sorted((Path(os.environ["XDG_RUNTIME_DIR"]) / "packtivity-cm").glob("*"))


def stop_masters(laptop: Laptop) -> None:  # noqa: F811
    """End the ControlMaster connections this test's processes left (ours, by their socket)."""
    for socket in control_sockets():
        subprocess.run(["ssh", "-S", str(socket), "-O", "exit", "x"], capture_output=True,
                       timeout=30)  # fmt: skip


# ---- the user's OpenSSH configuration is the truth -----------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_include_and_match_are_read_as_openssh_reads_them(
    laptop: Laptop,  # noqa: F811
    cli,
    tmp_path,
    transport,
) -> None:
    """The alias lives in an included file, its port comes from a ``Match host ... exec``
    block: ``ssh -G`` applies both, the step runs there."""
    c = laptop.cluster
    (laptop.home / ".ssh" / "config.d").mkdir()
    (laptop.home / ".ssh" / "config.d" / "site").write_text(
        f"Host mycl\n  HostName {c.ssh_host}\n  User {c.ssh_user}\n  IdentityFile {c.ssh_key}\n"
        f"  UserKnownHostsFile {laptop.known_hosts}\n"
    )
    config = laptop.home / ".ssh" / "config"
    config.write_text(
        f"Include {laptop.home}/.ssh/config.d/*\n"
        f'Match host {c.ssh_host} exec "test -n %h"\n  Port {c.ssh_port}\n' + config.read_text()
    )
    try:
        r = run_step(cli, tmp_path, "mycl", laptop.work, env=with_transport(transport))
        assert r.returncode == 0, r.stderr
        assert (laptop.work / "who.txt").read_text().strip() == c.ssh_user
    finally:
        stop_masters(laptop)


def test_a_bad_config_is_one_line(laptop: Laptop, cli, tmp_path) -> None:  # noqa: F811
    """A setting paramiko cannot honour, a config ssh rejects, a transport nobody has: one
    line each, naming it."""
    key = f"IdentityFile {laptop.cluster.ssh_key}"
    add_config(laptop, host_block(laptop, "aliased", laptop.cluster.ssh_port, key,
                                  "HostKeyAlias other"))  # fmt: skip
    aliased = run_step(cli, tmp_path, "aliased", laptop.work)
    assert_one_line_error(aliased, "HostKeyAlias other", "ssh_transport: openssh")
    bad_transport = run_step(
        cli, tmp_path, "testcluster", laptop.work, env=with_transport("telnet")
    )
    assert_one_line_error(bad_transport, "PACKTIVITY_SSH_TRANSPORT", "'telnet'", "openssh")
    add_config(laptop, "Host broken\n  NoSuchOption yes\n")
    r = run_step(cli, tmp_path, "broken", laptop.work)
    assert_one_line_error(r, "ssh -G says", "nosuchoption")


# ---- certificates ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_certificate_login_and_an_expired_certificate(
    laptop: Laptop,  # noqa: F811
    sites: Sites,
    cli,
    tmp_path,
    transport,
) -> None:
    """The sshd trusts the test CA and no key: the key with its certificate (``-cert.pub``
    beside it) logs in, the bare cluster key is refused, an expired certificate is one line
    saying so."""
    add_config(
        laptop,
        host_block(laptop, "certsite", sites.cert_port, f"IdentityFile {sites.cert_key}",
                   "IdentitiesOnly yes")
        + host_block(laptop, "oldcert", sites.cert_port, f"IdentityFile {sites.expired_cert_key}",
                     "IdentitiesOnly yes")
        + host_block(laptop, "barekey", sites.cert_port, f"IdentityFile {laptop.cluster.ssh_key}",
                     "IdentitiesOnly yes"),
    )  # fmt: skip
    env = with_transport(transport)
    try:
        ok = run_step(cli, tmp_path, "certsite", laptop.work / "cert", env=env)
        assert ok.returncode == 0, ok.stderr
        assert (laptop.work / "cert" / "who.txt").read_text().strip() == laptop.cluster.ssh_user
        stop_masters(laptop)  # (a master serves its host, port and user, whatever the key)
        expired = run_step(cli, tmp_path, "oldcert", laptop.work / "old", env=env)
        assert_one_line_error(expired, "certificate", "expired at 2020-01-02")
        bare = run_step(cli, tmp_path, "barekey", laptop.work / "bare", env=env)
        assert bare.returncode == 2 and "Traceback" not in bare.stderr, bare.stderr
        assert not (laptop.work / "bare" / "who.txt").exists()
    finally:
        stop_masters(laptop)


# ---- Kerberos -------------------------------------------------------------------------------


def test_kerberos_login_with_a_ticket_and_one_line_without(
    laptop: Laptop,  # noqa: F811
    sites: Sites,
    cli,
    tmp_path,
) -> None:
    """``kinit``, then a batch step over the Kerberos-only sshd with no key and no password
    (the OpenSSH transport: paramiko has no GSSAPI here, and says so in one line); without a
    ticket, and with an expired one, one line says to run kinit."""
    krb = ("GSSAPIAuthentication yes", "PubkeyAuthentication no")
    add_config(laptop, host_block(laptop, "krbsite", sites.kerberos_port, *krb))
    cache = tmp_path / "krb5cc"
    env = {"KRB5_CONFIG": sites.krb5_config, "KRB5CCNAME": f"FILE:{cache}"}
    kinit = ["kinit", "-k", "-t", sites.keytab, sites.principal]
    subprocess.run(kinit, env={**os.environ, **env}, check=True, timeout=30)
    try:
        spec = host_spec("id -un > who.txt", {"who": "{workdir}/who.txt"})
        write_spec(tmp_path, "step.yml", spec)
        argv = [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "slurm",
                "--ssh", "krbsite", "-w", str(laptop.work / "krb")]  # fmt: skip
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                           env={**os.environ, **env, **with_transport("openssh")},
                           stdin=subprocess.DEVNULL)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert (laptop.work / "krb" / "who.txt").read_text().strip() == laptop.cluster.ssh_user
        paramiko = run_step(cli, tmp_path, "krbsite", laptop.work / "p", env=env)
        assert_one_line_error(paramiko, "Kerberos", "ssh_transport: openssh")
        stop_masters(laptop)
        subprocess.run(["kdestroy"], env={**os.environ, **env}, check=True, timeout=30)
        none = run_step(cli, tmp_path, "krbsite", laptop.work / "n",
                        env={**env, **with_transport("openssh")})  # fmt: skip
        assert_one_line_error(none, "no valid Kerberos ticket", "run kinit")
        subprocess.run([*kinit[:1], "-l", "2s", *kinit[1:]], env={**os.environ, **env},
                       check=True, timeout=30)  # fmt: skip
        time.sleep(3)
        expired = run_step(cli, tmp_path, "krbsite", laptop.work / "e",
                           env={**env, **with_transport("openssh")})  # fmt: skip
        assert_one_line_error(expired, "no valid Kerberos ticket", "run kinit")
    finally:
        stop_masters(laptop)


# ---- one login for many processes -----------------------------------------------------------


def test_ten_checkproxy_processes_ask_for_the_code_once(laptop: Laptop, tmp_path) -> None:  # noqa: F811
    """Against the key + keyboard-interactive sshd, with ``ssh_transport: openssh``: a
    submission and ten ``packtivity-checkproxy`` processes in a row.  The code is asked once
    (``SSH_ASKPASS`` counts the questions), the sshd logs one keyboard-interactive login, and
    another user of the machine cannot use the shared connection."""
    c = laptop.cluster
    password = c.ssh_password_file.read_text().strip()
    asked = tmp_path / "asked.log"
    askpass = tmp_path / "askpass"
    askpass.write_text(f'#!/bin/sh\necho "$1" >> {asked}\ncat {c.ssh_password_file}\n')
    askpass.chmod(0o700)
    config = tmp_path / "config.yml"
    config.write_text("ssh_transport: openssh\n")
    env = {**os.environ, "PACKTIVITY_CONFIG": str(config), "SSH_ASKPASS": str(askpass),
           "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ""}  # fmt: skip
    sshd_log = Path(c.ssh_known_hosts).parent.parent / "log" / "sshd-2fa.log"
    logins_before = sshd_log.read_text(errors="replace").count("Accepted keyboard-interactive")
    write_spec(tmp_path, "step.yml", host_spec("echo ok > {out}", {"o": "{out}"}))
    try:
        submit = subprocess.run(
            [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "slurm",
             "--ssh", "twofactor", "--async", "-p", "out={workdir}/o.txt",
             "-w", str(laptop.work)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert submit.returncode == 0, submit.stderr
        for _ in range(10):
            check = subprocess.run(
                [str(BIN / "packtivity-checkproxy"), "proxy.json"], cwd=tmp_path,
                capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert check.returncode == 0, check.stderr
        waited = subprocess.run(
            [str(BIN / "packtivity-checkproxy"), "--wait", "proxy.json"], cwd=tmp_path,
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert waited.returncode == 0 and "successful: True" in waited.stdout, waited.stderr
        assert len(asked.read_text().splitlines()) == 1, asked.read_text()
        logins = sshd_log.read_text(errors="replace").count("Accepted keyboard-interactive")
        assert logins == logins_before + 1
        (socket,) = control_sockets()
        assert (socket.parent.stat().st_mode & 0o777) == 0o700
        other = subprocess.run(
            ["runuser", "-u", "nobody", "--", "ssh", "-S", str(socket), "-O", "check", "x"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert other.returncode != 0, other.stdout
        for path in [*laptop.work.rglob("*"), *tmp_path.rglob("*")]:
            if path.is_file() and path != askpass:
                assert password not in path.read_text(errors="replace"), path
    finally:
        stop_masters(laptop)


# ---- ProxyCommand and ProxyJump -------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_proxy_command_and_a_two_hop_proxy_jump(
    laptop: Laptop,  # noqa: F811
    cli,
    tmp_path,
    transport,
) -> None:
    """``ProxyCommand ssh -W %h:%p testcluster`` and ``ProxyJump hop1,hop2`` (two jump hosts,
    both the cluster's sshd under other names): the step runs on the cluster through them."""
    c = laptop.cluster
    config = laptop.home / ".ssh" / "config"
    key = f"IdentityFile {c.ssh_key}"
    add_config(
        laptop,
        host_block(laptop, "viacommand", c.ssh_port, key,
                   f"ProxyCommand ssh -F {config} -W %h:%p testcluster")
        + host_block(laptop, "hop1", c.ssh_port, key)
        + host_block(laptop, "hop2", c.ssh_port, key)
        + host_block(laptop, "twohops", c.ssh_port, key, "ProxyJump hop1,hop2"),
    )  # fmt: skip
    sshd_log = Path(c.ssh_known_hosts).parent.parent / "log" / "sshd.log"
    try:
        for alias in ("viacommand", "twohops"):
            before = sshd_log.read_text(errors="replace").count("Accepted publickey")
            r = run_step(cli, tmp_path, alias, laptop.work / alias, env=with_transport(transport))
            assert r.returncode == 0, r.stderr
            assert (laptop.work / alias / "who.txt").read_text().strip() == c.ssh_user
            logins = sshd_log.read_text(errors="replace").count("Accepted publickey") - before
            assert logins >= (2 if alias == "viacommand" else 3), (alias, logins)
            stop_masters(laptop)  # (the next alias is the same host, port and user)
    finally:
        stop_masters(laptop)


def test_the_proxy_names_the_target_not_the_transport(laptop: Laptop, tmp_path) -> None:  # noqa: F811
    """A proxy written through one transport is checked through the other (the transport is
    the checking user's choice, like the terminal they type in)."""
    write_spec(tmp_path, "step.yml", host_spec("echo ok > {out}", {"o": "{out}"}))
    argv = [str(BIN / "packtivity-run"), "-t", str(tmp_path), "step.yml", "-b", "slurm",
            "--ssh", "testcluster", "--async", "-p", "out={workdir}/o.txt",
            "-w", str(laptop.work)]  # fmt: skip
    env = {**os.environ, **with_transport("openssh")}
    try:
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=env)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "openssh" not in (tmp_path / "proxy.json").read_text()
        check = subprocess.run(
            [str(BIN / "packtivity-checkproxy"), "--wait", "--json", "proxy.json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert json.loads(check.stdout)["steps"][0]["result"] == {"o": f"{laptop.work}/o.txt"}
    finally:
        stop_masters(laptop)
