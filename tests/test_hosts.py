"""The host interface's pieces that need no cluster: SSH target parsing with ``~/.ssh/config``,
and the SFTP glob (checked against Python's own ``glob`` on a real directory tree)."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from packtivity.hosts.globbing import host_glob
from packtivity.hosts.ssh_target import SshTargetError, resolve


@pytest.fixture
def ssh_config(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", "laptopuser")
    config = home / ".ssh" / "config"
    config.write_text(
        "Host cluster\n  HostName login.example.org\n  User alice\n  Port 2200\n"
        "  IdentityFile ~/.ssh/cluster_key\n  ProxyJump gw.example.org\n"
        "  UserKnownHostsFile ~/.ssh/kh_a ~/.ssh/kh_b\n"
    )
    return home


def test_target_resolution_with_ssh_config(ssh_config: Path) -> None:
    target = resolve("cluster")
    assert (target.hostname, target.port, target.user) == ("login.example.org", 2200, "alice")
    assert target.identity_files == (str(ssh_config / ".ssh" / "cluster_key"),)
    assert target.known_hosts_files == (
        str(ssh_config / ".ssh" / "kh_a"),
        str(ssh_config / ".ssh" / "kh_b"),
    )
    assert target.proxy_jump == "gw.example.org"
    assert target.known_hosts_name == "[login.example.org]:2200"
    explicit = resolve("bob@cluster:22")  # what is typed wins over the config
    assert (explicit.user, explicit.port, explicit.known_hosts_name) == (
        "bob",
        22,
        "login.example.org",
    )
    plain = resolve("[::1]:2222")
    assert (plain.hostname, plain.port, plain.proxy_jump) == ("::1", 2222, None)
    assert plain.label.endswith("@[::1]:2222")


def test_include_match_and_certificates_are_read_as_ssh_reads_them(ssh_config: Path) -> None:
    """``ssh -G`` applies ``Include`` and ``Match`` (here ``exec``, run by ssh) itself."""
    (ssh_config / ".ssh" / "site.conf").write_text(
        "Host lxplus\n  HostName lxplus.cern.ch\n  GSSAPIAuthentication yes\n"
        "  CertificateFile ~/.ssh/nersc-cert.pub\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking accept-new\n  ProxyCommand ssh -W %h:%p gw\n"
    )
    config = ssh_config / ".ssh" / "config"
    config.write_text(
        f"Include {ssh_config}/.ssh/site.conf\n"
        'Match host lxplus.cern.ch exec "true"\n  User alice\n  Port 2022\n' + config.read_text()
    )
    target = resolve("lxplus")
    assert (target.hostname, target.user, target.port) == ("lxplus.cern.ch", "alice", 2022)
    assert target.gssapi and target.identities_only and target.accepts_new_host_keys
    assert target.certificate_files == (str(ssh_config / ".ssh" / "nersc-cert.pub"),)
    assert target.proxy_command == "ssh -W %h:%p gw" and target.source == "ssh -G"


def test_without_the_ssh_client_paramiko_reads_includes_and_match(
    ssh_config: Path, monkeypatch
) -> None:
    """No ``ssh`` on the PATH: paramiko's parser reads the config, with its top-level
    ``Include`` files inserted (relative to ~/.ssh, globs); an ``Include`` inside a block, which
    OpenSSH reads only when the block matches, is refused in one line, not skipped."""
    monkeypatch.setenv("PATH", str(ssh_config))  # a directory without ssh
    (ssh_config / ".ssh" / "conf.d").mkdir()
    (ssh_config / ".ssh" / "conf.d" / "a.conf").write_text("Host site\n  HostName a.example.org\n")
    config = ssh_config / ".ssh" / "config"
    config.write_text(
        "User everyone\nInclude conf.d/*.conf\nPort 2022\n"
        "Match host a.example.org\n  User alice\n" + config.read_text()
    )
    site = resolve("site")
    assert (site.hostname, site.port, site.user) == ("a.example.org", 2022, "everyone")
    assert site.source == f"paramiko's parser of {config}"
    assert resolve("cluster").hostname == "login.example.org"
    config.write_text("Host cluster\n  Include other.conf\n")
    with pytest.raises(SshTargetError, match=r"config:2: an Include inside a Host or Match"):
        resolve("cluster")


def test_settings_paramiko_cannot_honour_are_named(ssh_config: Path) -> None:
    (ssh_config / ".ssh" / "config").write_text(
        "Host alias\n  HostKeyAlias login-cluster\n  PKCS11Provider /usr/lib/opensc.so\n"
        "Host shared\n  ControlMaster auto\n"
    )
    assert resolve("alias").not_for_paramiko == (
        "HostKeyAlias login-cluster", "PKCS11Provider /usr/lib/opensc.so"
    )  # fmt: skip
    plain = resolve("shared")
    assert plain.not_for_paramiko == () and plain.control_master


def test_a_config_ssh_rejects_is_its_own_words(ssh_config: Path) -> None:
    (ssh_config / ".ssh" / "config").write_text("Host x\n  NoSuchOption 1\n")
    with pytest.raises(SshTargetError, match="(?i)ssh -G says: .*nosuchoption"):
        resolve("x")


@pytest.mark.parametrize("bad", ["", "user@", "host:0", "host:99999", "a b", "user@host:port"])
def test_malformed_targets_are_refused(ssh_config: Path, bad: str) -> None:
    with pytest.raises(SshTargetError):
        resolve(bad)


def _listdir(path: str) -> list[tuple[str, bool]] | None:
    try:
        return [(e.name, e.is_dir()) for e in os.scandir(path)]
    except OSError:
        return None


@pytest.mark.parametrize(
    "pattern",
    ["*.txt", "**/*.txt", "**", "sub/*", "s*/[ab].txt", ".*", "sub/**/deep*", "nope/*", "a.txt"],
)
def test_host_glob_matches_python_glob(tmp_path: Path, pattern: str) -> None:
    for name in ["a.txt", "b.txt", ".hidden.txt", "sub/a.txt", "sub/b.txt", "sub/x/deep.txt",
                 "sub/.h/deep.txt", "sux/a.txt", "sp ace/z.txt"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    full = f"{tmp_path}/{pattern}"
    expected = sorted(glob.glob(full, recursive=True))
    assert host_glob(full, _listdir, os.path.exists) == expected


def test_master_sockets_go_where_their_path_fits(tmp_path: Path, monkeypatch) -> None:
    """``~/.ssh/packtivity-cm`` when a socket's path fits there (ssh's temporary name
    included), else ``$XDG_RUNTIME_DIR/packtivity-cm``; the directory is the user's, 0700."""
    from packtivity.hosts.openssh import _SOCKET_NAME, _SOCKET_PATH_MAX, _default_control_path

    short = Path("/tmp") / f"h{os.getpid()}"
    monkeypatch.setenv("HOME", str(short))
    try:
        assert _default_control_path() == f"{short}/.ssh/packtivity-cm/%C"
        assert (short / ".ssh" / "packtivity-cm").stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(short, ignore_errors=True)
    deep = tmp_path / ("d" * (_SOCKET_PATH_MAX - _SOCKET_NAME))
    monkeypatch.setenv("HOME", str(deep))
    runtime = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    try:
        assert _default_control_path() == f"{runtime}/packtivity-cm/%C"
        assert not (deep / ".ssh").exists()
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
