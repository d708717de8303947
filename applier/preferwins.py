"""The files a kept distribution loses to a `--prefer` winner, by the plan's facts.

A plan's conflicts say who won an overlap, but the plan does not record the user's
`--prefer`, and an edited plan can name any winner of any path: a kept RECORD
rewritten without that row then hands the loser's file to whatever the plan writes
there. So a win counts only where the plan writes the winner's own file at the path:
a member of its wheel that lands there (or of the wheel of another owner it shares the
file with, whose copy the planner writes for both), or the wrapper of an entry point
of that name.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from planner.entrypoints import EntryScript
from planner.layout import member_path, wrapper
from planner.plan import INSTALLING, Conflict, Distribution, FileEntry, Plan, Target

# What an entry point's wrapper imports and calls (see `planner.layout.wrapper`).
_WRAPPED = re.compile(
    r"^from (?P<module>\S+) import \S+\n.*^    sys\.exit\((?P<attr>\S+)\(\)\)\n\Z",
    re.MULTILINE | re.DOTALL,
)


def lost_to_winners(name: str, written: Mapping[str, FileEntry], plan: Plan) -> set[str]:
    """The paths the plan's overlaps say `name` loses, where the plan writes the
    winner's own file there, and not for `name`. Asked only of a plan that rewrites a
    kept RECORD."""
    installing = {dist.name: dist for dist in plan.distributions if dist.action in INSTALLING}
    return {
        conflict.path
        for conflict in plan.conflicts
        if _won(conflict, name, written.get(conflict.path), installing, plan.target)
    }


def _won(
    conflict: Conflict,
    loser: str,
    entry: FileEntry | None,
    installing: Mapping[str, Distribution],
    target: Target,
) -> bool:
    how, _, winner = conflict.resolution.partition(":")
    if how != "prefer" or winner == loser or not {winner, loser} <= set(conflict.owners):
        return False
    if entry is None or entry.source is None or loser in entry.owners:
        return False
    if winner not in installing or winner not in entry.owners:
        return False
    source = entry.source
    if source.kind == "member":
        # The winner's own file, or that of an owner it shares the file with: the
        # planner writes one copy of the same bytes for all (the first owner's).
        return source.member is not None and any(
            (dist := installing.get(owner)) is not None
            and source.wheel == dist.wheel
            and _lands_at(source.member, entry.path, dist, target.schemes)
            for owner in entry.owners
        )
    if source.kind == "inline" and source.content is not None:
        return _is_wrapper_at(entry.path, source.content, target)
    return False


def _lands_at(member: str, path: str, dist: Distribution, schemes: Mapping[str, str]) -> bool:
    """Whether `member` of `dist`'s wheel lands at `path`, under either root scheme (the
    apply does not read the wheel's Root-Is-Purelib)."""
    stem = posixpath.basename(dist.dist_info).removesuffix(".dist-info")
    data_dir = f"{stem}.data"
    if member.startswith(data_dir + "/") and (
        member.count("/") < 2 or member.split("/", 2)[1] not in schemes
    ):
        return False  # no scheme of the target's takes it
    return any(
        member_path(member, root, data_dir, dist.name, schemes) == path
        for root in ("purelib", "platlib")
    )


def _is_wrapper_at(path: str, content: str, target: Target) -> bool:
    """Whether `content` is the wrapper the planner writes for an entry point named as
    `path`, in the scripts folder."""
    folder, _, script = path.rpartition("/")
    found = _WRAPPED.search(content)
    if folder != target.schemes.get("scripts") or found is None:
        return False
    entry = EntryScript(script, found["module"], found["attr"], "console")
    return content == wrapper(entry, target.interpreter)


__all__ = ["lost_to_winners"]
