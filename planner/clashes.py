"""Planned paths that clash on disk, though no two of them are the same path.

`overlaps.py` settles one path that several distributions write; these are paths
named apart that meet: one planned as a file and as the folder of other planned
files, or two that a symlinked folder in the target makes one real path. Applied,
the second `mkdir` or create would find the first one's, so the plan is refused,
naming who plans each. A path a link leads out of the environment is refused here
too, as `apply` would refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from planner.errors import Problem
from planner.listing import LEADS_OUT, RealPaths
from planner.overlaps import describe_owners
from planner.paths import join
from planner.plan import FileEntry


def file_and_directory(
    directory: str, files: Sequence[FileEntry], wheel_of: Mapping[str, str]
) -> Problem:
    """`directory` is planned as a file, and as the folder of other planned files."""
    owners = next(entry.owners for entry in files if entry.path == directory)
    below = {
        owner for entry in files if entry.path.startswith(directory + "/") for owner in entry.owners
    }
    return Problem(
        directory,
        f"is a file of {describe_owners(owners, wheel_of)} and a directory"
        f" of {describe_owners(sorted(below), wheel_of)}",
    )


def through_links(
    files: Sequence[FileEntry],
    directories: Sequence[str],
    removed: Iterable[str],
    real: RealPaths,
    wheel_of: Mapping[str, str],
) -> list[Problem]:
    """Planned paths that a symlinked folder in the target turns into other paths.

    One that leads outside, written or `removed`, is refused here, as `apply` would
    refuse it. One that leads to a path the plan also writes, by its own name or
    through another link, is refused too: applied, the second `mkdir` or create would
    find the first one's. A link that only renames where files go is followed, as pip
    and uv follow it. `directories` holds every planned folder with its ancestors.
    """
    removed_from = {path.rpartition("/")[0] for path in removed}
    problems = [Problem(link, LEADS_OUT) for link in real.links_out([*directories, *removed_from])]
    moved = real.renamed(directories)
    if not moved:
        return problems
    planned = {entry.path for entry in files}.union(directories)
    named: dict[str, str] = {}  # a real path taken by a moved name -> that name
    clashing: set[str] = set()
    for path in sorted(planned):
        folder, _, name = path.rpartition("/")
        if folder in clashing:
            clashing.add(path)  # below a clash already reported
            continue
        if path in moved:
            really = moved[path]
            if path not in real.absent:  # there by both names: only what it holds is made
                continue
        elif folder in moved:
            really = join(moved[folder], name)
        else:
            continue
        other = really if really in planned else named.setdefault(really, path)
        if other != path:
            clashing.add(path)
            by_path, by_other = (_owners_at(each, files, wheel_of) for each in (path, other))
            also = f" as {other}" if other != really else ""
            problems.append(
                Problem(
                    path,
                    f"is {really} in the target (through a symlinked folder), which"
                    f" {by_other} also writes{also}; planned by {by_path}",
                )
            )
    return problems


def _owners_at(path: str, files: Sequence[FileEntry], wheel_of: Mapping[str, str]) -> str:
    """Who plans `path`, or files below it."""
    below = path + "/"
    owners = {
        owner
        for entry in files
        if entry.path == path or entry.path.startswith(below)
        for owner in entry.owners
    }
    return describe_owners(sorted(owners), wheel_of)


__all__ = ["file_and_directory", "through_links"]
