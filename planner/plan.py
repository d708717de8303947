"""The plan file: the one contract between the planner and the applier.

Both sides use these classes and `dumps`/`loads`; nothing else reads or writes plan
JSON. `loads` checks every field's type and the digest, because a plan file is
input like any other and may have been edited by hand.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import types
import typing
from collections.abc import Callable, Mapping
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
    """JSON-ready data for a plan or any part of it (tuples of strings stay tuples)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if attrs.has(kind):
        return _class_dumper(kind)(value)
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_data(item) for key, item in value.items()}
    return value


@functools.cache
def _class_dumper(cls: type) -> Callable[[Any], dict[str, Any]]:
    """Data for one class: its fields fetched at once, and only nested objects converted."""
    hints = _hints(cls)
    names = tuple(sorted(field.name for field in attrs.fields(cls)))
    get = operator.attrgetter(*names)
    deep = [
        (index, inner)
        for index, name in enumerate(names)
        if (inner := _dumper(hints[name])) is not None
    ]

    def dump(value: Any) -> dict[str, Any]:
        if not deep:
            return dict(zip(names, get(value), strict=True))
        values = list(get(value))
        for index, convert in deep:
            values[index] = convert(values[index])
        return dict(zip(names, values, strict=True))

    return dump


def _dumper(kind: Any) -> Callable[[Any], Any] | None:
    """How to turn a field of type `kind` into JSON data; None when it already is."""
    origin = typing.get_origin(kind)
    options = typing.get_args(kind) if origin in (Union, types.UnionType) else (kind,)
    (inner,) = [option for option in options if option is not type(None)]
    if attrs.has(inner):
        dump = _class_dumper(inner)
        return lambda value: None if value is None else dump(value)
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        if attrs.has(item):
            dump_item = _class_dumper(item)
            return lambda value: [dump_item(element) for element in value]
        return None  # a tuple of strings is a JSON array as it is
    if typing.get_origin(inner) in (Mapping, dict):
        return dict
    return None


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _make_encode() -> Callable[[Any], str]:
    """Canonical JSON text of a value: the C encoder called directly when it exists.

    `JSONEncoder.encode` builds a new C encoder on every call, which costs more than
    encoding one small plan entry; the plan encodes one entry at a time.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return _ENCODER.encode
    encoder = make(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )

    def encode(value: Any) -> str:
        if type(value) is str:
            return json.encoder.encode_basestring(value)
        return "".join(encoder(value, 0))

    return encode


_ENCODE = _make_encode()


def _canonical(data: Any) -> bytes:
    return _ENCODE(data).encode()


def digest_of(data: Mapping[str, Any]) -> str:
    body = {key: value for key, value in data.items() if key != "digest"}
    return "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()


def _members(data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Each top-level member as (key, canonical text, text with line breaks), sorted.

    Line breaks go after each element of a top-level list (and, in `dumps`, after each
    member), so a plan reads and diffs one file per line. A JSON string cannot hold a
    raw line break, so removing every line break gives back the canonical text exactly.
    """
    members = []
    for key in sorted(data):
        value = data[key]
        name = _ENCODE(key) + ":"
        if isinstance(value, list | tuple) and value:
            items = [_ENCODE(item) for item in value]
            members.append(
                (key, name + "[" + ",".join(items) + "]", name + "[\n" + ",\n".join(items) + "]")
            )
        else:
            text = name + _ENCODE(value)
            members.append((key, text, text))
    return members


def dumps(plan: Plan) -> str:
    """Canonical plan JSON: sorted keys, UTF-8, a digest over the rest, trailing newline.

    The text is the canonical compact form with line breaks between entries (see
    `_members`): encoded once by the C encoder, and checkable by `loads` from the text
    itself instead of a second serialization.
    """
    data = to_data(plan)
    data.pop("digest", None)
    members = _members(data)
    body = "{" + ",".join(flat for _, flat, _ in members) + "}"
    digest = _ENCODE("sha256:" + hashlib.sha256(body.encode()).hexdigest())
    members.append(("digest", "", '"digest":' + digest))
    members.sort()
    return "{" + ",\n".join(broken for _, _, broken in members) + "}\n"


