"""Settling paths that several distributions want to write.

Identical bytes are one write shared by every owner; different bytes are refused
unless the user named a winner with --prefer. Pure: claims in, decisions out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import attrs

from planner.errors import Problem
from planner.layout import Claim
from planner.plan import Conflict, FileEntry


@attrs.frozen
class Settlement:
    """What is written, in path order, as if the target held none of it (each entry's
    action is "write", its owners the distributions that will list it), and why."""

    files: tuple[FileEntry, ...]
    conflicts: tuple[Conflict, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]


def describe_owners(owners: Iterable[str], wheel_of: Mapping[str, str]) -> str:
    return ", ".join(f"{owner} ({wheel_of.get(owner, 'installed')})" for owner in owners)


def settle(
    claims: Iterable[FileEntry], prefer: frozenset[str], wheel_of: Mapping[str, str]
) -> Settlement:
    """Settle `claims`, each one distribution's entry for a path (see `claims_for`)."""
    first: dict[str, FileEntry] = {}  # path -> its first claim, nearly always its only one
    overlaps: dict[str, list[Claim]] = {}  # path -> every claim on it, where there are several
    for entry in claims:
        path = entry.path
        if path not in first:
            first[path] = entry
        elif path not in overlaps:
            overlaps[path] = [_claim(first[path]), _claim(entry)]
        else:
            overlaps[path].append(_claim(entry))
    files: list[FileEntry] = []
    conflicts: list[Conflict] = []
    problems: list[Problem] = []
    for path in sorted(first):
        if path not in overlaps:
            files.append(first[path])
            continue
        group = overlaps[path]
        group.sort(key=lambda claim: claim.owner)
        owners = tuple(claim.owner for claim in group)
        if len(set(owners)) != len(owners):
            # Two members of one wheel map here, e.g. one at the root and one under .data.
            twice = describe_owners(owners[:1], wheel_of)
            problems.append(Problem(path, f"two files of {twice} map to this path"))
            continue
        if len({claim.identity for claim in group}) == 1:
            files.append(FileEntry(path, "write", owners, group[0].source))
            conflicts.append(Conflict(path, owners, "identical", "shared"))
            continue
        winners = [claim for claim in group if claim.owner in prefer]
        if len(winners) != 1:
            hint = (
                f"several of them are preferred ({', '.join(c.owner for c in winners)})"
                if winners
                else "choose one with --prefer NAME"
            )
            problems.append(Problem(path, f"{_difference(group, wheel_of)}; {hint}"))
            conflicts.append(Conflict(path, owners, "different", "refused"))
            continue
        winner = winners[0]
        sharing = tuple(claim.owner for claim in group if claim.identity == winner.identity)
        files.append(FileEntry(path, "write", sharing, winner.source))
        conflicts.append(Conflict(path, owners, "different", f"prefer:{winner.owner}"))
    return Settlement(tuple(files), tuple(conflicts), tuple(problems), tuple(case_warnings(first)))


def _claim(entry: FileEntry) -> Claim:
    assert entry.source is not None and len(entry.owners) == 1  # as claims_for plans it
    return Claim(entry.path, entry.owners[0], entry.source)


def _difference(group: list[Claim], wheel_of: Mapping[str, str]) -> str:
    """What differs: a mode-only difference is named, since the bytes look the same."""
    if len({(c.source.hash, c.source.size, c.source.rewrite_shebang) for c in group}) == 1:
        modes = ", ".join(
            f"{describe_owners([claim.owner], wheel_of)}: {claim.source.mode:#o}" for claim in group
        )
        return f"the same bytes with different file modes ({modes})"
    return f"different content from {describe_owners((c.owner for c in group), wheel_of)}"


def case_warnings(paths: Iterable[str]) -> list[str]:
    """Paths that would collide on a case-insensitive filesystem (`paths` are distinct)."""
    paths = list(paths)
    if len(set(map(str.casefold, paths))) == len(paths):
        return []  # the usual answer, found without grouping 17,000 paths
    folded: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        folded[path.casefold()].append(path)
    return [
        f"{' and '.join(sorted(group))} differ only by case and will collide on"
        " case-insensitive filesystems"
        for group in folded.values()
        if len(group) > 1
    ]
