"""The Apptainer (or Singularity) command line of a container step: argument lists, no I/O.

Built here rather than with spython: spython runs only a binary named ``singularity``, splits
string commands on spaces, ignores ``contain=True`` and cannot return a command without running
it -- and the lines that go into job scripts must be exact argument lists.
"""

from __future__ import annotations

from .mounts import ContainerSetup

#: how each runtime takes variables that survive --containall/--cleanenv
ENV_PREFIX = {"apptainer": "APPTAINERENV_", "singularity": "SINGULARITYENV_"}


def exec_argv(
    runtime: str, image: str, setup: ContainerSetup, *, contain: bool, command: list[str]
) -> list[str]:
    """``[env NAME=...] RUNTIME exec [--containall] [--nv] [--pwd DIR] --bind ... IMAGE COMMAND``.

    Variables are passed as ``APPTAINERENV_NAME`` (``SINGULARITYENV_``) in the runtime's own
    environment: unlike ``--env``, values may hold commas and any other character.
    """
    argv: list[str] = []
    if setup.env:
        prefix = ENV_PREFIX[runtime]
        argv += ["env"] + [f"{prefix}{name}={value}" for name, value in setup.env.items()]
    argv += [runtime, "exec"]
    if contain:
        argv.append("--containall")
    if setup.gpu:
        argv.append("--nv")
    if setup.pwd:
        argv += ["--pwd", setup.pwd]
    for bind in setup.binds:
        argv += ["--bind", bind.option()]
    return argv + [image] + command
