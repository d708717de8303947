"""The folders a plan makes and removes, and the folders it meets in the target.

A file planned where a folder stands, a folder planned where a file stands or
through a symlink, a metadata folder that would keep naming a distribution that
goes, a mount point no rmdir takes: each is refused here, before the first byte is
written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from planner.clashes import file_and_directory, through_links
from planner.errors import Problem
from planner.journalnames import plan_can_name
from planner.landing import Ground
from planner.listing import empty_below, going_metadata, left_below, metadata_left, not_folders
from planner.mounts import MountPoints, mounts_staying
from planner.paths import is_within, parents
from planner.plan import FileEntry


@attrs.frozen
class Folders:
    """The folders the apply makes (each with every folder above it), those it
    removes once emptied, and what is refused."""

    directories: tuple[str, ...]
    emptied: tuple[str, ...]
    problems: tuple[Problem, ...]


def plan_folders(
    ground: Ground,
    settled: Sequence[FileEntry],
    rewrites: Sequence[FileEntry],
    removals: Mapping[str, FileEntry],
    onto_folders: Iterable[str],
    reinstalled: Iterable[str],
    by_hand: Collection[str],
    wheel_of: Mapping[str, str],
) -> Folders:
    """The folders of a plan that writes `settled` and `rewrites` and removes
    `removals`: `onto_folders` are settled paths where a folder stands now,
    `reinstalled` the metadata folders reinstalls write again, and `by_hand` the
    removals refused as only a hand's."""
    prefix, disk, real = ground.target.prefix, ground.disk, ground.real
    problems: list[Problem] = []
    for path in onto_folders:
        left = left_below(prefix, path, removals.keys())
        if left is not None:
            kept_there = "" if left == path else f"; {left} would remain in it"
            problems.append(
                Problem(
                    path, f"is a directory in the target, but a file is planned there{kept_there}"
                )
            )

    written = ground.written
    directories = sorted(
        _with_ancestors(ground.folders.union(entry.path.rpartition("/")[0] for entry in rewrites))
    )
    written_folders = set(directories)
    points = MountPoints(prefix)
    emptied = _emptied_in_rewritten(prefix, points, reinstalled, written_folders)
    if removals:
        going = going_metadata(removals.keys(), written_folders)
        # A mount point stays (no rmdir takes one), and so does the folder holding it.
        mounted = points.of_folders(going)
        problems += mounts_staying(mounted)
        # A metadata folder that goes takes its empty folders along, as pip's does; one
        # that no plan can name stays, and is refused below as what would stay.
        emptied += [
            folder
            for metadata in going
            if metadata not in mounted
            for folder in empty_below(prefix, metadata)
            if plan_can_name(folder)
        ]
        problems += [
            Problem(
                folder,
                f"{left} would stay in this metadata folder, which would then still name a"
                " distribution that is gone; remove that by hand",
            )
            for folder, left in metadata_left(
                prefix, removals.keys(), written_folders, set(emptied)
            )
            # A folder that is a symlink: unlisted_metadata refused it. A file refused
            # above as one to remove by hand is said once, there.
            if left != folder
            and folder not in mounted
            and not any(is_within(path, left) for path in by_hand)
        ]
    problems += through_links([*settled, *rewrites], directories, removals, real, wheel_of)
    for directory in sorted(written.intersection(directories)):
        problems.append(file_and_directory(directory, settled, wheel_of))
    problems += [
        Problem(directory, "is a file in the target, but a directory is planned there")
        for directory in not_folders(prefix, directories, disk, real, removals)
    ]
    return Folders(tuple(directories), tuple(sorted(emptied)), tuple(problems))


def _with_ancestors(folders: Iterable[str]) -> set[str]:
    """`folders` and every folder above them, without the prefix ("").

    Each folder's ancestors once, not each file's: 1,500 folders hold 17,000 files.
    """
    found: set[str] = set()
    for folder in folders:
        while folder and folder not in found:  # a folder found has its ancestors found
            found.add(folder)
            folder = folder.rpartition("/")[0]
    return found


def _emptied_in_rewritten(
    prefix: str, points: MountPoints, rewritten: Iterable[str], directories: Collection[str]
) -> list[str]:
    """The empty folders of each `.dist-info` that a reinstall writes again, but none of
    its new files is in or below: pip's uninstall of the old copy takes the folder
    whole (uv's leaves them). One that is, or holds, a mount point (no rmdir takes it),
    or a folder no plan can name (the apply would refuse the plan), stays, as
    everything did before.
    """
    found = [
        folder
        for metadata in rewritten
        for folder in empty_below(prefix, metadata)
        if folder not in directories
    ]
    staying = {
        path for folder in found if not plan_can_name(folder) for path in (folder, *parents(folder))
    }
    staying.update(points.of_folders(found))
    return [folder for folder in found if folder not in staying]


__all__ = ["Folders", "plan_folders"]
