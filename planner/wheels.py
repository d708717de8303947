"""A wheel as the planner holds it: the values `read_wheel` returns (planner.wheelreader).

They are what a plan is made from and what a manifest keeps, so they live apart from
the reading: a Wheel taken from a manifest is one too, and its archive is never read.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

import attrs
import msgspec

from planner.entrypoints import EntryScript
from planner.limits import MAX_FILE_OFFSET, Limits

# The values the reader gives, as types msgspec checks while it reads a manifest
# (applier/manifests.py): a damaged one is a miss there, at no cost per member.
FileMode = Literal[0o644, 0o755]
Compression = Literal[0, 8]
FileNumber = Annotated[int, msgspec.Meta(ge=0, le=MAX_FILE_OFFSET)]


@attrs.frozen
class Member:
    name: str
    offset: FileNumber
    compression: Compression
    compressed_size: FileNumber
    size: FileNumber
    mode: FileMode
    hash: str


@attrs.frozen
class Wheel:
    path: str
    filename: str
    sha256: str
    size: int
    name: str
    display_name: str
    version: str
    tags: frozenset[str]
    root_is_purelib: bool
    dist_info: str
    data_dir: str
    members: tuple[Member, ...]
    entry_points: tuple[EntryScript, ...]
    requires_dist: tuple[str, ...]
    # METADATA's Requires-Python when it is a valid specifier set (else a warning says so).
    requires_python: str | None
    warnings: tuple[str, ...]


class ManifestCache(Protocol):
    """What `read_wheel` made of wheels before, by sha256 (applier.manifests.Manifests).

    `known` is the Wheel that `read_wheel(path, limits)` returns for the wheel with
    this sha256 and size, or None; `remember` keeps a wheel just read (the shell writes it).
    """

    def known(self, path: str, sha256: str, size: int, limits: Limits) -> Wheel | None: ...

    def remember(self, wheel: Wheel, limits: Limits) -> None: ...
