"""How the target's distributions differ from the ones a plan was made for.

The plan holds each metadata folder with its file list's digest, so a stale plan is
refused naming what was installed, removed or relisted since, as pip and uv users
expect to be told, and not only that something was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs

from planner.plan import InstalledFolder

# How many folders of each kind a refusal names before it counts the rest: one line
# stays readable however much changed.
NAMED = 3

# What each kind is called: in a target that changed since the plan, and in a staged
# prefix, which did not change but never held what the planned environment did.
SINCE = ("installed since", "removed since", "file list changed")
STAGED = ("not in the planned environment", "not in the staged prefix", "file list differs")


@attrs.frozen
class InstalledChanges:
    """Metadata folders (paths relative to the prefix, sorted) found and not planned,
    planned and not found, and found with another file list."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    relisted: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.relisted)


def installed_changes(
    planned: Sequence[InstalledFolder], found: Sequence[InstalledFolder]
) -> InstalledChanges:
    """What differs between the folders a plan was made with and those found now."""
    before = {item.dist_info: item.listing_sha256 for item in planned}
    now = {item.dist_info: item.listing_sha256 for item in found}
    return InstalledChanges(
        added=tuple(sorted(now.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - now.keys())),
        relisted=tuple(
            sorted(path for path in now.keys() & before.keys() if now[path] != before[path])
        ),
    )


def described(changes: InstalledChanges, labels: tuple[str, str, str]) -> str:
    """`labels[0]: a, b, c and 2 more; labels[1]: ...`, each kind that has any."""
    kinds = zip(labels, (changes.added, changes.removed, changes.relisted), strict=True)
    return "; ".join(f"{label}: {_named(paths)}" for label, paths in kinds if paths)


def _named(paths: Sequence[str]) -> str:
    # The folder's name says the distribution and version; its site folder is noise,
    # unless the same name is in both site folders.
    names = [path.rpartition("/")[2] for path in paths]
    counts = Counter(names)
    shown = ", ".join(
        path if counts[name] > 1 else name
        for path, name in zip(paths[:NAMED], names[:NAMED], strict=True)
    )
    more = len(paths) - NAMED
    return f"{shown} and {more} more" if more > 0 else shown


__all__ = ["SINCE", "STAGED", "InstalledChanges", "described", "installed_changes"]
