"""The RECORD of a kept distribution that a plan rewrites in place: a `--prefer`
loser's, or one giving up the bytecode of a source the plan writes again.

The planner writes it as the installed RECORD without some rows (`record_without`),
and the review names the distribution by what it loses: the files its overlaps say a
winner takes, else the bytecode of a source written again. A plan edited to list
other bytes or other files there, or to drop the row of a file no winner takes, hands
that distribution's files to another (or its uninstall someone else's) unseen; so
each row kept is an installed one, and each dropped names a file the plan writes for
a winner its overlaps name, or the bytecode of a source the plan writes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from planner.errors import Problem
from planner.installed import bytecode_source
from planner.installedrecord import ParsedRecord, rows_dropped
from planner.plan import FileEntry, Plan

# A kept metadata folder -> the paths its rewritten RECORD no longer lists.
Drops = dict[str, set[str]]


def rewrites_kept_record(entry: FileEntry, installed: Collection[str]) -> bool:
    """Whether `entry` writes again the RECORD of a metadata folder the target holds
    (`installed`) other than from a wheel: inline, as a kept distribution's is
    rewritten; a reinstall's comes from its wheel (a `record` source)."""
    return (
        entry.action == "replace"
        and entry.source is not None
        and entry.source.kind != "record"
        and entry.path.endswith("/RECORD")
        and entry.path.rpartition("/")[0] in installed
    )


def kept_record_drops(
    plan: Plan, changing: Sequence[FileEntry], records: Mapping[str, ParsedRecord]
) -> tuple[list[Problem], Drops]:
    """The paths each kept RECORD the plan rewrites drops, with a problem for each such
    RECORD that is not the installed one without rows the plan takes (`changing`: the
    plan's replaces and removes; `records`: the installed RECORDs, parsed)."""
    installed = {item.dist_info for item in plan.target.installed}
    rewrites = [entry for entry in changing if rewrites_kept_record(entry, installed)]
    if not rewrites:
        return [], {}
    written = {entry.path: entry for entry in plan.files if entry.action != "remove"}
    problems: list[Problem] = []
    drops: Drops = {}
    for entry in rewrites:
        assert entry.source is not None  # as selected
        folder = entry.path.rpartition("/")[0]
        record = records.get(folder)
        dropped = (
            rows_dropped(
                record,
                entry.source.content,
                folder,
                plan.target.prefix,
                plan.target.layout == "directory",
            )
            if record is not None
            and entry.source.kind == "inline"
            and entry.source.content is not None
            else None
        )
        if dropped is None:
            problems.append(
                Problem(
                    entry.path,
                    "the plan rewrites it as other than the installed RECORD without some"
                    " of its rows",
                )
            )
            continue
        taken = _not_taken(dropped, entry.owners[0], written, plan)
        if taken:
            problems.append(
                Problem(
                    entry.path,
                    f"the plan rewrites it without the row of {taken[0]!r}, which the plan"
                    " neither writes for a winner its overlaps name nor is bytecode of a"
                    " source it writes",
                )
            )
            continue
        drops[folder] = dropped
    if not problems:
        problems += _kept_rows(rewrites, drops, written, plan)
    return problems, drops


def _kept_rows(
    rewrites: Sequence[FileEntry], drops: Drops, written: Mapping[str, FileEntry], plan: Plan
) -> list[Problem]:
    """A problem for each file the plan's overlaps say a kept distribution loses while
    its RECORD, rewritten, keeps the row (the review counts it lost): by name, since a
    distribution installed twice keeps each copy's RECORD."""
    dropped_by: dict[str, set[str]] = {}
    for entry in rewrites:
        dropped_by.setdefault(entry.owners[0], set()).update(drops[entry.path.rpartition("/")[0]])
    return [
        Problem(
            path,
            f"the plan's overlaps say {name} loses it to {winner}, but the RECORD the plan"
            f" rewrites for {name} drops no row of it",
        )
        for name, dropped in sorted(dropped_by.items())
        for path, winner in sorted(_said_lost(name, written, plan).items())
        if path not in dropped
    ]


def _said_lost(name: str, written: Mapping[str, FileEntry], plan: Plan) -> dict[str, str]:
    """The paths the plan's overlaps say `name` loses, and to whom: those it writes for
    a winner and not for `name` (the review counts them as lost)."""
    lost = {}
    for conflict in plan.conflicts:
        how, _, winner = conflict.resolution.partition(":")
        entry = written.get(conflict.path)
        if how == "prefer" and name in conflict.owners and entry and name not in entry.owners:
            lost[conflict.path] = winner
    return lost


def _not_taken(
    dropped: set[str], name: str, written: Mapping[str, FileEntry], plan: Plan
) -> list[str]:
    """The paths of `dropped` that `name` does not lose as the review says it does."""
    # Here, not above: it reads wheels' layouts with installer, which an apply that
    # rewrites no kept RECORD does not import.
    from applier.preferwins import lost_to_winners

    lost = lost_to_winners(name, written, plan)
    return sorted(
        path for path in dropped if path not in lost and bytecode_source(path) not in written
    )


__all__ = ["Drops", "kept_record_drops", "rewrites_kept_record"]
