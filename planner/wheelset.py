"""Whether a request's wheels can go into the target together.

One release of each name (and, where a folder given brought two, how to choose),
built for the target's tags and its Python's version, none also removed; and the
names the removals and `--prefer` give that are neither planned nor installed. Asked
of the wheels alone, before the driver in `build.py` looks at any file they hold.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from planner import requirements
from planner.errors import Problem, Refused
from planner.plan import planned_anyway
from planner.tagfit import misfit
from planner.target import TargetInfo
from planner.wheels import Wheel


def _how_to_choose(wheel: Wheel, other: Wheel, given: Sequence[str]) -> str:
    """How to choose between two releases of one name that a folder given holds (a
    wheelhouse: nothing says which one is meant), or "" when they are not both from one.
    Looked up only for such a pair, not for every plan's wheels."""
    folder = os.path.dirname(wheel.path)
    house = os.path.realpath(folder)
    if house != os.path.realpath(os.path.dirname(other.path)):
        return ""
    folders = {os.path.realpath(item) for item in given if os.path.isdir(item)}
    if house not in folders:
        return ""
    # One was named too, and the folder brought the other.
    files = {os.path.realpath(item) for item in given} - folders
    paths = {os.path.realpath(other.path), os.path.realpath(wheel.path)}
    how = (
        "given too: name the wheel file alone, without the folder"
        if paths & files
        else "given: name the wheel file to install"
    )
    return f" (both from {folder}, a folder {how})"


def check_wheel_set(
    wheels: Sequence[Wheel],
    target: TargetInfo,
    given: Sequence[str],
    remove: frozenset[str],
    prefer: frozenset[str],
    *,
    ignore_requires_python: bool,
) -> list[str]:
    """Refuse a set of wheels that cannot go into the target together; return the
    warnings for the wheels planned anyway (--ignore-requires-python)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    seen: dict[str, Wheel] = {}
    supported = set(target.tags)
    python = target.markers.get("python_full_version") or target.python_version
    for wheel in wheels:
        if wheel.name in seen:
            other = seen[wheel.name]
            # Two copies of one file name are told apart by their folders.
            same = other.filename == wheel.filename
            also = f"{wheel.name} is also given as {other.path if same else other.filename}"
            also += _how_to_choose(wheel, other, given)
            problems.append(Problem(wheel.path if same else wheel.filename, also))
        seen[wheel.name] = wheel
        if not wheel.tags & supported:
            problems.append(
                Problem(
                    wheel.filename,
                    f"is not compatible with the target, Python {target.python_version}:"
                    f" {misfit(wheel.filename, target.tags)}",
                )
            )
        if wheel.requires_python and requirements.python_excluded(wheel.requires_python, python):
            needs = f"requires Python {wheel.requires_python}; the target is Python {python}"
            if ignore_requires_python:
                warnings.append(
                    f"{wheel.filename}: {needs} {planned_anyway('--ignore-requires-python')}"
                )
            else:
                problems.append(
                    Problem(wheel.filename, f"{needs} (--ignore-requires-python plans it anyway)")
                )
        if wheel.name in remove:
            problems.append(Problem(wheel.filename, f"{wheel.name} is both installed and removed"))
    installed = {item.name for item in target.installed}
    for name in sorted(remove - installed):
        # Skipped, as pip and uv skip it: the rest of an uninstall still happens. One
        # the target imports from a site folder outside it is named, as pip names it.
        found = target.elsewhere.get(name)
        outside = f" ({name} {found}, which it imports, is installed outside it)" if found else ""
        warnings.append(f"{name}: not installed in the target{outside}; nothing to remove")
    for name in sorted(prefer - set(seen) - installed):
        problems.append(
            Problem(name, "--prefer names a distribution that is neither planned nor installed")
        )
    if problems:
        raise Refused(problems)
    return warnings
