"""Whether a planned file has the bytes a RECORD lists at its path.

A RECORD may hash by another algorithm than the wheel's (pip and uv keep each
wheel's own), and a script is written with its `#!python` line rewritten, so the
hashes alone do not always tell: a member is then read back from its wheel. The plan
asks whether a reinstall of the same version would write what is installed already
(it is left alone, as pip and uv leave it), whether a kept distribution's file is
written again alike (both list it), how one differs where it refuses, and a
member's sha256 where two planned claims on a path hash by other algorithms.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Literal

from planner.hashing import ACCEPTED_HASHES, encode_hash
from planner.installed import Installed, bytecode_source
from planner.layout import entry_scripts, member_destinations, root_scheme
from planner.overlaps import describe_owners
from planner.paths import is_within, join
from planner.plan import FileEntry, Source
from planner.readback import MAX_READ_BACK, member_bytes, member_digest
from planner.shebang import rewritten, shebang
from planner.target import TargetInfo
from planner.wheels import Member, Wheel


def _has_listed_bytes(
    wheel: Wheel, member: Member, rewrite: bool, interpreter: str, listed: str
) -> bool | None:
    """Whether `member` as it is written (a script's `#!python` line rewritten for the
    target, with `rewrite`) has the bytes that `listed`, a RECORD hash, names.

    By whatever algorithm: pip and uv keep each wheel's own, so an installed RECORD may
    hash with sha512 what the wheel hashes with sha256. The member is read back from
    the wheel only where the texts cannot tell; None when it cannot be (a script
    larger than MAX_READ_BACK, or the wheel changed).
    """
    algorithm = listed.partition("=")[0]
    if algorithm not in ACCEPTED_HASHES:
        return False  # a hash no wheel's bytes are known by
    if rewrite:
        written = _written_hash(wheel, member, interpreter, algorithm)
        return None if written is None else listed == written
    if listed == member.hash or algorithm == member.hash.partition("=")[0]:
        return listed == member.hash
    digest = member_digest(wheel.path, member, algorithm)
    return None if digest is None else listed == digest


def _written_hash(wheel: Wheel, member: Member, interpreter: str, algorithm: str) -> str | None:
    """The RECORD hash by `algorithm` of a script as it is written, its `#!python` line
    rewritten for the target (None: see `_has_listed_bytes`)."""
    content = member_bytes(wheel.path, member)
    if content is None:
        return None
    data = bytes(rewritten(content, shebang(interpreter)))
    return encode_hash(algorithm, hashlib.new(algorithm, data).digest())


def unchanged(
    wheel: Wheel, old: Installed, target: TargetInfo, listed_elsewhere: Callable[[str], bool]
) -> bool:
    """Same version, and the installed RECORD lists the files this wheel writes, with
    the bytes they have once installed, and no others.

    Entry-point wrappers are only looked for (their bytes depend on the installer); so
    are an installer's own metadata files (INSTALLER, REQUESTED, direct_url.json,
    RECORD) and bytecode. A file its RECORD lost to a `--prefer` winner, which
    another distribution lists (a wrapper too), is not looked for; nor are rows for
    the wheel's own `.data` paths (pip lists a `.data/scripts` file it skipped for a
    wrapper so).
    """
    if old.version != wheel.version or old.legacy or old.unlisted is not None:
        return False
    scripts = entry_scripts(wheel, target.python_version)
    written = {join(target.schemes["scripts"], script.name) for script in scripts}
    if not all(path in old.files or listed_elsewhere(path) for path in written):
        return False
    for member, path, _, rewrite in member_destinations(
        wheel, target.schemes, target.python_version
    ):
        written.add(path)
        listed = old.files.get(path)
        if listed is None:
            if listed_elsewhere(path):
                continue
            return False
        if listed != member.hash and not _has_listed_bytes(
            wheel, member, rewrite, target.interpreter, listed
        ):
            return False
    skipped = join(target.schemes[root_scheme(wheel)], wheel.data_dir)
    # A rebuilt wheel of the same version without a file the installed one has.
    return all(
        path in written
        or is_within(path, old.dist_info)
        or is_within(path, skipped)
        or bytecode_source(path) is not None
        for path in old.files
    )


def as_installed(
    path: str, listed: str, source: Source, target: TargetInfo, wheels: Mapping[str, Wheel]
) -> Literal["same", "mode", "different", "unreadable"]:
    """How a planned member compares with the file a kept distribution lists at `path`
    (`listed`: the RECORD hash): the same, the same bytes with the other file mode,
    different, or not to be told (see `_has_listed_bytes`). Joint or one after the
    other, two wheels then share it or not alike. A script is made executable
    whatever its mode in the wheel, so its mode is not compared; it is compared as it
    is written, its `#!python` line rewritten: a kept file of its bytes in the wheel
    (a `.data/data` file's) would be overwritten with other bytes.
    """
    if source.rewrite_shebang or (listed != source.hash and source.kind == "member"):
        wheel, member = _member_of(source, wheels)
        same = _has_listed_bytes(wheel, member, source.rewrite_shebang, target.interpreter, listed)
        if same is None:
            return "unreadable"
        if not same:
            return "different"
        if source.rewrite_shebang:
            return "same"
    elif listed != source.hash:
        return "different"
    try:
        executable = bool(os.stat(os.path.join(target.prefix, path)).st_mode & 0o111)
    except OSError:
        return "same"
    return "same" if executable == (source.mode == 0o755) else "mode"


def keeps_alike(
    item: Installed, claim: FileEntry, target: TargetInfo, wheels: Mapping[str, Wheel]
) -> bool:
    """Whether `claim` would write the file a kept `item` lists at its path as it is, so
    that the two share it (see `as_installed`)."""
    assert claim.source is not None  # claims are writes
    listed = item.files[claim.path]
    return as_installed(claim.path, listed, claim.source, target, wheels) == "same"


def installed_difference(
    item: Installed, alike: str, entry: FileEntry, wheel_of: Mapping[str, str]
) -> str:
    """How `item`'s installed file at `entry`'s path differs from the planned one
    (`alike`: see `as_installed`), for a refusal."""
    source = entry.source
    assert source is not None  # a settled write
    others = describe_owners(entry.owners, wheel_of)
    # Only a script is read back whole; another member is hashed as it streams.
    why = (
        f"larger than {MAX_READ_BACK // 2**20} MiB, or the wheel changed"
        if source.rewrite_shebang
        else "its bytes do not have its RECORD hash, or the wheel changed"
    )
    differs = {
        "different": f"has different content than {others}",
        "mode": f"has the same bytes as {others} with another file mode",
        "unreadable": f"lists it, and {source.member!r} of {source.wheel} cannot"
        f" be read back to compare ({why})",
    }[alike]
    return f"{item.name} {item.version} (installed) {differs}"


def sha256_of(source: Source, wheels: Mapping[str, Wheel]) -> str | None:
    """A member's sha256 in RECORD's form, read back from its wheel (None: see
    `member_digest`), to compare it with a claim on its path that another algorithm
    hashes. An inline source is hashed with sha256 already."""
    if source.kind != "member":
        return source.hash
    wheel, member = _member_of(source, wheels)
    return member_digest(wheel.path, member, "sha256")


def _member_of(source: Source, wheels: Mapping[str, Wheel]) -> tuple[Wheel, Member]:
    """The wheel and member a member source names (looked for only where one is read)."""
    assert source.wheel is not None and source.member is not None  # a member source
    wheel = wheels[source.wheel]
    return wheel, next(member for member in wheel.members if member.name == source.member)


__all__ = ["as_installed", "installed_difference", "keeps_alike", "sha256_of", "unchanged"]
