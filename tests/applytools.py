"""Helpers for the applier tests: plan generated wheels into an empty folder without
running an interpreter, and re-cut a plan's work units at will."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
from packaging.markers import default_environment

from planner.build import Request, make_plan
from planner.plan import Plan, Unit
from planner.target import TargetInfo

SCHEMES = {
    "purelib": "lib/python3.11/site-packages",
    "platlib": "lib64/python3.11/site-packages",
    "scripts": "bin",
    "data": "",
    "headers": "include/site/python3.11",
}


def fake_target(prefix: Path) -> TargetInfo:
    """An empty target at `prefix`: the planner and applier need no interpreter for it
    (the one named is never run; it only goes into shebang lines)."""
    return TargetInfo(
        interpreter=str(prefix / "bin" / "python"),
        prefix=str(prefix),
        python_version="3.11",
        schemes=dict(SCHEMES),
        tags=("py3-none-any",),
        markers=default_environment(),
        installed=(),
    )


def plan_for(wheels: Sequence[Path], prefix: Path, prefer: frozenset[str] = frozenset()) -> Plan:
    request = Request(wheels=tuple(map(str, wheels)), prefer=prefer)
    return make_plan(request, fake_target(prefix))


def with_units(plan: Plan, groups: Sequence[Sequence[str]]) -> Plan:
    sizes = {entry.path: entry.source.size for entry in plan.files if entry.source is not None}
    units = tuple(
        Unit(index, sum(sizes[path] for path in paths), tuple(paths))
        for index, paths in enumerate(groups)
    )
    return attrs.evolve(plan, units=units)


def writes_of(plan: Plan) -> list[str]:
    return [
        entry.path
        for entry in plan.files
        if entry.source is not None and entry.source.kind != "record"
    ]
