"""The plan file: the one contract between the planner and the applier.

Both sides use these classes and `dumps`/`loads`; nothing else reads or writes plan
JSON. `loads` checks every field's type and the digest, because a plan file is
input like any other and may have been edited by hand.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, NoReturn, TypeVar, Union

import attrs

from planner.errors import Refused, not_an_input

# 2: Target.externally_managed. 3: Target.layout. 4: the "prefix" layout.
FORMAT = 4

FileAction = Literal["write", "replace", "remove"]
SourceKind = Literal["member", "inline", "record"]
DistAction = Literal["install", "upgrade", "downgrade", "reinstall", "remove", "unchanged"]
ConflictKind = Literal["identical", "different"]
# "environment": an interpreter's own prefix and schemes; "directory": a plain folder
# (`--target DIR`) laid out by `planner.target.DIRECTORY_SCHEMES`; "prefix": another
# folder laid out as the interpreter would lay out a venv there (`--prefix DIR`).
TargetLayout = Literal["environment", "directory", "prefix"]


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
    # The target is externally managed (PEP 668) and the user planned with
    # --break-system-packages; apply refuses such a target when this is false.
    externally_managed: bool = False
    layout: TargetLayout = "environment"


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


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _make_encode() -> Callable[[Any], str]:
    """Canonical JSON text of a value: the C encoder called directly when it exists.

    `JSONEncoder.encode` builds a new C encoder on every call, which costs more than
    encoding one small value (the target's schemes, the digest) as `dumps` does.
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


# `dumps` writes each plan object's canonical text itself, with a function made once
# per class from its fields and type hints (as attrs makes __init__): the text the C
# encoder writes for the same data as a dict, in a third of the time it takes to build
# those dicts and encode them. `digest_of` is the definition; the tests hold `dumps` to it.
_STR = json.encoder.encode_basestring  # the C encoder's own, for ensure_ascii=False


@functools.cache
def _text_of(kind: Any) -> Callable[[Any], str]:
    """Canonical JSON text of a value of type `kind`."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner_kind,) = (option for option in typing.get_args(kind) if option is not type(None))
        inner = _text_of(inner_kind)
        return lambda value: "null" if value is None else inner(value)
    if origin is tuple:
        item = _text_of(typing.get_args(kind)[0])
        return lambda value: "[" + ",".join(map(item, value)) + "]"
    if attrs.has(kind):
        return _class_text(kind)
    return _STR if kind is str or origin is Literal else _ENCODE


def _text_expression(kind: Any, value: str, scope: dict[str, Any]) -> str:
    """Python source for the text of `value` (source too) of type `kind`, inlined if simple."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner,) = (option for option in typing.get_args(kind) if option is not type(None))
        return f'("null" if {value} is None else {_text_expression(inner, value, scope)})'
    if kind is str or origin is Literal:
        return f"_str({value})"
    if kind is bool:
        return f'("true" if {value} else "false")'
    if kind is int:
        return f"_int({value})"
    name = f"_text{len(scope)}"
    scope[name] = _text_of(kind)
    return f"{name}({value})"


def _class_text(cls: type) -> Callable[[Any], str]:
    """One f-string over the class's fields in key order: no dict, no call per field."""
    hints = _hints(cls)
    scope: dict[str, Any] = {"_str": _STR, "_int": int.__repr__}
    body = ""
    for index, name in enumerate(sorted(field.name for field in attrs.fields(cls))):
        key = ("{{" if index == 0 else ",") + _STR(name) + ":"
        body += key + "{" + _text_expression(hints[name], f"value.{name}", scope) + "}"
    exec(f"def text(value):\n    return f'{body}}}}}'\n", scope)
    text: Callable[[Any], str] = scope["text"]
    return text


def _canonical(data: Any) -> bytes:
    return _ENCODE(data).encode()


def digest_of(data: Mapping[str, Any]) -> str:
    body = {key: value for key, value in data.items() if key != "digest"}
    return "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()


def _members(plan: Plan) -> list[tuple[str, str]]:
    """Each field of the plan as (name, its member's text), sorted by name.

    A line break goes after each element of a top-level list (and, in `dumps`, after
    each member), so a plan reads and diffs one file per line. A JSON string cannot
    hold a raw line break, so removing every line break gives the canonical text.
    """
    hints = _hints(Plan)
    members = []
    for name in sorted(field.name for field in attrs.fields(Plan)):
        value = getattr(plan, name)
        if typing.get_origin(hints[name]) is tuple and value:
            item = _text_of(typing.get_args(hints[name])[0])
            text = "[\n" + ",\n".join(map(item, value)) + "]"
        else:
            text = _text_of(hints[name])(value)
        members.append((name, f"{_STR(name)}:{text}"))
    return members


def dumps(plan: Plan) -> str:
    """Canonical plan JSON: sorted keys, UTF-8, a digest over the rest, trailing newline.

    The text is the canonical compact form with line breaks between entries (see
    `_members`): encoded once by the C encoder, and checkable by `loads` from the text
    itself instead of a second serialization.
    """
    members = _members(plan)
    # The canonical body is "{" + ",".join(members without line breaks) + "}": hashed
    # member by member, without joining a second copy of the whole text.
    hasher = hashlib.sha256(b"{")
    for index, (_, text) in enumerate(members):
        hasher.update(b"," if index else b"")
        hasher.update(text.encode().replace(b"\n", b""))
    hasher.update(b"}")
    digest = "sha256:" + hasher.hexdigest()
    members.append(("digest", '"digest":' + _ENCODE(digest)))
    members.sort()
    return "{" + ",\n".join(text for _, text in members) + "}\n"


def _digest_matches(text: str, data: Mapping[str, Any]) -> bool:
    """Whether the plan's digest is the sha256 of the rest, as `digest_of` defines it.

    Fast path: a plan as `dumps` wrote it is its canonical text plus line breaks, so the
    digest member cut out of the text leaves the bytes that were hashed. Anything else
    (a plan re-indented or edited by hand) is checked by re-serializing it.
    """
    digest = data.get("digest")
    if not isinstance(digest, str):
        return False
    flat = text.encode().replace(b"\n", b"")
    member = ('"digest":' + _ENCODE(digest)).encode()
    if flat.count(member) == 1:
        start = flat.index(member)
        end = start + len(member)
        if flat[end : end + 1] == b",":
            end += 1
        elif flat[start - 1 : start] == b",":
            start -= 1
        rest = memoryview(flat)
        hasher = hashlib.sha256(rest[:start])
        hasher.update(rest[end:])
        if "sha256:" + hasher.hexdigest() == digest:
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
# plan is converted again by `_convert`, which names the offending field. A class's
# converter is a function made for it (as for `dumps`), which checks each plain
# field inline: a plan holds 17,000 files and 17,000 sources.
_Converter = Callable[[Any], Any]


def _fail() -> NoReturn:
    raise _Invalid("invalid")


# JSON strings are never of a subclass of str, so this tells exactly whether
# `type(value) is str`, and `map` runs it without a Python frame per item.
_IS_STR = str.__instancecheck__


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
                tuple(value) if type(value) is list and all(map(_IS_STR, value)) else _fail()
            )
        inner = _converter(inner_kind)
        return lambda value: tuple(map(inner, value)) if isinstance(value, list) else _fail()
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