def _digest_matches(text: str, data: Mapping[str, Any]) -> bool:
    """Whether the plan's digest is the sha256 of the rest, as `digest_of` defines it.

    Fast path: a plan as `dumps` wrote it is its canonical text plus line breaks, so the
    digest member cut out of the text leaves the bytes that were hashed. Anything else
    (a plan re-indented or edited by hand) is checked by re-serializing it.
    """
    digest = data.get("digest")
    if not isinstance(digest, str):
        return False
    flat = text.replace("\n", "")
    member = '"digest":' + _ENCODE(digest)
    if flat.count(member) == 1:
        start = flat.index(member)
        end = start + len(member)
        if flat[end : end + 1] == ",":
            end += 1
        elif flat[start - 1 : start] == ",":
            start -= 1
        candidate = flat[:start] + flat[end:]
        if "sha256:" + hashlib.sha256(candidate.encode()).hexdigest() == digest:
            return True
    return digest == digest_of(data)


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


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """A class's resolved type hints; resolving them is slow, so once per class."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _build(cls: type[T], value: Any, where: str) -> T:
    if not isinstance(value, dict):
        raise _Invalid(f"{where}: expected an object")
    hints = _hints(cls)
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


# The fast loader: one converter per type, made once from the same type hints. It
# checks exactly what `_convert` checks but says only "invalid"; on any failure the
# plan is converted again by `_convert`, which names the offending field. An object's
# fields are type-checked together: the tuple of their value types is looked up in a
# small memo, since a plan has only a few distinct shapes.
_Converter = Callable[[Any], Any]


def _fail() -> Any:
    raise _Invalid("invalid")


def _accepted(kind: Any) -> frozenset[type]:
    """The JSON value types a field of type `kind` may hold."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        return frozenset(type(option) for option in typing.get_args(kind))
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_accepted(option) for option in typing.get_args(kind)))
    if kind is type(None):
        return frozenset({kind})
    if origin is tuple:
        return frozenset({list})
    if origin in (Mapping, dict) or attrs.has(kind):
        return frozenset({dict})
    return frozenset({kind})


def _is_plain(kind: Any) -> bool:
    """Whether a value of the right JSON type needs no further check or conversion."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        return all(_is_plain(option) for option in typing.get_args(kind))
    return kind in (int, bool, str, type(None))


@functools.cache
def _converter(kind: Any) -> _Converter:
    origin = typing.get_origin(kind)
    if origin is Literal:
        allowed = typing.get_args(kind)
        return lambda value: value if value in allowed else _fail()
    if origin in (Union, types.UnionType):
        (inner_kind,) = (option for option in typing.get_args(kind) if option is not type(None))
        inner = _converter(inner_kind)
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        (inner_kind, _) = typing.get_args(kind)
        if inner_kind is str:
            return lambda value: (
                tuple(value)
                if type(value) is list and all(type(item) is str for item in value)
                else _fail()
            )
        inner = _converter(inner_kind)
        return lambda value: (
            tuple([inner(item) for item in value]) if isinstance(value, list) else _fail()
        )
    if origin in (Mapping, dict):
        inner = _converter(typing.get_args(kind)[1])
        return lambda value: (
            {str(key): inner(item) for key, item in value.items()}
            if isinstance(value, dict)
            else _fail()
        )
    if attrs.has(kind):
        return _class_converter(kind)
    if kind in (int, bool, str):
        return lambda value: value if type(value) is kind else _fail()
    raise _Invalid(f"unsupported type {kind!r}")  # pragma: no cover


def _class_converter(cls: type) -> _Converter:
    hints = _hints(cls)
    fields = attrs.fields(cls)
    names = tuple(field.name for field in fields)
    known = frozenset(names)
    accepted = [_accepted(hints[name]) for name in names]
    deep = [
        (index, _converter(hints[name]))
        for index, name in enumerate(names)
        if not _is_plain(hints[name])
    ]
    get = operator.itemgetter(*names)
    shapes: dict[tuple[type, ...], bool] = {}

    def partial(value: Any) -> Any:
        """An object that leaves out defaulted fields (or carries a `digest`)."""
        if not isinstance(value, dict) or not known.union({"digest"}).issuperset(value):
            _fail()
        arguments = {}
        for field in fields:
            if field.name in value:
                arguments[field.name] = _converter(hints[field.name])(value[field.name])
            elif field.default is attrs.NOTHING:
                _fail()
        return cls(**arguments)

    def convert(value: Any) -> Any:
        # As many keys as fields, and every field found: then no key is unknown.
        if type(value) is not dict or len(value) != len(names):
            return partial(value)
        try:
            values = get(value)
        except KeyError:
            return partial(value)
        shape = tuple(map(type, values))
        fits = shapes.get(shape)
        if fits is None:
            fits = shapes[shape] = all(map(frozenset.__contains__, accepted, shape))
        if not fits:
            _fail()
        if deep:
            values = list(values)
            for index, inner in deep:
                values[index] = inner(values[index])
        return cls(*values)

    return convert


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
    if not _digest_matches(text, data):
        raise Refused.one(
            subject, "plan digest does not match its contents (the file was edited or damaged)"
        )
    try:
        try:
            plan: Plan = _converter(Plan)(data)
        except _Invalid:
            plan = _build(Plan, data, "plan")
        return plan
    except _Invalid as error:
        raise Refused.one(subject, f"malformed plan: {error}") from None
