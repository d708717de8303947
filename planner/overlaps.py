"""Settling paths that several distributions want to write.

Identical bytes are one write shared by every owner; different bytes are refused
unless the user named a winner with --prefer. Pure: claims in, decisions out (the
one question it asks back, a member's sha256, is for the caller to answer).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import combinations

import attrs

from planner.errors import Problem
from planner.layout import Claim, Identity
from planner.plan import Conflict, FileEntry, OwnerHash, Source

# A source's bytes' sha256 in RECORD's form, None when they cannot be had.
Sha256Of = Callable[[Source], str | None]


@attrs.frozen
class Settlement:
    """What is written, in path order, as if the target held none of it (each entry's
    action is "write", its owners the distributions that will list it), and why."""

    files: tuple[FileEntry, ...]
    conflicts: tuple[Conflict, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]
    owner_hashes: tuple[OwnerHash, ...] = ()


def describe_owners(owners: Iterable[str], wheel_of: Mapping[str, str]) -> str:
    return ", ".join(f"{owner} ({wheel_of.get(owner, 'installed')})" for owner in owners)


def settle(
    claims: Iterable[FileEntry],
    prefer: frozenset[str],
    wheel_of: Mapping[str, str],
    sha256_of: Sha256Of,
) -> Settlement:
    """Settle `claims`, each one distribution's entry for a path (see `claims_for`).

    `sha256_of` is asked only where the claims on one path hash with other algorithms.
    """
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
    owner_hashes: list[OwnerHash] = []
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
        identities = _identities(group, sha256_of)
        if len(set(identities)) == 1:
            files.append(FileEntry(path, "write", owners, group[0].source))
            conflicts.append(Conflict(path, owners, "identical", "shared"))
            owner_hashes += _other_hashes(group, group[0].source)
            continue
        winners = [index for index, claim in enumerate(group) if claim.owner in prefer]
        if len(winners) != 1:
            hint = (
                f"several of them are preferred ({', '.join(group[i].owner for i in winners)})"
                if winners
                else "choose one with --prefer NAME"
            )
            problems.append(Problem(path, f"{_difference(group, identities, wheel_of)}; {hint}"))
            conflicts.append(Conflict(path, owners, "different", "refused"))
            continue
        winner = group[winners[0]]
        alike = [
            claim
            for claim, identity in zip(group, identities, strict=True)
            if identity == identities[winners[0]]
        ]
        files.append(FileEntry(path, "write", tuple(c.owner for c in alike), winner.source))
        conflicts.append(Conflict(path, owners, "different", f"prefer:{winner.owner}"))
        owner_hashes += _other_hashes(alike, winner.source)
    return Settlement(
        tuple(files),
        tuple(conflicts),
        tuple(problems),
        tuple(case_warnings(first, overlaps)),
        tuple(owner_hashes),
    )


def _identities(group: list[Claim], sha256_of: Sha256Of) -> list[Identity]:
    """Each claim's identity, by content: where the claims hash with other algorithms
    (pip and uv install the same bytes alike whatever RECORD hashes them by), a claim
    not by sha256 is known by its bytes' sha256, asked only of a size another has."""
    identities = [claim.identity for claim in group]
    if len({claim.source.hash.partition("=")[0] for claim in group}) == 1:
        return identities  # nearly always: the hashes tell
    sizes = Counter(claim.source.size for claim in group)
    for index, claim in enumerate(group):
        source = claim.source
        if not source.hash.startswith("sha256=") and sizes[source.size] > 1:
            # Bytes that cannot be had keep their own hash: the same as no other.
            identities[index] = (sha256_of(source) or source.hash, *identities[index][1:])
    return identities


def _other_hashes(alike: list[Claim], written: Source) -> list[OwnerHash]:
    """The hash of each owner in `alike` whose RECORD gives the bytes `written` holds by
    another algorithm: see `OwnerHash`."""
    return [
        OwnerHash(claim.path, claim.owner, claim.source.hash)
        for claim in alike
        if claim.source.hash != written.hash
    ]


def _claim(entry: FileEntry) -> Claim:
    assert entry.source is not None and len(entry.owners) == 1  # as claims_for plans it
    return Claim(entry.path, entry.owners[0], entry.source)


def _difference(group: list[Claim], identities: list[Identity], wheel_of: Mapping[str, str]) -> str:
    """What differs: a mode-only difference is named, since the bytes look the same."""
    if len({(content, size, rewrite) for content, size, _, rewrite in identities}) == 1:
        modes = ", ".join(
            f"{describe_owners([claim.owner], wheel_of)}: {claim.source.mode:#o}" for claim in group
        )
        return f"the same bytes with different file modes ({modes})"
    return f"different content from {describe_owners((c.owner for c in group), wheel_of)}"


def case_warnings(first: Mapping[str, FileEntry], overlaps: Mapping[str, list[Claim]]) -> list[str]:
    """Pairs of paths (`first`'s) that would collide on a case-insensitive filesystem,
    one warning each, but for a pair that one wheel's members whose names differ only by
    case make: its reader warned of them, whoever else writes either path too."""
    paths = list(first)
    if len(set(map(str.casefold, paths))) == len(paths):
        return []  # the usual answer, found without grouping 17,000 paths
    folded: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        folded[path.casefold()].append(path)
    warnings = []
    for group in folded.values():
        if len(group) == 1:
            continue
        members = {path: _members_of(overlaps.get(path) or [_claim(first[path])]) for path in group}
        warnings += [
            f"{one} and {other} differ only by case and will collide on case-insensitive"
            " filesystems"
            for one, other in combinations(sorted(group), 2)
            if not _reader_warned(members[one], members[other])
        ]
    return warnings


def _members_of(claims: Iterable[Claim]) -> dict[str, str]:
    """Owner -> the member of its wheel that each claim installs (not a script wrapper)."""
    return {claim.owner: claim.source.member for claim in claims if claim.source.member is not None}


def _reader_warned(one: Mapping[str, str], other: Mapping[str, str]) -> bool:
    """Whether one wheel installs the two paths from members whose names differ only by
    case (not a member under .data beside one that is not), `one` and `other` being the
    members installed at each path, by owner."""
    return any(
        owner in other and member.casefold() == other[owner].casefold()
        for owner, member in one.items()
    )
