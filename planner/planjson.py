"""The plan file's text: a plan written as canonical JSON with its digest, and read
back, never trusted.

Both sides read and write plan JSON here alone (the classes it holds are `plan.py`'s):
`loads` checks every field's type and the digest, because a plan file is input like
any other and may have been edited by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, TypeVar, Union

import attrs
import msgspec

from planner.errors import Refused, not_an_input, plain
from planner.inputfiles import MAX_PLAN_BYTES, read_input
from planner.paths import is_utf8
from planner.plan import FORMAT, Distribution, Plan, Target

# Canonical JSON text: keys sorted, no spaces, UTF-8 as it is. `digest_of` defines it
# with the standard library; `dumps` and the fast way in (`_canonical_plan`) use msgspec,
# which writes the same bytes straight from the plan's classes (a 17,000-file plan in
# 27 ms, where text functions of our own took 70; the tests hold the two to each other).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_FAST_ENCODER = msgspec.json.Encoder(order="sorted")
_FAST_DECODER = msgspec.json.Decoder(Plan)


def digest_of(data: Mapping[str, Any]) -> str:
    body = {key: value for key, value in data.items() if key != "digest"}
    return "sha256:" + hashlib.sha256(_ENCODER.encode(body).encode()).hexdigest()


def _members(plan: Plan) -> list[tuple[str, list[bytes]]]:
    """Each field of the plan as (name, its member's text in pieces), sorted by name.

    A line break goes after each element of a top-level list (and, in `encode`, after
    each member), so a plan reads and diffs one file per line. A JSON string cannot
    hold a raw line break, so removing every line break gives the canonical text.
    The pieces stay apart: joining them would copy the 9 MB of files again.
    """
    members = []
    for name in sorted(field.name for field in attrs.fields(Plan)):
        value = getattr(plan, name)
        key = _ENCODER.encode(name).encode() + b":"
        if type(value) is tuple and value:
            # encode_lines ends each element with the only raw line breaks it writes.
            lines = _FAST_ENCODER.encode_lines(value)[:-1]
            members.append((name, [key + b"[\n", lines.replace(b"\n", b",\n"), b"]"]))
        else:
            members.append((name, [key + _FAST_ENCODER.encode(value)]))
    return members


def encode(plan: Plan) -> list[bytes]:
    """The plan file's bytes, in pieces to write one after another (see `dumps`)."""
    return _encode(plan, None)


def _encode(plan: Plan, digest: str | None) -> list[bytes]:
    """`encode`, with the digest given when it is known already: read from a file
    whose body `_signed_as_written` hashed, which the pieces are then compared with."""
    try:
        members = _members(plan)
    except UnicodeEncodeError:
        raise _not_utf8(plan) from None
    if digest is None:
        # The canonical body is "{" + ",".join(members without line breaks) + "}":
        # hashed piece by piece, without joining a second copy of the whole text.
        hasher = hashlib.sha256(b"{")
        for index, (_, pieces) in enumerate(members):
            hasher.update(b"," if index else b"")
            for piece in pieces:
                hasher.update(piece.replace(b"\n", b""))
        hasher.update(b"}")
        digest = "sha256:" + hasher.hexdigest()
    members.append(("digest", [b'"digest":' + _FAST_ENCODER.encode(digest)]))
    members.sort()
    out = [b"{"]
    for index, (_, pieces) in enumerate(members):
        out += [b",\n", *pieces] if index else pieces
    out.append(b"}\n")
    return out


def _not_utf8(plan: Plan) -> Refused:
    """The refusal of a plan naming a path that UTF-8 cannot spell: a name on disk may be
    any bytes (read as surrogates), and a plan file is UTF-8 JSON."""
    for text in _strings(plan):
        if not text.isascii() and not is_utf8(text):
            where = text if text.startswith("/") else f"{plan.target.prefix}/{text}"
            return Refused.one(
                where,
                "the name is not valid UTF-8, which a plan file cannot hold"
                " (`wheelplan install` and `uninstall` need no plan file)",
            )
    raise AssertionError("a plan that fails to encode holds such a name")  # pragma: no cover


def _strings(value: Any) -> Iterator[str]:
    """Every string in a plan's value, keys of mappings included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _strings(getattr(value, field.name))


def dumps(plan: Plan) -> str:
    """Canonical plan JSON: sorted keys, UTF-8, a digest over the rest, trailing newline.

    The text is the canonical compact form with line breaks between entries (see
    `_members`): `loads` takes a plan the fast way only when it is this very text.
    """
    return b"".join(encode(plan)).decode()


class _Invalid(ValueError):
    pass


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different.

    JSON parsers keep the last of a repeated key, so a plan holding one twice would
    show a reviewer the first value and have the applier act on the second.
    """
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return data


T = TypeVar("T")


# The integers a plan may hold: a signed or an unsigned 64-bit one. Sizes past them
# are no file's, and overflow where a float or a C integer is made of them.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


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
        if not _INT_MIN <= value <= _INT_MAX:  # as msgspec reads the plan
            raise _Invalid(
                f"{where}: a number of {len(str(abs(value)))} digits is past what 64 bits hold"
            )
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


def _canonical_plan(data: bytes, digest: str | None) -> Plan | None:
    """The plan in `data` if `data` is exactly what `encode` writes for it, else None.

    The fast way in: msgspec decodes and type-checks the whole plan in one pass (as
    `_build` would, into the same classes), and the plan written back must be the very
    bytes, which proves the digest and that no field is unknown, repeated or left out.
    `digest`: what `_signed_as_written(data)` found, so it is not computed again.
    Anything else goes the careful way, which names what is wrong.
    """
    try:
        plan = _FAST_DECODER.decode(data)
        pieces = _encode(plan, digest) if plan.format == FORMAT else None
    except (msgspec.MsgspecError, UnicodeError, RecursionError):
        return None  # the careful way names what is wrong
    if pieces is None:
        return None
    offset = 0
    for piece in pieces:
        # Compared in place: the written-back plan is never joined into one copy.
        if not data.startswith(piece, offset):
            return None
        offset += len(piece)
    return plan if offset == len(data) else None


_TARGET_DECODER = msgspec.json.Decoder(Target)
_DISTRIBUTIONS_DECODER = msgspec.json.Decoder(tuple[Distribution, ...])


def _header_of(data: bytes) -> tuple[Target, tuple[Distribution, ...]] | None:
    """A plan's target and distributions, types checked, read from their own lines
    before the files are decoded; None unless the text is laid out as `dumps` lays it.

    In that layout each top-level member starts a line with its key, and no other line
    can (a JSON string holds no raw line break): a member runs to the line of the key
    that follows it, "files" after "distributions", "units" after "target".
    """
    try:
        target = _TARGET_DECODER.decode(_member_text(data, "target", "units"))
        distributions = _DISTRIBUTIONS_DECODER.decode(_member_text(data, "distributions", "files"))
    # A key not found, or a value not valid (or nested past the decoder's depth).
    except (ValueError, msgspec.MsgspecError, RecursionError):
        return None
    return target, distributions


def _member_text(data: bytes, name: str, following: str) -> bytes:
    """The value of top-level member `name`, up to the line of the key `following`."""
    key = f'\n"{name}":'.encode()
    start = data.index(key) + len(key)
    return data[start : data.index(f',\n"{following}":'.encode(), start)]


_DIGEST_KEY = b',\n"digest":"sha256:'
_DIGEST_HEX = re.compile(rb"[0-9a-f]{64}")


def _signed_as_written(data: bytes) -> str | None:
    """The digest a plan laid out as `encode` writes it carries, if it is its body's.

    The body is the file without its digest member and line breaks: hashing it costs a
    few milliseconds, and proves the target and distributions are what `show` reviews
    before anything they name (the interpreter, the wheels) is run or read.
    """
    start = data.find(_DIGEST_KEY)
    hex_start = start + len(_DIGEST_KEY)
    end = hex_start + 64 + 1  # the closing quote
    if start < 0 or not _DIGEST_HEX.fullmatch(data, hex_start, end - 1):
        return None
    if data[end - 1 : end + 2] != b'",\n':
        return None
    hasher = hashlib.sha256(data[:start].replace(b"\n", b""))
    hasher.update(data[end:].replace(b"\n", b""))
    written = data[hex_start : end - 1].decode()
    return "sha256:" + written if hasher.hexdigest() == written else None


def loads(
    text: str | bytes,
    subject: str,
    header_read: Callable[[Target, tuple[Distribution, ...]], None] | None = None,
) -> Plan:
    """Parse and type-check a plan; `subject` names the file in any refusal.

    `header_read` is given the plan's target and distributions as soon as they are
    known, types checked and the digest checked, before the 17,000 files are decoded:
    the applier starts hashing the wheels and asking the target's interpreter there
    (and starts again if the plan it gets says otherwise). Not called when either is
    malformed. `text` may be the file's bytes, which spares decoding them: a str is
    encoded again here.
    """
    raw = text.encode() if isinstance(text, str) else text
    signed = _signed_as_written(raw)
    if header_read is not None and signed is not None and (header := _header_of(raw)) is not None:
        header_read(*header)
        header_read = None  # handed over
    plan = _canonical_plan(raw, signed)
    if plan is not None:
        if header_read is not None:
            header_read(plan.target, plan.distributions)
        return plan
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise not_an_input("plan", subject, "not UTF-8 text") from None
    except _RepeatedKey as repeated:
        raise Refused.one(
            subject, f"malformed plan: key {repeated.args[0]!r} appears twice in one object"
        ) from None
    except ValueError as error:
        raise not_an_input("plan", subject, f"invalid JSON: {plain(str(error))}") from None
    except RecursionError:
        raise not_an_input("plan", subject, "invalid JSON: nested too deeply") from None
    if not isinstance(data, dict) or "format" not in data:
        raise not_an_input("plan", subject, "no 'format' field")
    if data["format"] != FORMAT:
        raise Refused.one(
            subject,
            f"plan format {data['format']!r} is not supported"
            f" (this wheelplan reads format {FORMAT}); plan again",
        )
    try:
        digest = digest_of(data)
    except UnicodeEncodeError:  # "\ud800": JSON can escape what no UTF-8 text holds
        raise Refused.one(
            subject, "malformed plan: a string holds a lone surrogate, which is no character"
        ) from None
    if data.get("digest") != digest:
        raise Refused.one(
            subject, "plan digest does not match its contents (the file was edited or damaged)"
        )
    del data["digest"]
    if header_read is not None:
        with contextlib.suppress(_Invalid):
            header_read(
                _build(Target, data.get("target"), "target"),
                _convert(data.get("distributions"), tuple[Distribution, ...], "distributions"),
            )
    try:
        plan = _build(Plan, data, "plan")
    except _Invalid as error:
        raise Refused.one(subject, f"malformed plan: {error}") from None
    return plan


def read_plan(
    path: str,
    header_read: Callable[[Target, tuple[Distribution, ...]], None] | None = None,
) -> Plan:
    """The plan in the file at `path` (see `loads`)."""
    # Bytes: read as text, 9 MB of plan would take 10 ms more (decoding, newlines).
    return loads(read_input(path, MAX_PLAN_BYTES, "plan"), path, header_read)
