"""Issue 21: what one login shared by many processes costs per command.

Against the test cluster's key-only sshd, as a laptop user with a ``~/.ssh/config`` alias:

- a command through ``ssh_transport: openssh`` (``ssh`` on the shared ControlMaster
  connection) against one paramiko connection held by the process, and against plain OpenSSH
  ``ssh -o ControlMaster=auto -o ControlPersist=... true`` (what a shell script would run);
- the first command of a new process (``host_for`` and one command, timed inside a fresh
  Python): joining the master against a new paramiko connection and login.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from .report import Row
from .timing import median_seconds, scratch

SNIPPET = """
import sys, time, json
from packtivity.hosts import host_for
start = time.perf_counter()
host = host_for("benchcluster", transport=sys.argv[1])
host.run(["true"])
print(json.dumps({"first": time.perf_counter() - start}))
"""


def _laptop(directory: Path) -> Path:
    env = os.environ
    home = directory / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(
        Path(env["PACKTIVITY_TEST_SSH_KNOWN_HOSTS"]).read_text()
    )
    (home / ".ssh" / "config").write_text(
        "Host benchcluster\n"
        f"  HostName {env['PACKTIVITY_TEST_SSH_HOST']}\n"
        f"  Port {env['PACKTIVITY_TEST_SSH_PORT']}\n  User {env['PACKTIVITY_TEST_SSH_USER']}\n"
        f"  IdentityFile {env['PACKTIVITY_TEST_SSH_KEY']}\n"
        f"  UserKnownHostsFile {home / '.ssh' / 'known_hosts'}\n  BatchMode yes\n"
    )
    return home


def transports(repeat: int) -> list[Row]:
    from packtivity import hosts

    repeat = max(repeat, 20)
    with scratch("ssh-transports") as directory:
        home = _laptop(directory)
        previous = os.environ["HOME"]
        os.environ["HOME"] = str(home)
        config = str(home / ".ssh" / "config")
        socket = str(directory / "cm-%C")  # (a socket path has at most 107 bytes)
        raw = ["ssh", "-F", config, "-o", "ControlMaster=auto", "-o", f"ControlPath={socket}",
               "-o", "ControlPersist=60", "benchcluster", "true"]  # fmt: skip
        openssh: Any = None
        paramiko: Any = None
        try:
            openssh = hosts.host_for("benchcluster", transport="openssh")
            paramiko = hosts.host_for("benchcluster", transport="paramiko")
            subprocess.run(raw, check=True, capture_output=True)  # its master, up front
            ours = median_seconds(lambda: openssh.run(["true"]), repeat)
            held = median_seconds(lambda: paramiko.run(["true"]), repeat)
            plain = median_seconds(
                lambda: subprocess.run(raw, check=True, capture_output=True), repeat
            )
            firsts = {}
            for transport in ("openssh", "paramiko"):
                runs = []
                for _ in range(min(repeat, 10)):
                    done = subprocess.run(
                        [sys.executable, "-c", SNIPPET, transport],
                        check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    runs.append(json.loads(done.stdout.splitlines()[-1])["first"])
                firsts[transport] = statistics.median(runs)
        finally:
            if openssh is not None:
                openssh.stop_master()
            subprocess.run([*raw[:-2], "-O", "exit", "benchcluster"], capture_output=True)
            if paramiko is not None:
                paramiko.close()
            os.environ["HOME"] = previous
    return [
        Row("a command, ssh_transport openssh (shared master)", ours,
            "one paramiko connection held by the process", held, "-", None),
        Row("a command, ssh_transport openssh (shared master)", ours,
            "`ssh -o ControlMaster=auto ... true` (OpenSSH)", plain, "-", None),
        Row("first command of a new process, openssh (joins the master)", firsts["openssh"],
            "paramiko (new connection and login)", firsts["paramiko"], "-", None,
            note="host_for + one command, timed inside the process"),
    ]  # fmt: skip
