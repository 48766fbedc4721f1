"""Loading and validating packtivity specs through the ``yadage-schemas`` package.

``load_spec`` is the one entry point.  It resolves ``SPEC`` relative to a *toplevel* (a
directory, ``file://``, ``http(s)://``, ``github:owner/repo[@ref][:path]`` or
``from-github/...``), follows ``$ref`` between files and ``file.yml#/json/pointer`` fragments,
fills in the schema defaults and validates against the packtivity schema bundled with
yadage-schemas.

Differences from the original, on purpose:

* Defaults reach every object, including objects that are themselves ``$ref`` targets (the
  original serialised lazy ``JsonRef`` proxies that the default-filling validator had skipped, so
  e.g. ``par_mounts`` was missing at run time: ``KeyError``).
* Every failure is a :class:`~packtivity.errors.SpecError` with one line that says what and where
  (the JSON path of the offending field for schema errors); a spec that does not validate is a
  :class:`~packtivity.spec_invalid.SpecInvalid`, also a ``jsonschema.ValidationError`` as the
  original raised.
* ``github:`` and ``from-github/`` resolve against ``PACKTIVITY_GITHUB_RAW_URL`` and
  ``PACKTIVITY_FROMGITHUB_URL`` when set (mirrors, tests on 127.0.0.1).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any, Optional

from . import speccache, userfiles
from .errors import SpecContentError, SpecError
from .utils import one_line

log = logging.getLogger(__name__)

SCHEMA_NAME = "packtivity/packtivity-schema"
GITHUB_RAW_URL = "https://raw.githubusercontent.com"
FROMGITHUB_URL = "https://raw.githubusercontent.com/lukasheinrich/yadage-workflows/master"
#: seconds a remote spec fetch may take before it is abandoned
FETCH_TIMEOUT = 30.0


def resolve_toplevel(toplevel: str) -> str:
    """Turn a toplevel into something yadage-schemas' loader understands.

    Local directories become absolute paths; ``github:`` and ``from-github/`` become http(s)
    base URLs (so that their hosts can be overridden); everything else passes through.
    """
    if toplevel.startswith("github:"):
        fields = toplevel.split(":")[1:]
        repo, subpath = (fields[0], fields[1]) if len(fields) > 1 else (fields[0], "")
        repo, _, ref = repo.partition("@")
        base = os.environ.get("PACKTIVITY_GITHUB_RAW_URL", GITHUB_RAW_URL).rstrip("/")
        url = f"{base}/{repo}/{ref or 'main'}"
        return f"{url}/{subpath}" if subpath else url
    if toplevel.startswith("from-github"):
        within = toplevel.split("/", 1)[-1]
        base = os.environ.get("PACKTIVITY_FROMGITHUB_URL", FROMGITHUB_URL).rstrip("/")
        return f"{base}/{within}"
    if toplevel.startswith("file://"):
        return toplevel[len("file://") :]
    return toplevel


def _plain(data: Any) -> Any:
    """Resolve every lazy ``JsonRef`` into plain dicts and lists (a deep copy)."""
    from yadageschemas.utils import WithJsonRefEncoder

    return json.loads(json.dumps(data, cls=WithJsonRefEncoder))


def _describe_location(toplevel: str, spec: str) -> str:
    if "://" in toplevel:
        return f"{toplevel.rstrip('/')}/{spec}"
    return os.path.join(toplevel, spec) if not os.path.isabs(spec) else spec


def _read_local_source(toplevel: str, spec: str) -> Optional[str]:
    """The text of a local spec file, read by the guarded reader (a regular file, bounded,
    UTF-8: a FIFO or device is refused, never waited on); None for a remote spec.  Fails
    early, with a precise message, for local files that cannot be read."""
    if "://" in toplevel:
        return None
    filename = spec.split("#", 1)[0]
    if not filename:
        return None
    path = _describe_location(toplevel, filename)
    if not os.path.isdir(toplevel):
        raise SpecError(f"toplevel directory '{toplevel}' does not exist")
    if not os.path.exists(path):
        raise SpecError(f"spec file '{path}' does not exist")
    return userfiles.read_text(path, "spec file", SpecError, SpecContentError)


def _diagnose_local_source(toplevel: str, spec: str) -> None:
    """After a failed load: raise a precise SpecError if the local file is not a YAML mapping."""
    import yaml

    filename = spec.split("#", 1)[0]
    if "://" in toplevel or not filename:
        return
    path = _describe_location(toplevel, filename)
    try:
        with open(path) as handle:
            document = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        problem = one_line(error)
        raise SpecContentError(f"spec file '{path}' is not valid YAML: {problem}") from None
    except OSError:
        return
    if "#" not in spec and not isinstance(document, dict):
        raise SpecContentError(
            f"spec '{spec}' is not a mapping (got {type(document).__name__}); "
            "a packtivity spec has 'process', 'environment' and 'publisher'"
        )


def _pick_alternative(error: Any) -> Any:
    """For a ``oneOf`` error, the error of the alternative the object was meant to be.

    Alternatives are told apart by their ``*_type`` enum; those whose type does not match (and
    the ``null`` alternative) are dropped.  If none is left, the type itself is unknown.
    """
    while error.validator == "oneOf" and error.context:
        by_alternative: dict[Any, list[Any]] = {}
        for sub in error.context:
            by_alternative.setdefault(sub.relative_schema_path[0], []).append(sub)
        candidates = [
            errors
            for errors in by_alternative.values()
            if not any(
                (e.validator == "enum" and str(e.relative_path[-1]).endswith("_type"))
                or (e.validator == "type" and not e.relative_path)
                for e in errors
            )
        ]
        if len(candidates) != 1:
            return _unknown_type_error(error)
        error = min(candidates[0], key=lambda e: len(e.relative_path))
    return error


def _unknown_type_error(error: Any) -> Any:
    """Name the unknown ``*_type`` value and the known ones, when that is the problem."""
    known = sorted(
        {value for sub in error.context if sub.validator == "enum" for value in sub.validator_value}
    )
    instance = error.instance if isinstance(error.instance, dict) else {}
    typekey = next((k for k in instance if k.endswith("_type")), None)
    if typekey is None or not known:
        return error
    error.message = f"unknown {typekey} '{instance[typekey]}'; known: {', '.join(known)}"
    error.context = []
    return error


def _schema_error_line(error: Any) -> str:
    """``at /json/path: what is wrong`` of an error picked by :func:`_pick_alternative`."""
    path = "/" + "/".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    return f"at {path}: {message}"


def _load_raw(spec: str, toplevel: str, schemadir: Any) -> Any:
    from yadageschemas.dialects.raw_with_defaults import loader

    # yadage-schemas logs load failures with a traceback before raising a bare RuntimeError:
    # the message we raise below says all of it, so keep that logger quiet unless debugging.
    schemalog = logging.getLogger("yadageschemas")
    if not log.isEnabledFor(logging.DEBUG):
        schemalog.setLevel(logging.CRITICAL)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(FETCH_TIMEOUT)
    try:
        load = loader(toplevel)
        return _plain(load(spec, True))
    finally:
        socket.setdefaulttimeout(previous_timeout)


def load_spec(
    spec: str,
    toplevel: Optional[str] = None,
    schemasource: Any = None,
    validate: bool = True,
) -> dict[str, Any]:
    """Load, default-fill and (optionally) validate one packtivity spec.

    Returns plain JSON data (dicts, lists, scalars).  Raises :class:`SpecError` for anything
    that is wrong with the spec or where it is looked for.
    """
    if not isinstance(spec, str) or not spec:
        raise SpecError("no packtivity spec given")
    toplevel = resolve_toplevel(toplevel if toplevel is not None else os.getcwd())
    if "://" not in toplevel:
        toplevel = os.path.abspath(toplevel)
    schemadir = None if schemasource in (None, "") else schemasource
    text = _read_local_source(toplevel, spec)
    cachekey = _cache_key(toplevel, spec, schemadir, text)
    cached = speccache.lookup(cachekey) if cachekey else None
    if cached is not None:
        return cached
    if text is not None:  # bounded before yadage-schemas reads it: depth, size, aliases
        where = _describe_location(toplevel, spec.split("#", 1)[0])
        userfiles.parse_yaml(text, f"spec file '{where}'", SpecContentError)

    import jsonschema
    from yadageschemas.dialects.raw_with_defaults import extend_with_defaults
    from yadageschemas.utils import schema_and_refresolver

    try:
        data = _load_raw(spec, toplevel, schemadir)
    except SpecError:
        raise
    except Exception as error:
        _diagnose_local_source(toplevel, spec)
        where = _describe_location(toplevel, spec)
        reason = str(error).strip()
        detail = f": {reason}" if reason and reason != "None" else ""
        raise SpecError(f"cannot load spec '{where}'{detail}") from error

    if not isinstance(data, dict):
        raise SpecContentError(
            f"spec '{spec}' is not a mapping (got {type(data).__name__}); "
            "a packtivity spec has 'process', 'environment' and 'publisher'"
        )
    if not validate:  # what running needs, even unvalidated
        publisher = data.get("publisher")
        if not isinstance(publisher, dict) or "publisher_type" not in publisher:
            raise SpecContentError(
                f"spec '{spec}' has no publisher with a publisher_type (it was not validated: "
                "--no-validate)"
            )
        for part in ("process", "environment"):
            if data.get(part) is not None and not isinstance(data[part], dict):
                raise SpecContentError(f"spec '{spec}': '{part}' must be a mapping")

    try:
        schema, resolver = schema_and_refresolver(SCHEMA_NAME, schemadir)
    except Exception as error:
        raise SpecError(
            f"cannot read the packtivity schema from '{schemasource}': {error}"
        ) from error
    # Fill defaults on plain data: every object, including former $ref targets, gets them.
    extend_with_defaults(data, SCHEMA_NAME, schemadir)
    if validate:
        validator = jsonschema.Draft4Validator(schema, resolver=resolver)
        best = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if best is not None:
            from .spec_invalid import SpecInvalid

            picked = _pick_alternative(best)
            raise SpecInvalid(
                f"invalid packtivity spec '{spec}' {_schema_error_line(picked)}", picked
            )
        if cachekey:
            speccache.store(cachekey, data)
    return data


def _cache_key(toplevel: str, spec: str, schemadir: Any, text: Optional[str]) -> Optional[str]:
    """The spec cache's key for a local spec (its ``text``) with the bundled schemas, else
    None."""
    if text is None or "://" in toplevel or schemadir is not None:
        return None
    _, _, fragment = spec.partition("#")
    return speccache.cache_key(text.encode("utf-8"), fragment)
