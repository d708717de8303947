"""Re-validate a loaded plan as if a stranger wrote it.

The schema check in `planner.plan.loads` proves the types; this proves the plan is
safe to execute: every path stays inside the environment, the work units partition
the writes exactly, and every source is complete.
"""

from __future__ import annotations

import os
from collections import Counter

from planner.errors import Problem, Refused
from planner.layout import record_hash
from planner.paths import is_within, path_problem
from planner.plan import Plan
from planner.target import JOURNAL_DIR

SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")


def validate(plan: Plan, subject: str) -> None:
    problems: list[Problem] = []

    def bad(message: str) -> None:
        problems.append(Problem(subject, message))

    target = plan.target
    if not os.path.isabs(target.prefix):
        bad(f"target prefix {target.prefix!r} is not an absolute path")
    if sorted(target.schemes) != sorted(SCHEMES):
        bad(f"target schemes must be exactly {list(SCHEMES)}")
    for name, root in target.schemes.items():
        if root and (problem := path_problem(root)):
            bad(f"scheme {name} {root!r} {problem}")
    roots = [root for root in target.schemes.values()]
    wheels = {dist.wheel for dist in plan.distributions if dist.wheel}
    for dist in plan.distributions:
        if dist.action not in ("remove", "unchanged") and not (dist.wheel and dist.wheel_sha256):
            bad(f"distribution {dist.name} has no wheel to install from")

    def check_path(path: str, what: str) -> bool:
        problem = path_problem(path)
        if problem:
            bad(f"{what} {path!r} {problem}")
            return False
        if not any(is_within(path, root) for root in roots) or is_within(path, JOURNAL_DIR):
            bad(f"{what} {path!r} is outside the environment's scheme directories")
            return False
        return True

    counts = Counter(entry.path for entry in plan.files)
    for path, count in counts.items():
        if count > 1:
            bad(f"destination {path!r} appears {count} times")
    writes: set[str] = set()
    for entry in plan.files:
        if not check_path(entry.path, "destination"):
            continue
        source = entry.source
        if entry.action == "remove":
            if source is not None:
                bad(f"removal of {entry.path!r} has a source")
            continue
        if source is None:
            bad(f"destination {entry.path!r} has no source")
            continue
        if source.mode not in (0o644, 0o755):
            bad(
                f"destination {entry.path!r} has mode {oct(source.mode)}"
                " (only 0o644 and 0o755 are written)"
            )
        if source.kind == "member":
            if source.wheel not in wheels or source.member is None or source.offset is None:
                bad(f"destination {entry.path!r} names no wheel member of this plan")
            elif source.compression not in (0, 8) or source.compressed_size is None:
                bad(f"destination {entry.path!r} has an unsupported compression")
            elif source.size < 0 or source.offset < 0 or source.compressed_size < 0:
                bad(f"destination {entry.path!r} has a negative size or offset")
        elif source.kind == "inline" and (
            source.content is None or record_hash(source.content.encode()) != source.hash
        ):
            bad(f"destination {entry.path!r}: inline content does not match its hash")
        if source.kind != "record":
            writes.add(entry.path)
    for directory in plan.directories:
        check_path(directory, "directory")
    in_units = Counter(path for unit in plan.units for path in unit.paths)
    doubled = sorted(path for path, count in in_units.items() if count > 1)
    if doubled:
        bad(f"work units overlap at {doubled[0]!r}")
    if set(in_units) != writes:
        missing = sorted(writes - set(in_units)) or sorted(set(in_units) - writes)
        bad(f"work units do not partition the planned writes (first difference: {missing[0]!r})")
    if problems:
        raise Refused(problems)