def _check_expression(kind: Any, value: str, scope: dict[str, Any]) -> str | None:
    """Python source that is true when `value` (a JSON value) is a valid `kind` as it
    is; None when it needs converting (then `_converter(kind)` checks it)."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner,) = (option for option in typing.get_args(kind) if option is not type(None))
        check = _check_expression(inner, value, scope)
        return None if check is None else f"({value} is None or {check})"
    if origin is Literal:
        allowed = f"_allowed{len(scope)}"
        scope[allowed] = frozenset(typing.get_args(kind))
        scope[allowed + "_types"] = frozenset(map(type, typing.get_args(kind)))
        return f"(type({value}) in {allowed}_types and {value} in {allowed})"
    if kind in (int, bool, str):
        return f"type({value}) is {kind.__name__}"
    return None


def _class_converter(cls: type) -> _Converter:
    fields = attrs.fields(cls)
    hints = _hints(cls)
    scope: dict[str, Any] = {
        "_fail": _fail,
        "_cls": cls,
        "_known": frozenset(field.name for field in fields),
        # (Plan classes have plain defaults, never a factory.)
        "_defaults": {f.name: f.default for f in fields if f.default is not attrs.NOTHING},
    }
    fetch, checks, arguments = [], [], []
    for index, field in enumerate(fields):
        fetch.append(f"        v{index} = value[{field.name!r}]")
        check = _check_expression(hints[field.name], f"v{index}", scope)
        if check is None:
            scope[f"_convert{index}"] = _converter(hints[field.name])
            arguments.append(f"_convert{index}(v{index})")
        else:
            checks.append(check)
            arguments.append(f"v{index}")
    source = [
        "def convert(value):",
        "    if type(value) is not dict:",
        "        _fail()",
        f"    if len(value) != {len(fields)}:  # defaulted fields left out, or unknown ones",
        "        if not _known.issuperset(value):",
        "            _fail()",
        "        value = {**_defaults, **value}",
        "    try:",
        *fetch,
        "    except KeyError:",
        "        _fail()",
        f"    if not ({' and '.join(checks or ['True'])}):",
        "        _fail()",
        f"    return _cls({', '.join(arguments)})",
    ]
    exec("\n".join(source) + "\n", scope)
    convert: _Converter = scope["convert"]
    return convert


def loads(
    text: str,
    subject: str,
    header_read: Callable[[Target, tuple[Distribution, ...]], None] | None = None,
) -> Plan:
    """Parse and type-check a plan; `subject` names the file in any refusal.

    `header_read` is given the plan's target and distributions as soon as they are
    known (digest checked, types checked), before the 17,000 files are: the applier
    starts hashing the wheels and asking the target's interpreter there. Not called
    when either is malformed.
    """
    try:
        data = json.loads(text)
    except ValueError as error:
        raise not_an_input("plan", subject, f"invalid JSON: {error}") from None
    if not isinstance(data, dict) or "format" not in data:
        raise not_an_input("plan", subject, "no 'format' field")
    if data["format"] != FORMAT:
        raise Refused.one(
            subject,
            f"plan format {data['format']!r} is not supported"
            f" (this wheelplan reads format {FORMAT}); plan again",
        )
    if not _digest_matches(text, data):
        raise Refused.one(
            subject, "plan digest does not match its contents (the file was edited or damaged)"
        )
    del data["digest"]
    if header_read is not None:
        with contextlib.suppress(_Invalid):
            header_read(
                _converter(Target)(data.get("target")),
                _converter(tuple[Distribution, ...])(data.get("distributions")),
            )
    try:
        try:
            plan: Plan = _converter(Plan)(data)
        except _Invalid:
            plan = _build(Plan, data, "plan")
        return plan
    except _Invalid as error:
        raise Refused.one(subject, f"malformed plan: {error}") from None
