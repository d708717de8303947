"""Where each settled file lands in the target, and what it meets there.

A planned file may land on nothing, on a file a kept distribution lists (the same
bytes, or bytes one of them wins), on a folder, on a file the environment needs, or
on a file no distribution owns. Each is either planned (`write` or `replace`) or
refused here, before the first byte is written.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence, Set

import attrs

from planner.asinstalled import as_installed, installed_difference
from planner.disowning import Losses, preferred
from planner.errors import Problem
from planner.installed import Installed
from planner.listing import Listing, RealPaths
from planner.overlaps import describe_owners
from planner.ownfiles import NEEDED, OwnFiles
from planner.paths import is_within
from planner.plan import FileEntry
from planner.target import TargetInfo
from planner.wheels import Wheel


@attrs.frozen
class Landed:
    """The settled files as planned, the paths where a folder stands now (written
    once the removals empty it, or refused), and what is refused."""

    files: tuple[FileEntry, ...]
    onto_folders: tuple[str, ...]
    problems: tuple[Problem, ...]


@attrs.frozen
class Ground:
    """What a settled file may meet in the target: its listing, the settled paths
    (`written`), their folders and those of them that exist there, the installed
    distributions listing each path (kept, or going), where each path really leads,
    and the environment's own files."""

    target: TargetInfo
    disk: Listing
    written: frozenset[str]
    folders: frozenset[str]  # "" is the prefix
    on_disk: Set[str]
    kept_owner_of: Mapping[str, Sequence[Installed]]
    gone_owner_of: Mapping[str, Sequence[str]]
    real: RealPaths
    own: OwnFiles


def land(
    settled: Sequence[FileEntry],
    ground: Ground,
    prefer: Collection[str],
    wheel_named: Mapping[str, Wheel],
    wheel_of: Mapping[str, str],
    losses: Losses,
) -> Landed:
    """Plan each of `settled` where it lands; record in `losses` what kept
    distributions share or lose."""
    target, kept_owner_of, on_disk = ground.target, ground.kept_owner_of, ground.on_disk
    # Only these paths meet the target; every other settled entry is planned as it is.
    touched = on_disk | ground.written.intersection(kept_owner_of)
    files: list[FileEntry] = []
    onto_folders: list[str] = []
    problems: list[Problem] = []
    for entry in settled:
        path = entry.path
        if path not in touched:
            files.append(entry)
            continue
        source = entry.source
        assert source is not None  # settled entries are writes
        all_owners = entry.owners  # sorted, and so they stay unless an installed one joins
        winner = preferred(entry.owners, prefer)
        compared = [
            (item, as_installed(path, item.files[path], source, target, wheel_named))
            for item in kept_owner_of.get(path, ())
        ]
        # Installed distributions preferred over a planned file that is not theirs: only
        # where a planned owner is preferred too (`losses.hold` took any other claim).
        keepers = sorted(
            item.name
            for item, alike in compared
            if alike != "same" and not item.legacy and item.name in prefer
        )
        for item, alike in compared:
            if alike == "same":
                # A set: each copy of a distribution installed twice lists it too.
                all_owners = tuple(sorted({*all_owners, item.name}))
                losses.keeps_rewritten(item, path)
            elif item.legacy:
                # No hash to compare, and no RECORD that --prefer could rewrite.
                problems.append(
                    Problem(
                        path,
                        f"{item.name} {item.version} (installed, an .egg-info) lists it too;"
                        f" upgrade or remove {item.name} too",
                    )
                )
            elif item.name in keepers:
                both = ", ".join(sorted(set(prefer).intersection([*entry.owners, *keepers])))
                differs = installed_difference(item, alike, entry, wheel_of)
                problems.append(Problem(path, f"{differs}; several of them are preferred ({both})"))
            elif not losses.may_lose(item, path, winner):
                differs = installed_difference(item, alike, entry, wheel_of)
                problems.append(Problem(path, f"{differs}; {_remedy(item, path, entry)}"))
        exists = path in on_disk
        if exists and os.path.isdir(os.path.join(target.prefix, path)):
            # Written once the removals empty the folder, or refused by the caller.
            onto_folders.append(path)
            exists = False
        elif exists and (really := ground.real.of(path)) is not None and ground.own.holds(really):
            # No distribution's, whatever a RECORD lists: removed never, written over never.
            problems.append(
                Problem(
                    path,
                    f"{NEEDED}; planned by {describe_owners(entry.owners, wheel_of)}, and a"
                    " plan never writes over it, whatever a RECORD lists",
                )
            )
        elif exists and path not in ground.gone_owner_of and path not in kept_owner_of:
            problems.append(
                Problem(
                    path,
                    f"exists in the target and belongs to no distribution; planned by"
                    f" {describe_owners(entry.owners, wheel_of)}; remove or move it if"
                    " nothing needs it, then plan again",
                )
            )
        files.append(FileEntry(path, "replace" if exists else "write", all_owners, source))
    return Landed(tuple(files), tuple(onto_folders), tuple(problems))


def _remedy(item: Installed, path: str, entry: FileEntry) -> str:
    """What a user can do about `item`'s file at `path`, which a planned wheel writes
    with other bytes and which `item` cannot lose."""
    if is_within(path, item.dist_info):
        return (
            f"a file of {item.name}'s own .dist-info is never taken from it"
            f" (--prefer {item.name} keeps its file)"
        )
    if item.unlisted is not None:  # never upgraded or removed either
        return (
            f"{item.name}'s RECORD cannot be rewritten without it"
            f" ({item.unlisted}), so --prefer {item.name} keeps its file"
        )
    return (
        f"upgrade or remove {item.name} too, or --prefer {entry.owners[0]},"
        f" or --prefer {item.name} to keep its file"
    )


__all__ = ["Ground", "Landed", "land"]
