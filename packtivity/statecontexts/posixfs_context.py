"""``LocalFSState``: a step's state as read-only and read-write directories on a POSIX file system.

The first read-write directory is the step's ``workdir``; read-only directories are named
``readdir0``, ``readdir1``, ... (or by an explicit ``name``).  Parameters are *contextualised*
with these names: ``"{workdir}/out.txt"`` becomes the absolute path.  The JSON form
(``state_type: localfs``) is the original's, so yadage snapshots round-trip.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Optional, Union

from ..errors import STORAGE_ERRNOS, StateError, StorageError
from ..hosts import Host, local_host

DirEntry = Union[str, dict[str, Any]]


def _dir_entries(
    dirs: list[DirEntry], default_name: Optional[str], host: Host
) -> list[dict[str, Any]]:
    """The entries of ``dirs`` with their paths resolved on ``host`` (one call for all)."""
    entries = []
    for index, entry in enumerate(dirs):
        if isinstance(entry, str) and entry:
            item: dict[str, Any] = {"path": entry}
            if default_name:
                item["name"] = f"{default_name}{index}"
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str) and entry["path"]:
            item = dict(entry)
        else:
            raise StateError(
                f"a state directory must be a path or a mapping with a 'path', not {entry!r:.80}"
            )
        if "\0" in item["path"]:
            raise StateError(f"a state directory's path holds a NUL character: {entry!r:.80}")
        entries.append(item)
    for item, resolved in zip(entries, host.realpaths([str(item["path"]) for item in entries])):
        item["path"] = resolved
    return entries


def _hash_tree(root: str) -> str:
    """SHA1 over the relative paths and contents of every file below ``root`` (sorted)."""
    digest = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            full = os.path.join(dirpath, filename)
            digest.update(os.path.relpath(full, root).encode("utf-8") + b"\0")
            if os.path.isfile(full):
                with open(full, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


class LocalFSState:
    """Read-write and read-only directories of a step (see module docstring)."""

    def __init__(
        self,
        readwrite: Optional[list[DirEntry]] = None,
        readonly: Optional[list[DirEntry]] = None,
        dependencies: Optional[list[LocalFSState]] = None,
        identifier: str = "unidentified_state",
        host: Optional[Host] = None,
    ) -> None:
        """Directories are paths on ``host`` (default: this machine), resolved there as
        ``realpath`` does; ``dependencies``' directories are read-only here."""
        if not isinstance(readwrite, (list, type(None))) or not isinstance(
            readonly, (list, type(None))
        ):
            raise StateError(
                f"readwrite and readonly must be None or a list {type(readonly)} {type(readwrite)}"
            )
        self._identifier = identifier
        readonly = list(readonly or [])
        for dependency in dependencies or []:
            readonly += dependency.readwrite if dependency.readwrite else dependency.readonly

        #: the directories as given, resolved again when the state moves to another host
        self._given = (list(readwrite or []), readonly)
        #: the machine the directories are on (not part of the JSON: a backend binds it)
        self.host: Host = host or local_host()
        self._readonly = sorted(
            _dir_entries(readonly, "readdir", self.host), key=lambda x: x["path"]
        )
        self._readwrite = _dir_entries(list(readwrite or []), None, self.host)
        if self._readwrite:
            self._readwrite[0]["name"] = "workdir"
        self._readwrite = sorted(self._readwrite, key=lambda x: x["path"])

        self.dirnames = {
            x["name"]: x["path"] for x in self._readwrite + self._readonly if "name" in x
        }
        self.datamodel: Optional[dict[str, Any]] = None

    def on_host(self, host: Host) -> LocalFSState:
        """This state with its directories on ``host``: a copy whose paths are the ones given,
        resolved on ``host`` (not on the machine that built this one)."""
        readwrite, readonly = self._given
        bound = LocalFSState(readwrite, readonly, identifier=self._identifier, host=host)
        bound.datamodel = self.datamodel
        return bound

    def __repr__(self) -> str:
        return f"<LocalFSState rw: {self.readwrite}, ro: {self.readonly}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalFSState) and self.json() == other.json()

    __hash__ = None  # type: ignore[assignment]

    @property
    def readonly(self) -> list[str]:
        return [x["path"] for x in self._readonly]

    @property
    def readwrite(self) -> list[str]:
        return [x["path"] for x in self._readwrite]

    @property
    def workdir(self) -> Optional[str]:
        """The step's work directory (the first read-write directory), or None."""
        return self.dirnames.get("workdir")

    @property
    def metadir(self) -> Optional[str]:
        """Where packtivity keeps logs and run records: ``<first readwrite>/_packtivity``."""
        if self.readwrite:
            return f"{self.readwrite[0]}/_packtivity"
        return None

    def identifier(self) -> str:
        return self._identifier

    def reset(self) -> None:
        """Delete the read-write directories (and the meta directory) and create them anew."""
        for directory in [*self.readwrite, self.metadir]:
            if directory:
                self.host.remove_tree(directory)
        self.ensure()

    def ensure(self) -> None:
        """Create the read-write directories and the meta directory if missing;
        :class:`StateError` naming the directory when one cannot be created."""
        for directory in [*self.readwrite, *([self.metadir] if self.metadir else [])]:
            try:
                self.host.make_dirs(directory)
            except FileExistsError:
                raise StateError(f"'{directory}' is a file, not a directory") from None
            except OSError as error:
                reason = error.strerror or str(error)
                problem = f"cannot create the directory '{directory}': {reason}"
                if error.errno in STORAGE_ERRNOS:
                    raise StorageError(problem) from None
                raise StateError(problem) from None

    def state_hash(self) -> str:
        """SHA1 over the contents of the read-only and read-write directories (for caching).

        Read on this machine (yadage calls it on the machine it runs on); a state on another
        host raises :class:`~packtivity.errors.StateError` rather than hash what is not there.
        """
        if self.host is not local_host():
            raise StateError(
                f"state_hash reads directories here, and {self} is on {self.host.name}"
            )
        inputs = [_hash_tree(d) for d in self.readonly if os.path.isdir(d)]
        outputs = [_hash_tree(d) for d in self.readwrite if os.path.isdir(d)]
        return hashlib.sha1(json.dumps([inputs, outputs]).encode("utf-8")).hexdigest()

    def contextualize_value(self, value: Any) -> Any:
        """Replace ``{workdir}``, ``{readdir0}``, ... in a string; other values pass unchanged.

        A string with braces that are not one of those names is left as it is.
        """
        if not isinstance(value, str) or "{" not in value:
            return value
        try:
            return value.format(**self.dirnames)
        except (KeyError, IndexError, ValueError, AttributeError):
            return value

    def model(self, data: Any) -> Any:
        """A copy of the data model ``data`` with every leaf contextualised."""
        data = data.copy()
        for pointer, value in data.leafs():
            contextualised = self.contextualize_value(value)
            if contextualised is not value:
                data.replace(pointer, contextualised)
        return data

    def json(self) -> dict[str, Any]:
        return {
            "state_type": "localfs",
            "identifier": self.identifier(),
            "readwrite": self._readwrite,
            "readonly": self._readonly,
        }

    @classmethod
    def fromJSON(cls, jsondata: dict[str, Any]) -> LocalFSState:
        if not isinstance(jsondata, dict) or any(
            key not in jsondata for key in ("identifier", "readwrite", "readonly")
        ):
            raise StateError(
                "a localfs state needs 'identifier', 'readwrite' and 'readonly', got "
                f"{jsondata!r:.80}"
            )
        return cls(
            identifier=jsondata["identifier"],
            readwrite=jsondata["readwrite"],
            readonly=jsondata["readonly"],
        )
