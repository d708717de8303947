"""The planner on the real wheels that motivate it (pinned in tests/realwheels.py).

The three nvidia-*-cu12 wheels all ship the same `nvidia/__init__.py`: one write,
listed by every owner. PyJWT and jwt both ship a different `jwt/__init__.py`:
refused until one is preferred.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from planner.plan import Plan
from planner.planjson import loads
from tests import realwheels
from tests.conftest import snapshot
from tests.realwheels import FILES, JWT_PAIR, NVIDIA, sha256_of

Cli = Callable[..., subprocess.CompletedProcess[str]]
Download = Callable[..., list[Path]]


def planned(result: subprocess.CompletedProcess[str]) -> Plan:
    assert result.returncode == 0, result.stderr
    return loads(result.stdout, "stdout")


GROUPS = ("NVIDIA", "JWT_PAIR", "JWT_VERSIONS", "PIP_DIFFERENTIAL", "PIP_TARGET_SCRIPT", "LARGE")


@pytest.mark.parametrize("group", GROUPS)
def test_every_real_wheel_is_pinned_by_its_file_and_sha256(group: str) -> None:
    """A version alone lets a later upload, or another pip or platform, pick another
    file: each pin names the one wheel of that name and version, and its sha256."""
    for pin in getattr(realwheels, group):
        filename, sha256 = FILES[pin]
        requirement = Requirement(pin)
        name, version, _, _ = parse_wheel_filename(filename)
        assert (name, str(version)) == (
            canonicalize_name(requirement.name),
            str(requirement.specifier).removeprefix("=="),
        )
        assert re.fullmatch("[0-9a-f]{64}", sha256), pin


def test_a_real_wheel_is_the_pinned_file(real_wheels: Download) -> None:
    pins = (*NVIDIA, *JWT_PAIR)
    for pin, path in zip(pins, real_wheels(pins), strict=True):
        assert (path.name, sha256_of(path)) == FILES[pin]


def test_the_nvidia_namespace_file_is_one_write_with_every_owner(
    real_wheels: Download, cli: Cli, target: Path
) -> None:
    wheels = real_wheels(NVIDIA)
    plan = planned(cli("plan", *wheels, "--python", target, "--json"))
    path = f"{plan.target.schemes['purelib']}/nvidia/__init__.py"
    owners = ("nvidia-cuda-nvrtc-cu12", "nvidia-cuda-runtime-cu12", "nvidia-nvtx-cu12")
    entries = [entry for entry in plan.files if entry.path == path]
    assert [(e.action, e.owners) for e in entries] == [("write", owners)]
    assert entries[0].source is not None and entries[0].source.kind == "member"
    assert [(c.path, c.owners, c.kind, c.resolution) for c in plan.conflicts] == [
        (path, owners, "identical", "shared")
    ]
    assert sum(unit.paths.count(path) for unit in plan.units) == 1
    assert {dist.name: dist.action for dist in plan.distributions} == dict.fromkeys(
        owners, "install"
    )
    review = cli("plan", *wheels, "--python", target)
    assert f"  {path}: {', '.join(owners)} -> shared" in review.stdout.splitlines()


def test_the_nvidia_plan_does_not_depend_on_the_argument_order(
    real_wheels: Download, cli: Cli, target: Path, tmp_path: Path
) -> None:
    wheels = real_wheels(NVIDIA)
    outputs = []
    for number, order in enumerate((wheels, wheels[::-1], [wheels[1], wheels[2], wheels[0]])):
        output = tmp_path / f"plan{number}.json"
        assert cli("plan", *order, "--python", target, "-o", output).returncode == 0
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    # The huge nvrtc wheel is spread over several units, so workers share its bytes.
    plan = loads(outputs[0].decode(), "plan")
    files = plan.file_map()
    holding = [
        unit
        for unit in plan.units
        if any(
            (files[path].source.wheel or "").startswith("nvidia_cuda_nvrtc")  # type: ignore[union-attr]
            for path in unit.paths
        )
    ]
    assert len(holding) >= 2


def test_the_jwt_pair_is_refused_then_settled_by_prefer(
    real_wheels: Download, cli: Cli, target: Path
) -> None:
    pyjwt, jwt = real_wheels(JWT_PAIR)
    before = snapshot(target.parent.parent)
    refused = cli("plan", pyjwt, jwt, "--python", target)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
    assert all(pyjwt.name in line and jwt.name in line for line in lines), lines
    assert snapshot(target.parent.parent) == before

    plan = planned(cli("plan", jwt, pyjwt, "--python", target, "--prefer", "pyjwt", "--json"))
    path = f"{plan.target.schemes['purelib']}/jwt/__init__.py"
    assert any(line.startswith(f"error: {path}: different content from") for line in lines)
    different = [c for c in plan.conflicts if c.kind == "different"]
    # Every path refused before is settled now, for PyJWT.
    assert sorted(line.split(": ")[1] for line in lines) == [c.path for c in different]
    assert {(c.owners, c.resolution) for c in different} == {(("jwt", "pyjwt"), "prefer:pyjwt")}
    entry = plan.file_map()[path]
    assert entry.owners == ("pyjwt",)
    assert entry.source is not None and entry.source.wheel == pyjwt.name
    # jwt keeps the files only it ships.
    assert any(e.owners == ("jwt",) and "/jwt/" in e.path for e in plan.files)
    # The name is matched as the registry does: any case, any separator.
    again = planned(cli("plan", jwt, pyjwt, "--python", target, "--prefer", "PyJWT", "--json"))
    assert again == plan
    assert snapshot(target.parent.parent) == before
