"""The plan file: the one contract between the planner and the applier.

Both sides use these classes, which `planjson.py` writes as the plan file's JSON and
reads back from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import attrs

# 2: Target.externally_managed. 3: Target.layout. 4: the "prefix" layout.
# 5: Plan.removed_directories. 6: Plan.owner_hashes. 7: Target.installed, each
# metadata folder with its file list's digest, in place of one fingerprint of them all.
FORMAT = 7

FileAction = Literal["write", "replace", "remove"]
SourceKind = Literal["member", "inline", "record"]
DistAction = Literal["install", "upgrade", "downgrade", "reinstall", "remove", "unchanged"]
# The actions that install a distribution from its wheel: only these read a wheel and
# get a RECORD.
INSTALLING: frozenset[DistAction] = frozenset({"install", "upgrade", "downgrade", "reinstall"})
ConflictKind = Literal["identical", "different"]
# "environment": an interpreter's own prefix and schemes; "directory": a plain folder
# (`--target DIR`) laid out by `planner.target.DIRECTORY_SCHEMES`; "prefix": another
# folder laid out as the interpreter would lay out a venv there (`--prefix DIR`).
TargetLayout = Literal["environment", "directory", "prefix"]


@attrs.frozen
class InstalledFolder:
    """A metadata folder the target held when the plan was made, and the sha256 (hex)
    of its file list (RECORD, or a legacy installed-files.txt; of no text when it has
    none): an apply refuses a target that holds others, and names them."""

    # Relative to the prefix, in the purelib or platlib folder.
    dist_info: str
    listing_sha256: str


@attrs.frozen
class Target:
    """What the plan was made for; apply refuses a target that no longer matches."""

    interpreter: str
    prefix: str
    python_version: str
    # Scheme name -> directory relative to `prefix`, POSIX form ("" is the prefix itself).
    schemes: Mapping[str, str]
    tags_fingerprint: str
    # By dist_info, each once.
    installed: tuple[InstalledFolder, ...]
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
class OwnerHash:
    """Another owner's own RECORD hash of a file written once for several owners, where
    their RECORDs hash it with other algorithms (sha256 in one wheel, sha512 in another).

    The source's bytes (before a `#!python` line is rewritten) must have it too: the
    apply checks them before it writes anything, and lists it in that owner's RECORD
    (as pip and uv keep each wheel's own) when the file is written as the member holds
    it.
    """

    path: str
    owner: str
    hash: str


@attrs.frozen
class LockSource:
    path: str
    sha256: str


def planned_anyway(flag: str) -> str:
    """How a warning about what `flag` made the plan take anyway ends; the review never
    cuts such a warning, since the user must see what their override let in."""
    return f"(planned: {flag})"


def overridden(warning: str) -> bool:
    """Whether `warning` ends as `planned_anyway` ends one."""
    return _PLANNED_ANYWAY.search(warning) is not None


_PLANNED_ANYWAY = re.compile(r"\(planned: --[a-z-]+\)\Z")


@attrs.frozen
class Plan:
    format: int
    target: Target
    distributions: tuple[Distribution, ...]
    files: tuple[FileEntry, ...]
    conflicts: tuple[Conflict, ...]
    directories: tuple[str, ...]
    units: tuple[Unit, ...]
    # By path, then owner; none where every owner's RECORD hashes alike (nearly always).
    owner_hashes: tuple[OwnerHash, ...] = ()
    warnings: tuple[str, ...] = ()
    lock: LockSource | None = None
    # Empty folders (holding no file at any depth) in a `.dist-info` that goes, or that
    # a reinstall writes again and none of its files need: no removal empties them, and
    # pip removes the old folder whole.
    removed_directories: tuple[str, ...] = ()

    def file_map(self) -> dict[str, FileEntry]:
        return {entry.path: entry for entry in self.files}
