"""Whether a plan's conflicts say what its files do.

The review shows the conflicts to a person ("Overlaps", and the files each loser
loses), not the files' owners: a plan edited to drop a file written once for several
owners from them, to invent one, or to call a `--prefer` win a shared file, would show
a person another plan than the one applied. Each conflict is checked against the
plan's own files, as the planner makes them (`planner.overlaps`, `planner.disowning`):
a shared file is written once for every owner it names; a won one is written for its
winner and not for some of its owners, or, won by an installed distribution the plan
keeps, not written at all. Pure, and reads no wheel: `show` checks it too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from applier.keptrecords import rewrites_kept_record
from applier.projectnames import project_of
from planner.errors import Problem
from planner.plan import INSTALLING, Conflict, FileEntry, Plan


def conflict_problems(plan: Plan) -> list[str]:
    """What disagrees between `plan`'s conflicts and its files, one message each."""
    wanted = {conflict.path for conflict in plan.conflicts}
    wanted.update(item.path for item in plan.owner_hashes)
    held = {item.dist_info for item in plan.target.installed}
    # An installed loser's RECORD is rewritten: asked only where something is won.
    wins = any(conflict.kind == "different" for conflict in plan.conflicts)
    at: dict[str, FileEntry] = {}  # a wanted path -> the plan's entry there
    several: list[FileEntry] = []  # files written once for several owners
    rewritten: set[str] = set()  # kept distributions whose RECORD the plan rewrites
    for entry in plan.files:  # one pass: a fresh install's 17,000 files
        if entry.path in wanted:
            at[entry.path] = entry
        if (wins or len(entry.owners) > 1) and rewrites_kept_record(entry, held):
            rewritten.update(entry.owners)  # validate refuses any owner but its own
        elif len(set(entry.owners)) == len(entry.owners) > 1 and _written(entry):
            several.append(entry)  # validate refuses an owner named twice
    installing = {dist.name for dist in plan.distributions if dist.action in INSTALLING}
    paths = Counter(conflict.path for conflict in plan.conflicts)
    problems = [
        f"conflict {path!r} is listed {count} times"
        for path, count in sorted(paths.items())
        if count > 1
    ]
    for conflict in plan.conflicts:
        problem = _conflict_problem(conflict, at.get(conflict.path), installing, rewritten)
        if problem is not None:
            problems.append(f"conflict {conflict.path!r} {problem}")
    problems += [
        f"destination {entry.path!r} is written once for {len(entry.owners)} owners"
        f" ({', '.join(entry.owners)}), but the plan's conflicts do not list it"
        for entry in several
        if entry.path not in paths
    ]
    problems += _owner_hash_problems(plan, at)
    return problems


def _written(entry: FileEntry) -> bool:
    """Whether `entry` writes a file from a wheel's member or inline (not a RECORD the
    apply makes)."""
    return entry.action != "remove" and entry.source is not None and entry.source.kind != "record"


def _conflict_problem(
    conflict: Conflict, entry: FileEntry | None, installing: set[str], rewritten: set[str]
) -> str | None:
    """Why `conflict` is not what the plan does at its path (`entry`: the plan's entry
    there, if any; `rewritten`: the kept distributions whose RECORD the plan rewrites),
    or None."""
    owners = conflict.owners
    if len(owners) < 2 or len(set(owners)) != len(owners):
        return f"names {list(owners)} as its owners, not two or more distinct ones"
    how, _, winner = conflict.resolution.partition(":")
    if conflict.kind == "identical":
        if conflict.resolution != "shared":
            return f"is identical but resolved as {conflict.resolution!r}, not 'shared'"
        if entry is None or not _written(entry):
            return "is shared, but the plan writes no such file"
        if sorted(entry.owners) != sorted(owners):
            # A loser's RECORD does not list the file: not shared, whatever it says.
            return f"is shared by {list(owners)}, but the plan writes it for {list(entry.owners)}"
        return None
    if how != "prefer" or winner not in owners:
        return (
            f"differs but is resolved as {conflict.resolution!r}, not as won by one of its"
            " owners (prefer:NAME)"
        )
    if entry is not None and not _written(entry):
        return "is won, but the plan changes the file there other than by writing it"
    if entry is None:
        if winner in installing:
            return f"is won by {winner}, which the plan installs, but the plan does not write it"
        if not installing.intersection(owners):
            return "is won, but none of its owners is one the plan installs"
        return None
    if winner not in entry.owners:
        return f"is won by {winner}, but the plan writes it for {list(entry.owners)}"
    if not set(entry.owners) <= set(owners):
        extra = sorted(set(entry.owners) - set(owners))
        return f"does not name {extra}, for whom the plan writes it"
    if set(entry.owners) == set(owners):
        return "differs, but the plan writes it for every owner it names: none loses it"
    kept = sorted(set(owners) - set(entry.owners) - installing - rewritten)
    if kept:
        # An installed loser's RECORD is rewritten without it, or it would still claim it.
        return (
            f"is won by {winner} from {kept[0]}, which the plan keeps, but the plan does"
            f" not rewrite {kept[0]}'s RECORD"
        )
    return None


def _owner_hash_problems(plan: Plan, at: dict[str, FileEntry]) -> list[str]:
    """The owner hashes of a file that disagree with its source's hash, or each other,
    by one algorithm: the bytes written once are one file, whoever lists them."""
    if not plan.owner_hashes:
        return []
    known: dict[tuple[str, str], str] = {}
    problems = []
    for item in plan.owner_hashes:
        entry = at.get(item.path)
        if entry is None or entry.source is None or not _written(entry):
            continue  # refused by validate as naming no file the plan writes
        source = entry.source.hash
        known.setdefault((item.path, source.partition("=")[0]), source)
        algorithm = item.hash.partition("=")[0]
        agreed = known.setdefault((item.path, algorithm), item.hash)
        if agreed != item.hash:
            problems.append(
                f"owner hash of {item.path!r} for {item.owner} is {item.hash!r}, but the"
                f" bytes written there hash as {agreed!r} by {algorithm}"
            )
    return problems


def kept_wins(plan: Plan) -> list[Conflict]:
    """The overlaps the plan says a distribution it keeps wins at a path it does not
    write: the plan alone cannot show that the winner holds the file, which the
    target's metadata can (`kept_win_problems`)."""
    installing = {dist.name for dist in plan.distributions if dist.action in INSTALLING}
    wins = [
        conflict
        for conflict in plan.conflicts
        if conflict.resolution.startswith("prefer:")
        and conflict.resolution.partition(":")[2] not in installing
    ]
    if not wins:
        return []
    written = {entry.path for entry in plan.files if entry.action != "remove"}
    return [conflict for conflict in wins if conflict.path not in written]


def kept_win_problems(
    wins: list[Conflict], listed: Mapping[str, Mapping[str, str]]
) -> list[Problem]:
    """A problem for each of `wins` (see `kept_wins`) whose winner's metadata does not
    list the path (`listed`: each installed folder's files, as `listed_files` reads
    them). A winner no folder is named for (its METADATA spells another name) is taken
    to be any folder that lists the path."""
    problems = []
    for conflict in wins:
        winner = conflict.resolution.partition(":")[2]
        folders = [folder for folder in listed if project_of(folder) == winner] or list(listed)
        if not any(conflict.path in listed[folder] for folder in folders):
            problems.append(
                Problem(
                    conflict.path,
                    f"the plan's overlaps say {winner}, installed, keeps it, but no metadata"
                    f" folder of {winner} in the target lists it",
                )
            )
    return problems


__all__ = ["conflict_problems", "kept_win_problems", "kept_wins"]
