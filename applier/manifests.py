"""Wheel manifests: what the wheel reader made of a wheel, kept by the wheel's sha256.

`manifests-v1/<sha[:2]>/<sha256>.json` in the cache directory holds one wheel as
`planner.wheelreader.read_wheel` returned it (its members with their offsets, modes and
RECORD hashes, entry points, requirements and warnings), with what it was read by and
under: the reader's version, the interpreter's and the wheel libraries' versions, and
the Limits. A plan takes a wheel from its manifest instead of reading the archive only
when the wheel's sha256 came from the wheel index without hashing (its stat stamp is
unchanged) and the manifest names that sha256 and size, this reader, these limits and
the same path (warnings name the file). Anything else is a miss, a damaged file (its
CRC-32 differs) or a mistyped one included, and one holding what the reader never
gives (a negative offset, an entry point that is not an import;
`planner.distinfo.is_as_read`): the wheel is read and a fresh manifest written. Planned
members are checked against the manifest's RECORD hashes whenever they are extracted.

Only `plan` uses manifests: importing this module loads the wheel reader.
"""

from __future__ import annotations

import contextlib
import os
import sys
import zlib

import attrs
import installer
import msgspec
import packaging

from applier.atomic import write_atomic
from applier.cachedir import MANIFESTS, WHEEL_SHA256
from applier.wheelindex import WheelIndex
from planner.distinfo import is_as_read
from planner.inputfiles import read_own
from planner.limits import Limits
from planner.wheelreader import READER_VERSION
from planner.wheels import Wheel

DIRECTORY = MANIFESTS
# A manifest is trusted only from the reader that wrote it: the wheel reader's own
# version and whatever else decides its output (METADATA, csv and ini parsing, wheel
# file names, canonical names and versions, the .data schemes).
READER = (READER_VERSION, sys.version, packaging.__version__, installer.__version__)


def _limits(limits: Limits) -> tuple[int, ...]:
    return tuple(attrs.astuple(limits))


@attrs.frozen
class _Manifest:
    """A manifest file's schema: msgspec writes it and reads it back, types checked."""

    reader: tuple[int, str, str, str]
    limits: tuple[int, ...]
    wheel: Wheel


# "deterministic": the tags, a set, sorted, so a wheel's manifest is always the same bytes.
_ENCODER = msgspec.json.Encoder(order="deterministic")
_DECODER = msgspec.json.Decoder(_Manifest)


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
            text = read_own(self.path_of(sha256))
        except OSError:  # absent or unreadable
            return None
        return parse(text, path, sha256, size, limits)

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
            # UnicodeEncodeError: a path that is not UTF-8, which JSON cannot hold.
            with contextlib.suppress(OSError, UnicodeEncodeError):
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                write_atomic(self.path_of(sha256), dump(wheel, limits))
        self.fresh = {}


def dump(wheel: Wheel, limits: Limits) -> bytes:
    """A wheel's manifest: the wheel as its attrs classes have it, stamped with the reader
    and the limits it was read by, and framed with its CRC-32 (see `framed`)."""
    return framed(_ENCODER.encode(_Manifest(READER, _limits(limits), wheel)))


# `{"crc32":"<8 hex digits>","manifest":<the manifest>}`: still JSON, and the manifest's
# bytes are found without parsing it.
_HEAD = b'{"crc32":"%08x","manifest":'
_HEAD_SIZE = len(_HEAD % 0)


def framed(manifest: bytes) -> bytes:
    """A manifest with the CRC-32 of its bytes: damage that leaves it well-formed (a
    digit changed in an offset or a hash) is a miss too. 0.5 ms for the 101 bench
    wheels' 3.4 MB, where a sha256 takes 1.6 ms; an edit is not what it guards against."""
    return _HEAD % zlib.crc32(manifest) + manifest + b"}"


def parse(text: bytes, path: str, sha256: str, size: int, limits: Limits) -> Wheel | None:
    """The Wheel in a manifest's text, if it is one for this path, sha256, size and these
    limits from this reader, undamaged, with every field of the right type and range,
    and as the reader would give it (`is_as_read`); else None."""
    body = text[_HEAD_SIZE:-1]
    if text[:_HEAD_SIZE] != _HEAD % zlib.crc32(body) or not text.endswith(b"}"):
        return None
    try:
        manifest = _DECODER.decode(body)
    except msgspec.MsgspecError:  # not JSON, or a field missing or of another type
        return None
    wheel = manifest.wheel
    if (
        manifest.reader == READER
        and manifest.limits == _limits(limits)
        and (wheel.path, wheel.filename) == (path, os.path.basename(path))
        and (wheel.sha256, wheel.size) == (sha256, size)
        and len(wheel.members) <= limits.max_entries
        and is_as_read(wheel)
    ):
        return wheel
    return None
