"""Wheel manifests: what the wheel reader made of a wheel, kept by the wheel's sha256.

`manifests-v1/<sha[:2]>/<sha256>.json` in the cache directory holds one wheel as
`planner.wheels.read_wheel` returned it (its members with their offsets, modes and
RECORD hashes, entry points, requirements and warnings), with what it was read by and
under: the reader's version, the interpreter's and the wheel libraries' versions, and
the Limits. A plan takes a wheel from its manifest instead of reading the archive only
when the wheel's sha256 came from the wheel index without hashing (its stat stamp is
unchanged) and the manifest names that sha256 and size, this reader, these limits and
the same path (warnings name the file). Anything else is a miss, a damaged or
mistyped file included: the wheel is read and a fresh manifest written. Planned
members are still checked against their RECORD hashes whenever they are extracted.

Only `plan` uses manifests: importing this module loads the wheel reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import attrs
import installer
import packaging

from applier.atomic import write_atomic
from applier.cachedir import MANIFESTS, WHEEL_SHA256
from applier.wheelindex import WheelIndex
from planner.limits import Limits
from planner.wheels import READER_VERSION, EntryScript, Member, Wheel

DIRECTORY = MANIFESTS
# A manifest is trusted only from the reader that wrote it: the wheel reader's own
# version and whatever else decides its output (METADATA, csv and ini parsing, wheel
# file names, canonical names and versions, the .data schemes).
READER = [READER_VERSION, sys.version, packaging.__version__, installer.__version__]


def _limits(limits: Limits) -> list[int]:
    return list(attrs.astuple(limits))


class Manifests:
    """What the wheel reader made of wheels, by sha256; `save` writes the new ones."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.join(directory, DIRECTORY)
        # Wheels read in this run, to be written by `save`, by sha256.
        self.fresh: dict[str, tuple[Wheel, Limits]] = {}

    def path_of(self, sha256: str) -> str:
        return os.path.join(self.directory, sha256[:2], f"{sha256}.json")

    def known(self, path: str, sha256: str, size: int, limits: Limits) -> Wheel | None:
        """The wheel read_wheel(path, limits) returns for these bytes, or None (a miss)."""
        if not WHEEL_SHA256.fullmatch(sha256):
            return None
        try:
            with open(self.path_of(sha256), "rb") as stream:
                data = json.loads(stream.read())
        except (OSError, ValueError, RecursionError):  # absent, unreadable or not JSON
            return None
        return parse(data, path, sha256, size, limits)

    def remember(self, wheel: Wheel, limits: Limits) -> None:
        """Keep a wheel just read (by read_wheel, under `limits`) for `save`."""
        if WHEEL_SHA256.fullmatch(wheel.sha256):
            self.fresh[wheel.sha256] = (wheel, limits)

    def save(self, index: WheelIndex) -> None:
        """Write the manifests of the wheels read that `index` holds; the cache is an
        optimisation, so errors are ignored.

        A manifest is used only for a wheel whose sha256 the index gives without
        hashing, so one for a wheel too new to be indexed would never be read.
        """
        made: set[str] = set()
        indexed = index.sha256s()
        for sha256, (wheel, limits) in self.fresh.items():
            if sha256 not in indexed:
                continue
            folder = os.path.dirname(self.path_of(sha256))
            with contextlib.suppress(OSError):
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                write_atomic(self.path_of(sha256), dump(wheel, limits))
        self.fresh = {}


def dump(wheel: Wheel, limits: Limits) -> bytes:
    """A wheel's manifest; members and entry points are rows of their fields, in order."""
    return json.dumps(
        {
            "reader": READER,
            "limits": _limits(limits),
            "path": wheel.path,
            "filename": wheel.filename,
            "sha256": wheel.sha256,
            "size": wheel.size,
            "name": wheel.name,
            "display_name": wheel.display_name,
            "version": wheel.version,
            "tags": sorted(wheel.tags),
            "root_is_purelib": wheel.root_is_purelib,
            "dist_info": wheel.dist_info,
            "data_dir": wheel.data_dir,
            "members": [
                [
                    member.name,
                    member.offset,
                    member.compression,
                    member.compressed_size,
                    member.size,
                    member.mode,
                    member.hash,
                ]
                for member in wheel.members
            ],
            "entry_points": [
                [script.name, script.module, script.attr, script.section]
                for script in wheel.entry_points
            ],
            "requires_dist": list(wheel.requires_dist),
            "requires_python": wheel.requires_python,
            "warnings": list(wheel.warnings),
        },
        separators=(",", ":"),
    ).encode()


def parse(data: object, path: str, sha256: str, size: int, limits: Limits) -> Wheel | None:
    """The Wheel in a manifest's JSON, if it is one for this path, sha256, size and
    these limits from this reader, with every field of the right type; else None."""
    try:
        return _parse(data, path, sha256, size, limits)
    except (KeyError, TypeError, ValueError):  # a field missing, a row too short or long
        return None


def _parse(data: object, path: str, sha256: str, size: int, limits: Limits) -> Wheel | None:
    if not (
        type(data) is dict
        and data["reader"] == READER
        and data["limits"] == _limits(limits)
        and data["path"] == path
        and data["filename"] == os.path.basename(path)
        and data["sha256"] == sha256
        and type(data["size"]) is int
        and data["size"] == size
    ):
        return None
    name, display_name, version = data["name"], data["display_name"], data["version"]
    dist_info, data_dir = data["dist_info"], data["data_dir"]
    root_is_purelib = data["root_is_purelib"]
    tags, rows, scripts = data["tags"], data["members"], data["entry_points"]
    requires_dist, warnings = data["requires_dist"], data["warnings"]
    requires_python = data["requires_python"]
    if not (
        type(name) is str
        and type(display_name) is str
        and type(version) is str
        and type(dist_info) is str
        and type(data_dir) is str
        and type(root_is_purelib) is bool
        and _strings(tags)
        and _strings(requires_dist)
        and (requires_python is None or type(requires_python) is str)
        and _strings(warnings)
        and type(rows) is list
        and type(scripts) is list
    ):
        return None
    members: list[Member] = []
    append = members.append
    for row in rows:
        if type(row) is not list:
            return None
        name_, offset, compression, compressed_size, size_, mode, hash_ = row
        if not (
            type(name_) is str
            and type(offset) is int
            and type(compression) is int
            and type(compressed_size) is int
            and type(size_) is int
            and type(mode) is int
            and type(hash_) is str
        ):
            return None
        append(Member(name_, offset, compression, compressed_size, size_, mode, hash_))
    entry_points: list[EntryScript] = []
    for row in scripts:
        if not (type(row) is list and _strings(row)):
            return None
        script, module, attr, section = row
        entry_points.append(EntryScript(script, module, attr, section))
    return Wheel(
        path=path,
        filename=os.path.basename(path),
        sha256=sha256,
        size=size,
        name=name,
        display_name=display_name,
        version=version,
        tags=frozenset(tags),
        root_is_purelib=root_is_purelib,
        dist_info=dist_info,
        data_dir=data_dir,
        members=tuple(members),
        entry_points=tuple(entry_points),
        requires_dist=tuple(requires_dist),
        requires_python=requires_python,
        warnings=tuple(warnings),
    )


def _strings(items: object) -> bool:
    return type(items) is list and all(type(item) is str for item in items)
