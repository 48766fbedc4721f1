"""PSI/J's batch executors with every command and file routed through a :class:`Host`.

PSI/J (0.9.11) runs its commands with ``subprocess`` and reads and writes its files with
``pathlib``; ``docs/architecture.md`` lists the seams.  :func:`host_routed_executor` subclasses
PSI/J's own Slurm or PBS executor and overrides exactly those seams, so one code path serves a
login node (:class:`~packtivity.hosts.LocalHost`) and a laptop
(:class:`~packtivity.hosts.ssh.SshHost`):

- PSI/J writes the submit script and deploys its launcher scripts into a *local staging*
  directory (``~/.packtivity/psij`` here; the caller removes the staged script after the
  submission); ``get_submit_command`` ships them to the host: the
  script into the step's ``_packtivity/psij/`` directory (``remote_work_directory``), the
  launcher (content-addressed by PSI/J) once into ``~/.packtivity/psij/<sha256>/`` there;
- ``_create_script_context`` puts the host's paths, not the staging paths, into the script;
- ``_run_command`` (submit, cancel, list) runs through ``host.run``;
- ``_ensure_work_dir``, ``_read_aux_file``, ``_delete_aux_file`` and ``_clean_submit_script``
  act on the host's files.  (packtivity parks PSI/J's poll thread, so PSI/J never reaches a
  final state and the last three are not called in practice; they are routed all the same.)
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any, Optional

from ..errors import BackendError
from ..hosts import Host, local_host

#: the local staging directory, and its twin on every host (launchers are deployed below it)
PSIJ_HOME = os.path.join("~", ".packtivity", "psij")


def _run_via(host: Host, cmd: list[Any]) -> str:
    """PSI/J's ``_run_command`` contract: stdout, or ``CalledProcessError`` with the output."""
    try:
        result = host.run([str(part) for part in cmd])
    except FileNotFoundError:
        raise BackendError(
            f"'{cmd[0]}' is not on the PATH of {host.name}: is it a login node of the cluster?"
        ) from None
    if result.returncode != 0:
        message = "\n".join(p for p in (result.output, result.errors) if p) or "unknown error"
        raise subprocess.CalledProcessError(result.returncode, cmd, output=message)
    return result.output


def host_routed_executor(psij_name: str, host: Host, config: Any) -> Any:
    """A PSI/J ``psij_name`` executor (``slurm``, ``pbs``) whose I/O goes through ``host``.

    Set ``remote_work_directory`` (a directory on ``host``) before each ``submit``.
    """
    # The class PSI/J's plugin loader uses: it execs executor modules from their files, so
    # ``psij.executors.batch.slurm.SlurmJobExecutor`` is another class object without the
    # _NAME_/_VERSION_ that JobExecutor.name needs (docs/architecture.md).
    from psij import JobExecutor
    from psij.job_executor import _get_plugin_class

    selected = _get_plugin_class(psij_name, None, "executor", JobExecutor._executors)
    base = selected.ecls
    if base is None:
        raise BackendError(f"PSI/J has no {psij_name} executor")

    class HostRoutedExecutor(base):  # type: ignore[misc, valid-type]
        _NAME_ = psij_name
        _VERSION_ = selected.version

        def __init__(self) -> None:
            # the poll thread starts in super().__init__: everything it may use exists first
            self.host = host
            self.remote_work_directory = ""
            self._staging = Path(config.work_directory)
            self._remote_psij_home = host.expanduser(PSIJ_HOME)
            self._shipped_launchers: set[str] = set()
            self._ship_lock = threading.Lock()
            super().__init__(config=config)

        def _on_host(self, path: Any) -> str:
            """The host's twin of a staging path (other paths are already the host's)."""
            text = str(path)
            own = str(self.work_directory)
            if text == own or text.startswith(own + os.sep):
                return self.remote_work_directory + text[len(own) :]
            staging = str(self._staging)
            if text.startswith(staging + os.sep):
                return self._remote_psij_home + text[len(staging) :]
            return text

        def _run_command(self, cmd: list[Any]) -> str:
            return _run_via(self.host, cmd)

        def _ensure_work_dir(self) -> None:
            super()._ensure_work_dir()  # the staging directory
            self.host.make_dirs(self.remote_work_directory)

        def _create_script_context(self, job: Any) -> Any:
            context = super()._create_script_context(job)
            context["psij"]["script_dir"] = self._on_host(context["psij"]["script_dir"])
            context["psij"]["launch_command"] = [
                self._on_host(part) for part in context["psij"]["launch_command"]
            ]
            return context

        def get_submit_command(self, job: Any, submit_file_path: Path) -> list[str]:
            self._ship_launcher(job)
            remote_script = self._on_host(submit_file_path)
            self.host.write_text(remote_script, submit_file_path.read_text())
            return super().get_submit_command(job, Path(remote_script))

        def _ship_launcher(self, job: Any) -> None:
            launcher = self._get_launcher_from_job(job)
            deployed = getattr(launcher, "_deployed_script_path", None)
            if deployed is None:
                return
            directory = Path(deployed).parent
            with self._ship_lock:
                if str(directory) in self._shipped_launchers:
                    return
                for local_file in sorted(directory.iterdir()):
                    remote_file = self._on_host(local_file)
                    if remote_file == str(local_file) or self.host.exists(remote_file):
                        continue  # the same file system, or shipped by an earlier process
                    self.host.write_text(remote_file, local_file.read_text())
                    if os.access(local_file, os.X_OK):
                        self.host.run(["chmod", "+x", remote_file])
                self._shipped_launchers.add(str(directory))

        def _read_aux_file(
            self, job: Any = None, suffix: Optional[str] = None, path: Optional[Path] = None
        ) -> Optional[str]:
            if path is None:
                path = self.work_directory / (job.native_id + suffix)
            try:
                text = self.host.read_text(self._on_host(path))
            except FileNotFoundError:
                return None
            self._delete_aux_file(job=job, suffix=suffix, path=path, force=True)
            return text

        def _delete_aux_file(
            self,
            job: Any = None,
            suffix: Optional[str] = None,
            path: Optional[Path] = None,
            force: bool = False,
        ) -> None:
            if self.config.keep_files:
                return
            if path is None:
                path = self.work_directory / (job.native_id + suffix)
            self.host.remove(self._on_host(path))

        def _clean_submit_script(self, job: Any) -> None:
            if not self.config.keep_files:
                self.host.remove(self._on_host(self.work_directory / (job.id + ".job")))

    HostRoutedExecutor.__name__ = f"HostRouted{base.__name__}"
    return HostRoutedExecutor()


def staging_directory() -> Path:
    """This process's local staging directory for PSI/J's scripts (created when missing)."""
    path = Path(local_host().expanduser(PSIJ_HOME))
    path.mkdir(parents=True, exist_ok=True)
    return path
