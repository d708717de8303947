"""What `--sync` leaves installed though not given: the packaging tools, and what
they need to run, so that the environment can still install."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from planner.installed import Installed
from planner.requirements import required_names

# `uv pip sync` keeps its seed packages and uv, pip-sync keeps pip, setuptools and wheel.
# Only --sync spares them; --remove NAME removes one all the same.
SYNC_KEEPS = frozenset({"pip", "setuptools", "wheel", "uv", "wheelplan"})


def sync_kept(
    installed: Mapping[str, Installed],
    given: Collection[str],
    remove: Collection[str],
    markers: Mapping[str, str],
) -> dict[str, str]:
    """Installed name -> the warning saying why --sync keeps it.

    The tools, and every installed distribution they require, transitively, by the
    Requires-Dist they were installed with: a kept tool that cannot import what it
    needs is no better than a removed one. What the plan installs or `remove` names
    is the user's choice and neither kept nor followed.
    """
    tools = sorted(SYNC_KEEPS.intersection(installed).difference(given, remove))
    requirers: dict[str, set[str]] = {}
    todo = list(tools)
    while todo:
        owner = todo.pop()
        needs = required_names(installed[owner].requires_dist, markers)
        for name in needs.intersection(installed).difference(given, remove, SYNC_KEEPS):
            if name not in requirers:
                todo.append(name)
            requirers.setdefault(name, set()).add(owner)
    kept = {
        name: f"{name} {installed[name].version}: kept by --sync, a packaging tool"
        f" (--remove {name} removes it)"
        for name in tools
    }
    for name, owners in requirers.items():
        kept[name] = (
            f"{name} {installed[name].version}: kept by --sync,"
            f" required by {', '.join(sorted(owners))}"
        )
    return kept


def lacking(
    kept: Iterable[Installed], present: Collection[str], markers: Mapping[str, str]
) -> set[str]:
    """The names that what --sync keeps requires on the target and that are not
    `present`: a tool without one is as broken as with one at a version it cannot use,
    which --sync keeps, so the review says both."""
    needed: set[str] = set()
    for item in kept:
        needed |= required_names(item.requires_dist, markers)
    return needed.difference(present)
