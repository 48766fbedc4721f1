"""PSI/J's internals that packtivity relies on exist in the installed PSI/J.

``packtivity/batch/psij_host.py`` overrides private methods of PSI/J's batch executors and calls
a few private names (PSI/J has no public seam for routing its commands and files through SSH).
An override of a method PSI/J renamed would silently never run; this test makes such an upgrade
fail here instead.  pyproject.toml pins the range these were checked on.
"""

from __future__ import annotations

import inspect

import pytest

#: private methods psij_host.HostRoutedExecutor overrides, with the parameters it expects
OVERRIDDEN = {
    "_run_command": ["cmd"],
    "_ensure_work_dir": [],
    "_create_script_context": ["job"],
    "_read_aux_file": ["job", "suffix", "path"],
    "_delete_aux_file": ["job", "suffix", "path", "force"],
    "_clean_submit_script": ["job"],
}
#: public methods it overrides or calls
PUBLIC = ("get_submit_command", "generate_submit_script", "submit")
#: private methods it calls
CALLED = ("_get_launcher_from_job",)


@pytest.mark.parametrize("scheduler", ["slurm", "pbs"])
def test_psij_batch_executor_has_every_seam_packtivity_uses(scheduler: str) -> None:
    from psij import JobExecutor
    from psij.job_executor import _get_plugin_class

    selected = _get_plugin_class(scheduler, None, "executor", JobExecutor._executors)
    base = selected.ecls
    for name, parameters in OVERRIDDEN.items():
        method = getattr(base, name, None)
        assert callable(method), f"PSI/J's {base.__name__} has no {name}: psij_host overrides it"
        names = list(inspect.signature(method).parameters)[1:]  # without self
        assert names == parameters, (name, names)
    for name in (*PUBLIC, *CALLED):
        assert callable(getattr(base, name, None)), f"PSI/J's {base.__name__} has no {name}"


def test_psij_script_launcher_records_where_it_deployed_its_script() -> None:
    """psij_host ships the launcher scripts from ``launcher._deployed_script_path``'s folder
    (read with a default: a rename would skip the shipping without this test)."""
    import psij.launchers.script_based_launcher as script_based

    source = inspect.getsource(script_based.ScriptBasedLauncher)
    assert "self._deployed_script_path = " in source
