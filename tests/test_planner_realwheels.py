"""The planner on the real wheels that motivate it (pinned in tests/realwheels.py).

The three nvidia-*-cu12 wheels all ship the same `nvidia/__init__.py`: one write,
listed by every owner. PyJWT and jwt both ship a different `jwt/__init__.py`:
refused until one is preferred.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from planner.plan import Plan, loads
from tests.conftest import snapshot
from tests.realwheels import JWT_PAIR, NVIDIA

Cli = Callable[..., subprocess.CompletedProcess[str]]
Download = Callable[..., list[Path]]


def planned(result: subprocess.CompletedProcess[str]) -> Plan:
    assert result.returncode == 0, result.stderr
    return loads(result.stdout, "stdout")


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
