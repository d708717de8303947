"""Installed distributions that lose a file to a wheel the user preferred, or keep one.

`--prefer NAME` settles an overlap with different content for NAME among the planned
wheels; it settles one with a distribution already installed the same way: NAME's
bytes are written, and the installed one's RECORD is rewritten without the file (and
without the bytecode of it that RECORD lists), so only the winner's RECORD lists it
and uninstalling the loser later leaves it in place. When NAME is the installed one,
its file wins against every planned wheel that would write another file there, however
those differ among themselves (the user chose the file to keep, so which of them would
win is moot): the plan does not write it, so no RECORD the apply writes lists it, as a
planned loser's does not; a planned wheel with its bytes and mode shares it.

An installed distribution that keeps a source the plan writes again with the same
bytes (`nvidia/__init__.py`, which every `nvidia-*-cu12` wheel ships) gives up the
bytecode of it that its RECORD lists, the same way: the file gets a new mtime, which
makes a timestamp `.pyc` of the old one stale. The apply removes that `.pyc` or
compiles it anew, and only the RECORDs it writes can hold the new one's hash, so the
kept RECORD would otherwise claim bytes that are no longer there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import attrs

from planner.installed import Installed, bytecode_source
from planner.installedrecord import record_without
from planner.layout import inline
from planner.paths import is_within
from planner.plan import Conflict, FileEntry


@attrs.define
class Losses:
    """What installed distributions lose: by dist-info, the distribution and its paths;
    by path, the winner and the installed losers."""

    by_dist_info: dict[str, tuple[Installed, set[str]]] = attrs.field(factory=dict)
    by_path: dict[str, tuple[str, list[str]]] = attrs.field(factory=dict)
    # Sources a distribution keeps while the plan writes them again.
    rewritten: list[tuple[Installed, str]] = attrs.field(factory=list)
    # By path, the installed distributions that keep listing a file the plan writes
    # with the same bytes.
    sharers: dict[str, list[str]] = attrs.field(factory=dict)
    # By path, a preferred installed winner whose file stays, and every installed
    # distribution listing it and planned wheel losing it.
    held: dict[str, tuple[str, list[str]]] = attrs.field(factory=dict)

    def may_lose(self, item: Installed, path: str, winner: str | None) -> bool:
        """Record that `item` loses `path` to `winner`, if it can: never a file of its
        own dist-info (its metadata is not another distribution's to replace), nor one of
        a distribution whose files are unknown (its RECORD is not all read)."""
        if winner is None or is_within(path, item.dist_info) or item.unlisted is not None:
            return False
        self.by_dist_info.setdefault(item.dist_info, (item, set()))[1].add(path)
        self.by_path.setdefault(path, (winner, []))[1].append(item.name)
        return True

    def keeps_rewritten(self, item: Installed, path: str) -> None:
        """Record that `item` keeps listing `path`, which the plan writes again: the
        bytecode its RECORD lists for a source goes stale with it. Not one whose RECORD
        the plan cannot rewrite (its metadata folder leads outside the environment):
        it keeps its rows, as pip and uv leave every owner's."""
        self.sharers.setdefault(path, []).append(item.name)
        if path.endswith(".py") and not item.legacy and item.unlisted is None:
            self.rewritten.append((item, path))

    def hold(
        self,
        claims: Sequence[FileEntry],
        listed_by: Mapping[str, Sequence[Installed]],
        prefer: Collection[str],
        same: Callable[[Installed, FileEntry], bool],
    ) -> list[FileEntry]:
        """`claims` (each one planned wheel's) less those a preferred installed
        distribution wins, recorded: on a path that a kept one named by --prefer lists
        (`listed_by`: the kept ones listing each path), each claim not `same` as its
        file loses it. Done before the claims are settled among themselves, so that
        claims that differ from each other lose alike; one with its file is left to
        share it. Where a planned wheel is preferred too, the path's claims stay, to be
        refused as two preferred. An .egg-info has no hash to compare."""
        if not prefer:
            return list(claims)  # nearly always
        keepers: dict[str, list[Installed]] = {}
        for path in {entry.path for entry in claims if entry.path in listed_by}:
            found = [item for item in listed_by[path] if item.name in prefer and not item.legacy]
            if found:
                keepers[path] = found
        contested = {entry.path for entry in claims if entry.owners[0] in prefer}
        staying: list[FileEntry] = []
        for entry in claims:
            path = entry.path
            beaten = [] if path in contested else keepers.get(path, [])
            winners = sorted(item.name for item in beaten if not same(item, entry))
            if not winners:
                staying.append(entry)
                continue
            listing = [item.name for item in listed_by[path]]
            winner, others = self.held.get(path, (winners[0], listing))
            self.held[path] = (min(winner, winners[0]), [*others, *entry.owners])
        return staying

    def add_bytecode(self) -> dict[str, list[str]]:
        """Each loser also gives up the bytecode of a source it lost, as its RECORD lists
        it, and each distribution that keeps a rewritten source the bytecode of that:
        bytecode path -> the names that no longer own it."""
        sources = [
            (item, path)
            for item, paths in self.by_dist_info.values()
            for path in sorted(paths)
            if path.endswith(".py")
        ]
        given_up: dict[str, list[str]] = {}
        for item, source in [*sources, *self.rewritten]:
            for cached in listed_bytecode(item.files, source):
                self.by_dist_info.setdefault(item.dist_info, (item, set()))[1].add(cached)
                given_up.setdefault(cached, []).append(item.name)
        return given_up

    def record_rewrites(self, prefix: str) -> list[FileEntry]:
        """A replacement RECORD for each loser, without what it lost."""
        return [
            FileEntry(
                f"{dist_info}/RECORD",
                "replace",
                (item.name,),
                inline(record_without(item, prefix, paths)),
            )
            for dist_info, (item, paths) in sorted(self.by_dist_info.items())
        ]

    def conflicts(
        self, settled: Sequence[Conflict], planned: Iterable[FileEntry]
    ) -> tuple[Conflict, ...]:
        """`settled` (the overlaps among `planned` wheels' files) with each installed
        loser, keeper and sharer added: a file an installed distribution lists is an overlap as
        much as one two wheels ship (`nvidia/__init__.py` beside an installed
        `nvidia-*-cu12`), and the review shows it as one."""
        if not self.by_path and not self.sharers and not self.held:
            return tuple(settled)
        planned_owners = {entry.path: entry.owners for entry in planned}
        merged = {conflict.path: conflict for conflict in settled}
        # A path is taken from the installed ones, or held by one, not both.
        for path, (winner, others) in [*self.by_path.items(), *self.held.items()]:
            known = merged.get(path)
            claimants = {*(known.owners if known else planned_owners.get(path, ())), *others}
            merged[path] = Conflict(path, tuple(sorted(claimants)), "different", f"prefer:{winner}")
        for path, sharers in self.sharers.items():
            known = merged.get(path) or Conflict(path, planned_owners[path], "identical", "shared")
            merged[path] = attrs.evolve(known, owners=tuple(sorted({*known.owners, *sharers})))
        return tuple(merged[path] for path in sorted(merged))


def preferred(owners: Iterable[str], prefer: Collection[str]) -> str | None:
    """The preferred distribution among a planned file's owners, if there is one."""
    return min((owner for owner in owners if owner in prefer), default=None)


def listed_bytecode(files: Iterable[str], source: str) -> list[str]:
    """The `__pycache__` files of `source` (a .py path) among `files`: not those of
    `foo.bar.py`, which `foo.py`'s name also begins."""
    folder, _, name = source.rpartition("/")
    stem = (f"{folder}/__pycache__/" if folder else "__pycache__/") + name[: -len(".py")] + "."
    return sorted(
        path for path in files if path.startswith(stem) and bytecode_source(path) == source
    )


__all__ = ["Losses", "listed_bytecode", "preferred"]
