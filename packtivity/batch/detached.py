"""``-b local``'s submitter: the job body started detached on its host, no scheduler.

The body runs in a session of its own (``setsid``), so it outlives the submitting process (and
``packtivity-run --async`` returns at once); its process id is the job's native id and its
process group, which ``-b local``'s cancel signals.  The start is one command through the
:class:`~packtivity.hosts.Host`, the same on this machine and over SSH.
"""

from __future__ import annotations

import shlex

from ..hosts import Host
from ..jobscript import JobBody
from .local import local_id
from .submission import SubmissionError, Submitted

#: runs job body $0 detached from the submitting process and writes its PID and start time
#: (``ps``'s lstart: the job's identity, see :mod:`.local`) to $1.  Every inherited descriptor
#: is closed, not only 0-2: a body holding the submitter's pipes would make the submitter (and
#: so ``--async``) wait until the step ended.  Until this shell ends, the job is its child: alive
#: or a zombie, ``ps`` finds it.
DETACH = (
    'setsid sh "$0" </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- & '
    'pid=$!; echo "$pid $(LC_ALL=C ps -o lstart= -p "$pid")" >"$1"'
)


def start_command(body: JobBody) -> list[str]:
    """The command that starts ``body`` detached (run in the body's directory)."""
    script = f"cd {shlex.quote(body.cwd)} && {DETACH}"
    return ["sh", "-c", script, body.script_path, pid_file(body)]


def submit(host: Host, body: JobBody) -> Submitted:
    """Start the (already written) job body on ``host``; its PID is the native id."""
    host.remove(pid_file(body))  # a previous run's
    result = host.run(start_command(body))
    if result.returncode != 0:
        raise SubmissionError(
            f"could not start the job body on {host.name}: {result.errors.strip()}"
        )
    try:
        pid, _, lstart = host.read_text(pid_file(body)).strip().partition(" ")
    except FileNotFoundError:
        pid, lstart = "", ""
    if not pid.isdigit() or int(pid) <= 1:
        raise SubmissionError(f"the job body did not start on {host.name} (no PID)")
    return Submitted(local_id(pid, lstart), "", "")


def script(body: JobBody) -> str:
    """What :func:`submit` runs, for ``--show-script``."""
    return f"# -b local runs, detached: {shlex.join(start_command(body))}\n"


def pid_file(body: JobBody) -> str:
    return body.script_path + ".pid"
