"""Helpers for the planner tests: a target made by hand, wheels built and planned in one call.

The pure planner needs no interpreter: a TargetInfo written out here lets unit and
property tests run make_plan without a subprocess, against an empty prefix folder.
Distinct purelib and platlib folders make a wrong root scheme visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.markers import default_environment

from planner.build import Request, make_plan
from planner.installed import Installed
from planner.plan import Plan
from planner.target import TargetInfo
from planner.wheelreader import read_wheel
from planner.wheels import Wheel
from tests.wheelfactory import WheelSpec, build_wheel

SCHEMES: Mapping[str, str] = {
    "purelib": "lib/python3.11/site-packages",
    "platlib": "lib64/python3.11/site-packages",
    "scripts": "bin",
    "data": "",
    "headers": "include/site/python3.11",
}
INTERPRETER = "/opt/target/bin/python"


def fake_target(
    prefix: Path, installed: Iterable[Installed] = (), tags: Sequence[str] = ("py3-none-any",)
) -> TargetInfo:
    """A target at `prefix` (which must exist) with the schemes above."""
    return TargetInfo(
        interpreter=INTERPRETER,
        prefix=str(prefix),
        python_version="3.11",
        schemes=dict(SCHEMES),
        tags=tuple(tags),
        markers=default_environment(),
        installed=tuple(installed),
    )


def build_all(specs: Iterable[WheelSpec], directory: Path) -> list[str]:
    return [str(build_wheel(spec, directory)) for spec in specs]


def read(spec: WheelSpec, directory: Path) -> Wheel:
    return read_wheel(str(build_wheel(spec, directory)))


def plan_specs(
    specs: Iterable[WheelSpec], directory: Path, target: TargetInfo, **request: Any
) -> Plan:
    """Build `specs` into `directory` and plan them; `request` holds Request fields."""
    wheels = tuple(build_all(specs, directory))
    return make_plan(Request(wheels=wheels, **request), target)
