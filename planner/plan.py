"""The plan file: the one contract between the planner and the applier.

Both sides use these classes and `dumps`/`loads`; nothing else reads or writes plan
JSON. `loads` checks every field's type and the digest, because a plan file is
input like any other and may have been edited by hand.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

import attrs

from planner.errors import Refused

FORMAT = 1

FileAction = Literal["write", "replace", "remove"]
SourceKind = Literal["member", "inline", "record"]
DistAction = Literal["install", "upgrade", "downgrade", "reinstall", "remove", "unchanged"]
ConflictKind = Literal["identical", "different"]


@attrs.frozen
class Target:
    """What the plan was made for; apply refuses a target that no longer matches."""

    interpreter: str
    prefix: str
    python_version: str
    # Scheme name -> directory relative to `prefix`, POSIX form ("" is the prefix itself).
    schemes: Mapping[str, str]
    tags_fingerprint: str
    installed_fingerprint: str


@attrs.frozen
class Distribution:
    name: str
    display_name: str
    version: str
    action: DistAction
    dist_info: str
    previous_version: str | None = None
    wheel: str | None = None
    wheel_path: str | None = None
    wheel_sha256: str | None = None
    wheel_size: int | None = None
    requested: bool = False


@attrs.frozen
class Source:
    """Where a destination's bytes come from.

    `member`: a wheel member (read at `offset`, the member's local header); `inline`:
    bytes the planner generated (script wrappers, INSTALLER, direct_url.json);
    `record`: a RECORD file, built by the applier from what it wrote.
    """

    kind: SourceKind
    hash: str
    size: int
    mode: int
    wheel: str | None = None
    member: str | None = None
    offset: int | None = None
    compression: int | None = None
    compressed_size: int | None = None
    content: str | None = None
    rewrite_shebang: bool = False


@attrs.frozen
class FileEntry:
    path: str
    action: FileAction
    # Every distribution whose RECORD lists this path once the plan is applied
    # (for a removal: the distributions that listed it before).
    owners: tuple[str, ...]
    source: Source | None = None
    reason: str | None = None


@attrs.frozen
class Conflict:
    path: str
    owners: tuple[str, ...]
    kind: ConflictKind
    resolution: str


@attrs.frozen
class Unit:
    """A set of destinations one worker writes alone; units never share a path."""

    index: int
    bytes: int
    paths: tuple[str, ...]


@attrs.frozen
class LockSource:
    path: str
    sha256: str


@attrs.frozen
class Plan:
    format: int
    target: Target
    distributions: tuple[Distribution, ...]
    files: tuple[FileEntry, ...]
    conflicts: tuple[Conflict, ...]
    directories: tuple[str, ...]
    units: tuple[Unit, ...]
    warnings: tuple[str, ...] = ()
    lock: LockSource | None = None

    def file_map(self) -> dict[str, FileEntry]:
        return {entry.path: entry for entry in self.files}


def to_data(value: Any) -> Any:
    """Plain JSON data for a plan or any part of it."""
    if attrs.has(type(value)):
        return {
            field.name: to_data(getattr(value, field.name)) for field in attrs.fields(type(value))
        }
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_data(item) for key, item in value.items()}
    return value


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(data: Mapping[str, Any]) -> str:
    body = {key: value for key, value in data.items() if key != "digest"}
    return "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()


def dumps(plan: Plan) -> str:
    """Canonical plan JSON: sorted keys, UTF-8, a digest over the rest, trailing newline."""
    data = to_data(plan)
    data["digest"] = digest_of(data)
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


class _Invalid(ValueError):
    pass


T = TypeVar("T")


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise _Invalid(f"{where}: {value!r} is not one of {list(typing.get_args(kind))}")
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = (option for option in options if option is not type(None))
        return _convert(value, inner, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise _Invalid(f"{where}: expected a list")
        (inner, _) = typing.get_args(kind)
        return tuple(_convert(item, inner, f"{where}[{index}]") for index, item in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, dict):
            raise _Invalid(f"{where}: expected an object")
        _, inner = typing.get_args(kind)
        return {str(key): _convert(item, inner, f"{where}.{key}") for key, item in value.items()}
    if attrs.has(kind):
        return _build(kind, value, where)
    if kind is int:
        if type(value) is not int:
            raise _Invalid(f"{where}: expected an integer")
        return value
    if kind is bool or kind is str:
        if type(value) is not kind:
            raise _Invalid(f"{where}: expected a {kind.__name__}")
        return value
    raise _Invalid(f"{where}: unsupported type {kind!r}")  # pragma: no cover


def _build(cls: type[T], value: Any, where: str) -> T:
    if not isinstance(value, dict):
        raise _Invalid(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    known = {field.name for field in attrs.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - known - {"digest"})
    if unknown:
        raise _Invalid(f"{where}: unknown field {unknown[0]!r}")
    arguments = {}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if field.name not in value:
            if field.default is attrs.NOTHING:
                raise _Invalid(f"{where}: missing field {field.name!r}")
            continue
        arguments[field.name] = _convert(
            value[field.name], hints[field.name], f"{where}.{field.name}"
        )
    return cls(**arguments)


def loads(text: str, subject: str) -> Plan:
    """Parse and type-check a plan; `subject` names the file in any refusal."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise Refused.one(subject, f"not a plan file (invalid JSON: {error})") from None
    if not isinstance(data, dict) or "format" not in data:
        raise Refused.one(subject, "not a plan file (no 'format' field)")
    if data["format"] != FORMAT:
        raise Refused.one(
            subject,
            f"plan format {data['format']!r} is not supported"
            f" (this wheelplan reads format {FORMAT})",
        )
    if data.get("digest") != digest_of(data):
        raise Refused.one(
            subject, "plan digest does not match its contents (the file was edited or damaged)"
        )
    try:
        return _build(Plan, data, "plan")
    except _Invalid as error:
        raise Refused.one(subject, f"malformed plan: {error}") from None
