"""The wheels a request names: wheel files, and folders of them.

A folder is read as pip's and uv's --find-links read one, a wheelhouse: builds of one
release for other Pythons or platforms may sit side by side in it, and the one that
fits the target best is planned. Wheel files named one by one are taken as given, so a
named wheel that does not fit is refused, as pip and uv refuse it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from planner.errors import Problem, Refused
from planner.paths import plan_path_problem
from planner.wheels import Wheel


def _missing_input(item: str) -> str:
    """Why a wheel argument names nothing, with what a pip or uv user may have meant."""
    if "://" in item:
        return "not a wheel file: wheelplan reads local files (a pylock.toml's URLs are fetched)"
    if not item.endswith(".whl") and os.sep not in item:
        return (
            "wheel file does not exist (wheelplan installs wheel files and lock files;"
            " it does not look names up on an index)"
        )
    return "wheel file does not exist"


def _unreachable(item: str) -> str | None:
    """Why a wheel argument cannot be looked at, or None: `os.path.exists` says False
    for a file in a folder it may not search too, which is no missing file."""
    try:
        os.stat(item)
    except FileNotFoundError:
        return _missing_input(item)
    except OSError as error:
        return f"cannot read wheel: {error.strerror}"
    return None


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Wheel files, with each directory replaced by the wheels directly in it; a file
    given twice (by name, or also through its directory) counts once, as pip and uv
    take it."""
    paths: list[str] = []
    problems: list[Problem] = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, name) for name in os.listdir(item) if name.endswith(".whl")
            )
            if not found:
                problems.append(Problem(item, "directory holds no .whl files"))
            paths += found
        elif problem := _unreachable(item):
            problems.append(Problem(item, problem))
        else:
            paths.append(item)
    for path in paths:
        if problem := plan_path_problem(os.path.abspath(path)):
            problems.append(Problem(path, problem))
    if problems:
        raise Refused(problems)
    unique: dict[str, str] = {}
    for path in paths:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def best_builds(wheels: Sequence[Wheel], inputs: Sequence[str], tags: Sequence[str]) -> list[Wheel]:
    """`wheels` without the builds a folder holds of a release besides the one that fits
    the target best (see `_best_fit`); wheel files named in `inputs` are all kept."""
    folders = {item for item in inputs if os.path.isdir(item)}
    if not folders:
        return list(wheels)
    named = {os.path.realpath(item) for item in inputs if item not in folders}
    rank = {tag: position for position, tag in enumerate(tags)}
    releases: dict[tuple[str, str], list[Wheel]] = {}
    for wheel in wheels:
        if os.path.realpath(wheel.path) not in named:
            releases.setdefault((wheel.name, wheel.version), []).append(wheel)
    dropped: set[int] = set()  # by identity: comparing wheels would compare every member
    for builds in releases.values():
        best = _best_fit(builds, rank)
        if best is not None:
            dropped.update(id(wheel) for wheel in builds if wheel is not best)
    return [wheel for wheel in wheels if id(wheel) not in dropped]


def _best_fit(builds: Sequence[Wheel], rank: Mapping[str, int]) -> Wheel | None:
    """The build whose best tag comes first in the target's order (the order pip and uv
    prefer tags in); None when none fits (the set's checks name them all) or two fit
    equally well."""
    fits = sorted(
        (min(rank[tag] for tag in wheel.tags if tag in rank), index)
        for index, wheel in enumerate(builds)
        if wheel.tags & rank.keys()
    )
    if not fits or (len(fits) > 1 and fits[0][0] == fits[1][0]):
        return None
    return builds[fits[0][1]]


__all__ = ["best_builds", "expand_inputs"]
