"""What a plan removes: the files of the distributions that go, and the cached
bytecode of every source it removes or replaces.

A RECORD that goes may list a folder, a file another distribution keeps, a file the
environment needs, or one in the journal's place; each is left, said, or refused
here, so that a removal never takes what is not its own.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from planner.disowning import listed_bytecode
from planner.errors import Problem
from planner.installed import Installed, in_metadata, left_outside, unlisted_metadata
from planner.journalnames import RESERVED_FOR_JOURNAL, in_journal
from planner.landing import Ground
from planner.listing import Listing, is_real_dir
from planner.plan import FileEntry


@attrs.frozen
class GoneFiles:
    """By path, the names of the distributions that go and list it (their RECORDs,
    and the metadata no RECORD lists); what cannot be read of them; and what they
    leave outside the target."""

    owner_of: Mapping[str, Sequence[str]]
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]


def gone_files(installed: Iterable[Installed], gone: Collection[str], prefix: str) -> GoneFiles:
    """The files of every installed copy of each of `gone`: a name installed more
    than once (refused) has them all, so that none is refused besides as nobody's."""
    owner_of: dict[str, list[str]] = {}
    problems: list[Problem] = []
    warnings: list[str] = []
    for item in [item for item in installed if item.name in gone]:
        metadata, unreadable = unlisted_metadata(item, prefix)
        problems += unreadable
        if left := left_outside(item):
            warnings.append(left)
        for path in (*item.files, *metadata):
            owner_of.setdefault(path, []).append(item.name)
    return GoneFiles(owner_of, tuple(problems), tuple(warnings))


@attrs.frozen
class Removals:
    """The files removed, by path; those only a hand may remove (refused); and, by
    distribution, the files left because they are in a kept one's metadata folder
    (`theirs`) or the environment needs them (`needed`)."""

    files: Mapping[str, FileEntry]
    by_hand: tuple[str, ...]
    problems: tuple[Problem, ...]
    theirs: Mapping[str, Sequence[str]]
    needed: Mapping[str, Sequence[str]]


def plan_removals(
    ground: Ground, reasons: Mapping[str, str], kept: Iterable[Installed]
) -> Removals:
    """Remove each file of the distributions that go (`reasons` says why each goes)
    that the plan neither writes nor keeps for another."""
    prefix, real, kept_owner_of = ground.target.prefix, ground.real, ground.kept_owner_of
    written = ground.written
    files: dict[str, FileEntry] = {}
    # Where each path really leads: a row may name a file by another path (`lib64/` is
    # `lib/` in a venv), which must not take a file that stays or that goes already.
    settled = real.aliases([*written, *kept_owner_of]) if ground.gone_owner_of else set()
    by_hand: list[str] = []  # removals no plan may name
    problems: list[Problem] = []
    # The metadata of one that stays is its own, whatever a RECORD that goes lists.
    kept_metadata = {really for item in kept if (really := real.of(item.dist_info))}
    theirs: dict[str, list[str]] = {}
    needed: dict[str, list[str]] = {}
    for path, owners in sorted(ground.gone_owner_of.items()):
        if path in written or path in kept_owner_of:
            continue
        if not ground.disk.lexists(path):
            continue
        if is_real_dir(os.path.join(prefix, path)):
            # A RECORD lists files: what a folder it names holds may be anyone's (a
            # damaged row naming `lib` would take the whole tree).
            continue
        really = real.of(path)
        if really is not None:
            if really in settled or really in written or really in kept_owner_of:
                continue
            if in_metadata(really, kept_metadata):
                for name in owners:
                    theirs.setdefault(name, []).append(path)
                continue
            if ground.own.holds(really):
                for name in owners:
                    needed.setdefault(name, []).append(path)
                continue
            settled.add(really)  # removed once, by its first name
        reason = "; ".join(reasons[name] for name in sorted(owners))
        reserved = path if in_journal(path) else really if really and in_journal(really) else None
        if reserved is not None:
            # A hand-made row, or a file in the metadata folder: the apply refuses any
            # plan that names it, so it can only go by hand. Reached through a symlinked
            # folder too, which the apply's check of the name alone would not see.
            through = (
                "" if reserved == path else f", reached as {reserved} through a symlinked folder,"
            )
            by_hand.append(path)
            problems.append(
                Problem(
                    path,
                    f"a file to remove ({reason}){through} {RESERVED_FOR_JOURNAL}, which no"
                    " plan may name; remove it by hand",
                )
            )
            continue
        files[path] = FileEntry(
            path=path, action="remove", owners=tuple(sorted(owners)), reason=reason
        )
    return Removals(files, tuple(by_hand), tuple(problems), theirs, needed)


def stale_bytecode(
    removed: Mapping[str, FileEntry], ground: Ground, given_up: Mapping[str, Collection[str]]
) -> list[FileEntry]:
    """The cached bytecode of each source removed or written again, which would be
    stale, unless a kept distribution still lists it (one that has not `given_up` its
    row): it is looked for only where a folder's `__pycache__` holds anything (in a
    fresh environment, nowhere)."""
    written = ground.written
    pycache = _pycache_listings(
        ground.folders.union(path.rpartition("/")[0] for path in removed), ground.disk
    )
    if not pycache:
        return []
    found: dict[str, FileEntry] = {}
    for path in sorted(path for path in (*removed, *written) if path.endswith(".py")):
        previous = removed[path].owners if path in removed else ()
        for cached in _bytecode_of(path, pycache):
            if (
                cached not in removed
                and cached not in written
                and not any(
                    item.name not in given_up.get(cached, ())
                    for item in ground.kept_owner_of.get(cached, ())
                )
                and cached not in found
            ):
                found[cached] = FileEntry(
                    path=cached,
                    action="remove",
                    owners=previous,
                    reason=f"bytecode of {path}, which is removed or replaced",
                )
    return list(found.values())


def _pycache_listings(folders: Iterable[str], disk: Listing) -> dict[str, frozenset[str]]:
    """What the `__pycache__` of each of `folders` holds on disk, for those where it
    holds anything (in a fresh environment, none)."""
    found = {}
    for folder in folders:
        entries = disk.names(f"{folder}/__pycache__" if folder else "__pycache__")
        if entries and entries is not Listing.UNREADABLE:
            found[folder] = entries
    return found


def _bytecode_of(path: str, pycache: Mapping[str, frozenset[str]]) -> list[str]:
    """Cached bytecode of a source file (`path` ends in .py), for every optimisation
    level, as it is on disk (`pycache`: see `_pycache_listings`)."""
    folder = path.rpartition("/")[0]
    cache = f"{folder}/__pycache__" if folder else "__pycache__"
    return listed_bytecode((f"{cache}/{entry}" for entry in pycache.get(folder, ())), path)


__all__ = ["GoneFiles", "Removals", "gone_files", "plan_removals", "stale_bytecode"]
