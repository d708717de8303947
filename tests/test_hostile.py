"""Hostile and malformed input, tried from the command line as a user would.

Every broken wheel in `tests.hostile` is planned (and, when planning cannot see the
problem, applied) into a fresh environment: the command must exit 1 with an
`error:` line naming the wheel and the problem, print no traceback, and leave the
environment byte-identical. The same holds for tampered plan files and for a bad
environment. The control wheel and the sanitised wheels must install.
"""

from __future__ import annotations

import contextlib
import copy
import json
import operator
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.markers import default_environment

from applier.apply import apply_plan
from applier.options import Options
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.hashing import record_hash
from planner.installed import Installed, scan_installed
from planner.limits import Limits
from planner.paths import is_within, path_problem
from planner.target import TargetInfo
from tests.conftest import REPO, snapshot
from tests.hostile import (
    CONTROL,
    PLAN_CASES,
    SANITISED,
    WHEEL_CASES,
    Case,
    PlanCase,
    Sanitised,
    recompute_digest,
    tamper,
)
from tests.realwheels import LARGE
from tests.wheelfactory import Member, WheelSpec, build_wheel
from tests.wheelfactory import record_hash as hash_by
from wheelplan import progress

Cli = Callable[..., subprocess.CompletedProcess[str]]
PURELIB = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def refusal(result: subprocess.CompletedProcess[str], subject: str, problem: str) -> str:
    """The one error line about `subject`; fails on a traceback or any other output."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines, "no error line"
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"error: {subject}: "), errors
    assert problem in errors[0], (problem, errors[0])
    return errors[0]


def test_the_corpus_covers_every_case_once() -> None:
    ids = [case.id for case in WHEEL_CASES] + [case.id for case in PLAN_CASES]
    assert len(ids) == len(set(ids))
    assert {case.stage for case in WHEEL_CASES} == {"plan", "apply"}


def test_the_control_wheel_installs_and_runs(tmp_path: Path, target: Path, cli: Cli) -> None:
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    planned = cli("plan", wheel, "--python", target, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    applied = cli("apply", plan, "--quiet")
    assert applied.returncode == 0, applied.stderr
    env = target.parent.parent
    run = subprocess.run([env / "bin" / "demo"], capture_output=True, text=True, check=False)
    assert run.stdout == "demo runs\n"
    tool = subprocess.run([env / "bin" / "demo-tool"], capture_output=True, text=True, check=False)
    assert tool.stdout == "demo script\n"


@pytest.mark.parametrize("case", WHEEL_CASES, ids=lambda case: case.id)
def test_a_hostile_wheel_is_refused_and_nothing_is_written(
    case: Case, tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheel = case.build(tmp_path / "wheels")
    env = target.parent.parent
    before = snapshot(env)
    plan = tmp_path / "plan.json"
    planned = cli("plan", wheel, "--python", target, "-o", plan, *case.plan_args)
    subject = case.subject or wheel.name
    if case.stage == "plan":
        refusal(planned, subject, case.problem)
        assert not plan.exists()
    else:
        assert planned.returncode == 0, planned.stderr
        refusal(cli("apply", plan, "--jobs", "2"), subject, case.problem)
    assert snapshot(env) == before


def test_the_ratio_limit_is_raised_by_its_flag(tmp_path: Path, target: Path, cli: Cli) -> None:
    bomb = next(case for case in WHEEL_CASES if case.id == "zip-bomb")
    wheel = bomb.build(tmp_path / "wheels")
    result = cli("plan", wheel, "--python", target, "--max-ratio", "2000")
    assert result.returncode == 0, result.stderr
    assert "demo 1.0" in result.stdout


def test_a_large_real_wheel_passes_the_default_limits(
    real_wheels: Callable[..., list[Path]], target: Path, cli: Cli
) -> None:
    (wheel,) = real_wheels(LARGE)
    with zipfile.ZipFile(wheel) as archive:
        ratios = [info.file_size / max(info.compress_size, 1) for info in archive.infolist()]
    # Some small members expand further than the ratio limit: the size floor must hold.
    assert max(ratios) > Limits().max_ratio
    result = cli("plan", wheel, "--python", target)
    assert result.returncode == 0, result.stderr
    assert "scipy 1.14.1" in result.stdout
    lowered = cli("plan", wheel, "--python", target, "--max-total-size", "1000000")
    refusal(lowered, wheel.name, "more than the limit of 1000000 bytes (see --max-total-size)")


@pytest.mark.parametrize("case", SANITISED, ids=lambda case: case.id)
def test_a_sanitised_wheel_installs_with_a_warning(
    case: Sanitised, tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheel = build_wheel(case.spec, tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    planned = cli("plan", wheel, "--python", target, "-o", plan)
    assert planned.returncode == 0, planned.stderr
    assert case.warning in planned.stdout
    applied = cli("apply", plan, "--quiet")
    assert applied.returncode == 0, applied.stderr
    site = target.parent.parent / PURELIB
    for relative, mode in case.expect:
        path = site / relative
        if mode is None:
            assert not path.exists(), relative
        else:
            assert path.stat().st_mode & 0o7777 == mode, relative


def test_case_twins_are_both_installed(tmp_path: Path, target: Path, cli: Cli) -> None:
    twins = next(case for case in SANITISED if case.id == "case-collision")
    wheel = build_wheel(twins.spec, tmp_path / "wheels")
    assert cli("install", wheel, "--python", target, "--quiet").returncode == 0
    site = target.parent.parent / PURELIB
    assert (site / "demo/Readme.txt").read_bytes() == b"upper"
    assert (site / "demo/README.txt").read_bytes() == b"lower"


# --- tampered plans ---------------------------------------------------------------


@pytest.fixture
def planned(tmp_path: Path, target: Path, cli: Cli) -> tuple[Path, Path]:
    """A valid plan of the control wheel and the environment it is for."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    result = cli("plan", wheel, "--python", target, "-o", plan)
    assert result.returncode == 0, result.stderr
    return plan, target.parent.parent


@pytest.mark.parametrize("case", PLAN_CASES, ids=lambda case: case.id)
def test_a_tampered_plan_is_refused(
    case: PlanCase, planned: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    plan, _ = planned
    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), case))
    outside = snapshot(tmp_path)
    refusal(cli("apply", edited), str(edited), case.problem)
    assert snapshot(tmp_path) == outside
    shown = cli("show", edited)
    assert shown.returncode in (0, 1) and "Traceback" not in shown.stderr, shown.stderr
    # The untouched plan still applies: the refusal was about the edit alone.
    assert cli("apply", plan, "--quiet").returncode == 0


@pytest.mark.parametrize("size", [0, None])
def test_a_wheel_path_that_reads_past_its_size_is_refused_not_read_forever(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli, size: int | None
) -> None:
    """/proc/self/pagemap says it is empty and reads on for 256 GiB: an edited plan
    naming it as a wheel of size 0 had `apply` hash it for ever."""
    plan, _ = planned
    case = PlanCase(
        "wheel-reads-past-its-size",
        lambda d: d["distributions"][0].update(wheel_path="/proc/self/pagemap", wheel_size=size),
        "",
    )
    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), case))
    outside = snapshot(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "wheelplan", "apply", str(edited)],
        capture_output=True,
        text=True,
        timeout=120,  # a guard against the hang, not a measure of speed
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    refusal(result, "/proc/self/pagemap", "cannot read wheel")
    assert snapshot(tmp_path) == outside


@pytest.mark.parametrize("action", ["remove", "replace"])
def test_a_plan_changes_only_files_an_installed_distribution_lists(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli, action: str
) -> None:
    """A plan edited to remove (or overwrite) the venv's own `pyvenv.cfg` and
    `bin/python` was applied: its review shows a count of removals, not their paths."""
    plan, env = planned

    def edit(data: dict[str, Any]) -> None:
        source = (
            next(e for e in data["files"] if (e["source"] or {}).get("kind") == "member")["source"]
            if action == "replace"
            else None
        )
        for path in ("bin/python", "pyvenv.cfg"):
            data["files"].append({"action": action, "owners": [], "path": path, "source": source})
            if source is not None:
                data["units"][0]["paths"].append(path)
        data["files"].sort(key=lambda entry: entry["path"])

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase("unlisted", edit, "")))
    before = snapshot(env)
    result = cli("apply", edited)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    why = "no installed distribution lists it, and a plan changes only what one lists"
    assert result.stderr.splitlines() == [
        f"error: bin/python: {why}",
        f"error: pyvenv.cfg: {why}",
    ]
    assert snapshot(env) == before


@pytest.fixture
def planned_beside_other(planned: tuple[Path, Path], tmp_path: Path, cli: Cli) -> tuple[Path, Path]:
    """`planned`, made again once `other` is installed: a plan that keeps a distribution."""
    plan, env = planned
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b""}), tmp_path / "o")
    assert cli("install", other, "--python", env / "bin" / "python", "--quiet").returncode == 0
    fresh = cli(
        "plan", build_wheel(CONTROL, tmp_path / "w"), "--python", env / "bin" / "python", "-o", plan
    )
    assert fresh.returncode == 0, fresh.stderr
    return plan, env


def _add_file(entry: dict[str, Any]) -> PlanCase:
    """A plan edited to hold one more file entry, in the first unit if the apply
    writes it from its own source."""

    def edit(data: dict[str, Any]) -> None:
        data["files"].append(entry)
        data["files"].sort(key=lambda entry: entry["path"])
        if (entry.get("source") or {}).get("kind") not in (None, "record"):
            data["units"][0]["paths"].append(entry["path"])

    return PlanCase(entry["path"], edit, "")


def _applied_with(
    entry: dict[str, Any], plan: Path, env: Path, tmp_path: Path, cli: Cli
) -> subprocess.CompletedProcess[str]:
    """Apply `plan` edited to hold one more file entry, and check that the refused
    apply left the target as it was."""
    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), _add_file(entry)))
    before = snapshot(env)
    result = cli("apply", edited)
    assert snapshot(env) == before
    return result


def test_a_plan_removes_a_file_only_with_a_distribution_that_lists_it(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """An installed distribution's own files, listed in its RECORD, were removed by a
    plan edited to remove them while the plan installs something else."""
    plan, env = planned_beside_other
    kept = f"{PURELIB}/other/__init__.py"
    entry = {"action": "remove", "owners": ["other"], "path": kept}
    assert _applied_with(entry, plan, env, tmp_path, cli).stderr == (
        f"error: {kept}: only distributions the plan keeps list it, and a plan removes a"
        " file only with a distribution that lists it\n"
    )


def test_a_plan_writes_over_a_kept_distributions_file_only_with_the_bytes_it_lists(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A plan edited to write other bytes over `other`'s code, which it keeps, was
    applied: its review named demo's install alone, and '1 replaced'."""
    plan, env = planned_beside_other
    kept = f"{PURELIB}/other/__init__.py"
    data = json.loads(plan.read_text())
    written = next(e for e in data["files"] if (e["source"] or {}).get("kind") == "member")
    entry = {"action": "replace", "owners": ["demo", "other"], "path": kept}
    # With the overlap the planner lists for a file it writes for two owners.
    shared = {"path": kept, "owners": ["demo", "other"], "kind": "identical"}
    data["conflicts"].append({**shared, "resolution": "shared"})
    plan.write_text(json.dumps(recompute_digest(data)))
    assert _applied_with(
        {**entry, "source": written["source"]}, plan, env, tmp_path, cli
    ).stderr == (
        f"error: {kept}: other-1.0.dist-info, which the plan keeps, lists it with other bytes"
        " than the plan writes there, and the plan does not rewrite its RECORD without it\n"
    )


@pytest.mark.parametrize("owners", [[], ["demo", "other"], ["nobody"]])
def test_a_kept_distribution_s_record_is_rewritten_only_for_that_distribution(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli, owners: list[str]
) -> None:
    """A kept distribution's RECORD rewritten (as a --prefer loser's is) lets the plan
    write over its files; given no owner, or another, the review did not name it, and a
    plan so edited wrote over `other`'s code with its review naming demo alone."""
    plan, env = planned_beside_other
    record = f"{PURELIB}/other-1.0.dist-info/RECORD"
    text = (env / record).read_bytes()
    source = {"kind": "inline", "content": text.decode(), "hash": record_hash(text)}
    source |= {"size": len(text), "mode": 0o644}
    entry = {"action": "replace", "owners": owners, "path": record, "source": source}
    refusal(
        _applied_with(entry, plan, env, tmp_path, cli),
        str(tmp_path / "edited.json"),
        f"destination {record!r} rewrites the RECORD of other, which the plan keeps,"
        f" for owners {owners}: the review names it by its one owner, which must be other",
    )


def _inline(text: str) -> dict[str, Any]:
    """An inline source of `text`, as the planner writes a RECORD rewritten in place."""
    data = text.encode()
    return {
        "kind": "inline",
        "content": text,
        "hash": record_hash(data),
        "size": len(data),
        "mode": 0o644,
    }


@pytest.mark.parametrize(
    "row", ["relisted", "dropped", "added", "claimed", "claimed-elsewhere", "claimed-by-none"]
)
def test_a_kept_distributions_record_is_rewritten_only_without_rows_the_plan_takes(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli, row: str
) -> None:
    """A plan edited to write other bytes over `other`'s code, rewriting other's RECORD
    inline to list them (or not at all), or to list a file that is not other's, was
    applied: its review named other's RECORD rewritten for 'the bytecode of a source
    written again'. Edited to also invent an overlap there that demo wins (or that no
    distribution the plan writes it for wins), it was applied too: a conflict is no
    fact, and demo's wheel installs that member elsewhere."""
    plan, env = planned_beside_other
    kept = f"{PURELIB}/other/__init__.py"
    record = env / PURELIB / "other-1.0.dist-info" / "RECORD"
    data = json.loads(plan.read_text())
    written = next(e for e in data["files"] if (e["source"] or {}).get("kind") == "member")
    rows = record.read_text().splitlines(keepends=True)
    if row == "added":
        rows.append("../../../pyvenv.cfg,,\n")
    else:
        listed = next(i for i, line in enumerate(rows) if line.startswith("other/__init__.py,"))
        rows[listed] = (
            f"other/__init__.py,{written['source']['hash']},{written['source']['size']}\n"
        )
        if row != "relisted":
            del rows[listed]

    def edit(data: dict[str, Any]) -> None:
        if row != "added":
            entry = {"action": "replace", "owners": ["demo"], "path": kept}
            data["files"].append({**entry, "source": written["source"]})
            data["units"][0]["paths"].append(kept)
        rewrite = {
            "action": "replace",
            "owners": ["other"],
            "path": f"{PURELIB}/other-1.0.dist-info/RECORD",
        }
        data["files"].append({**rewrite, "source": _inline("".join(rows))})
        data["units"][0]["paths"].append(rewrite["path"])
        data["files"].sort(key=lambda entry: entry["path"])
        if row.startswith("claimed"):
            winner = {"claimed": "demo", "claimed-elsewhere": "other"}.get(row, "nobody")
            owners = sorted({"demo", "other", winner})
            resolution = f"prefer:{winner}"
            conflict = {"path": kept, "owners": owners, "kind": "different"}
            data["conflicts"].append({**conflict, "resolution": resolution})

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase(kept, edit, "")))
    before = snapshot(env)
    result = cli("apply", edited)
    assert snapshot(env) == before, result.stderr
    why = {
        "relisted": "as other than the installed RECORD without some of its rows",
        "added": "as other than the installed RECORD without some of its rows",
    }.get(
        row,
        f"without the row of {kept!r}, which the plan neither writes for a winner"
        " its overlaps name nor is bytecode of a source it writes",
    )
    overwritten = (
        ""
        if row == "added"
        else f"error: {kept}: other-1.0.dist-info, which the plan keeps, lists it with other"
        " bytes than the plan writes there, and the plan does not rewrite its RECORD without"
        " it\n"
    )
    if row in ("claimed-elsewhere", "claimed-by-none"):
        # No overlap is won by one its file is not written for: refused before the rest.
        winner = "other" if row == "claimed-elsewhere" else "nobody"
        refusal(
            result,
            str(edited),
            f"conflict {kept!r} is won by {winner}, but the plan writes it for ['demo']",
        )
        return
    assert result.stderr == (
        f"error: {PURELIB}/other-1.0.dist-info/RECORD: the plan rewrites it {why}\n{overwritten}"
    )


@pytest.mark.parametrize("member", ["shared/__init__.py", "NAME-1.0.data/scripts/tool"])
def test_a_file_a_kept_distribution_shares_is_written_again_alike(
    tmp_path: Path, target: Path, cli: Cli, member: str
) -> None:
    """The bytes of a file a kept distribution lists are compared as they are written:
    a script's, whose RECORD hash is not its member's, read again from the wheel."""
    content = b"#!python\nprint('shared')\n"
    for name in ("one", "two"):
        files = {member.replace("NAME", name): content, f"{name}/__init__.py": b""}
        wheel = build_wheel(WheelSpec(name, files=files), tmp_path / name)
        done = cli("install", wheel, "--python", target, "--quiet")
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("action", "display", "problem"),
    [
        (
            "install",
            "other",
            "distribution other: the target holds its metadata folder"
            " '{PURELIB}/other-1.0.dist-info' already, which a plan writes again only in a"
            " reinstall",
        ),
        (
            "reinstall",
            "demo",
            "distribution other: display name 'demo' is not a spelling of its name",
        ),
    ],
    ids=["installed-as-new", "named-as-another"],
)
def test_the_review_names_each_distribution_a_plan_changes_as_what_it_is(
    planned_beside_other: tuple[Path, Path],
    tmp_path: Path,
    cli: Cli,
    action: str,
    display: str,
    problem: str,
) -> None:
    """A plan edited to list `other`, which the target holds, as installed anew from
    demo's wheel and shown as 'demo' removed other's code: the review said 'install
    demo 1.0' twice."""
    plan, env = planned_beside_other
    folder = f"{PURELIB}/other-1.0.dist-info"

    def edit(data: dict[str, Any]) -> None:
        demo = next(dist for dist in data["distributions"] if dist["name"] == "demo")
        other = {"name": "other", "display_name": display, "dist_info": folder, "action": action}
        data["distributions"] = sorted([*data["distributions"], demo | other], key=str)
        source = {"kind": "record", "hash": "", "size": 0, "mode": 0o644}
        data["files"] += [
            {
                "action": "replace",
                "owners": ["other"],
                "path": f"{folder}/RECORD",
                "source": source,
            },
            {"action": "remove", "owners": ["other"], "path": f"{PURELIB}/other/__init__.py"},
        ]
        data["files"].sort(key=lambda entry: entry["path"])

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase("other-as-new", edit, "")))
    before = snapshot(env)
    refusal(cli("apply", edited), str(edited), problem.format(PURELIB=PURELIB))
    assert snapshot(env) == before


def test_a_plan_removes_a_distribution_whole_only_when_it_lists_it_among_those_it_removes(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A plan edited to remove every file of `other`, its RECORD too, without listing
    `other` among its distributions was applied: the review named demo's install alone."""
    plan, env = planned_beside_other
    site = env / PURELIB
    listed = (site / "other-1.0.dist-info/RECORD").read_text().splitlines()

    def edit(data: dict[str, Any]) -> None:
        for row in listed:
            path = f"{PURELIB}/{row.split(',')[0]}"
            data["files"].append({"action": "remove", "owners": ["other"], "path": path})
        data["files"].sort(key=lambda entry: entry["path"])

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase("other-whole", edit, "")))
    before = snapshot(env)
    refusal(
        cli("apply", edited),
        str(edited),
        f"removal of '{PURELIB}/other-1.0.dist-info/RECORD' takes other with it, which the"
        " plan does not list among the distributions it removes or replaces",
    )
    assert snapshot(env) == before


def test_a_record_rewritten_inline_takes_none_of_its_distributions_files(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A plan edited to rewrite the RECORD of a distribution it keeps, as a --prefer
    loser's is rewritten, then removed that one's files: the apply took such a folder
    for one that goes, and `other` was left with its metadata and none of its code."""
    plan, env = planned_beside_other
    kept = f"{PURELIB}/other/__init__.py"
    empty = "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    record = {"kind": "inline", "hash": empty, "size": 0, "mode": 0o644, "content": ""}

    def edit(data: dict[str, Any]) -> None:
        path = f"{PURELIB}/other-1.0.dist-info/RECORD"
        data["files"].append(
            {"action": "replace", "owners": ["other"], "path": path, "source": record}
        )
        data["files"].append({"action": "remove", "owners": ["other"], "path": kept})
        data["files"].sort(key=lambda entry: entry["path"])
        data["units"][0]["paths"].append(path)

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase("rewritten-inline", edit, "")))
    before = snapshot(env)
    assert cli("apply", edited).stderr == (
        f"error: {PURELIB}/other-1.0.dist-info/RECORD: the plan rewrites it without the row"
        f" of '{PURELIB}/other-1.0.dist-info/INSTALLER', which the plan neither writes for a"
        " winner its overlaps name nor is bytecode of a source it writes\n"
        f"error: {kept}: only distributions the plan keeps list it, and a plan removes a"
        " file only with a distribution that lists it\n"
    )
    assert snapshot(env) == before


def test_a_plan_removes_a_shared_file_only_with_the_last_distribution_that_lists_it(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A file two distributions list was removed by a plan that removes one of them,
    edited to remove the file too: the one that stays lost it, and `verify` said so."""
    shared = {"shared/__init__.py": b"SHARED = 1\n"}
    for name in ("one", "two"):
        wheel = build_wheel(WheelSpec(name, files=shared), tmp_path / name)
        assert cli("install", wheel, "--python", target, "--quiet").returncode == 0
    plan = tmp_path / "plan.json"
    made = cli("plan", "--remove", "one", "--python", target, "-o", plan)
    assert made.returncode == 0, made.stderr
    path = f"{PURELIB}/shared/__init__.py"
    entry = {"action": "remove", "owners": ["one", "two"], "path": path}
    assert _applied_with(entry, plan, target.parent.parent, tmp_path, cli).stderr == (
        f"error: {path}: a distribution the plan keeps lists it too (two-1.0.dist-info),"
        " and a plan removes a file only with the last distribution that lists it\n"
    )


@pytest.mark.parametrize("owners", [[], ["other"]], ids=["no-owner", "kept-owner"])
@pytest.mark.parametrize("path", ["other/__init__.py", "other-1.0.dist-info/RECORD"])
def test_a_record_source_is_the_record_of_a_distribution_the_plan_installs(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli, path: str, owners: list[str]
) -> None:
    """A kept distribution's file (its RECORD too) "replaced" by a RECORD the apply writes
    was moved aside and never written: the apply writes only the RECORDs of the
    distributions it installs, so the file was gone, and the apply said it succeeded."""
    plan, env = planned_beside_other
    replaced = f"{PURELIB}/{path}"
    source = {"kind": "record", "hash": "", "size": 0, "mode": 0o644}
    entry = {"action": "replace", "owners": owners, "path": replaced, "source": source}
    refusal(
        _applied_with(entry, plan, env, tmp_path, cli),
        str(tmp_path / "edited.json"),
        f"destination {replaced!r}: its record source is the RECORD of no distribution"
        " the plan installs",
    )


@pytest.mark.parametrize(
    "folder",
    [f"{PURELIB}/other-1.0.dist-info", "bin/demo-1.0.dist-info", f"{PURELIB}/demo-2.0.dist-info"],
    ids=["another-distributions", "outside-site-packages", "another-version"],
)
def test_a_distribution_writes_its_record_only_in_its_own_metadata_folder(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli, folder: str
) -> None:
    """A plan edited to put demo's RECORD in a folder not named for demo 1.0 was applied:
    in `other`'s, it wrote over other's RECORD (other's files then belonged to nobody);
    elsewhere, demo's metadata was left without a RECORD."""
    plan, env = planned_beside_other

    def edit(data: dict[str, Any]) -> None:
        (dist,) = data["distributions"]
        record = next(e for e in data["files"] if e["path"] == f"{dist['dist_info']}/RECORD")
        dist["dist_info"] = folder
        record["path"] = f"{folder}/RECORD"
        record["action"] = "replace" if (env / record["path"]).exists() else "write"
        data["files"].sort(key=lambda entry: entry["path"])
        data["directories"] = sorted({*data["directories"], folder})

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase(folder, edit, "")))
    before = snapshot(env)
    refusal(
        cli("apply", edited),
        str(edited),
        f"distribution demo: metadata folder {folder!r} is not its own (demo-1.0.dist-info"
        " in the target's purelib or platlib folder)",
    )
    assert snapshot(env) == before


@pytest.mark.parametrize("version", ["1.0", "01.0"])
def test_a_metadata_folder_spelled_as_its_wheel_spells_it_is_its_own(
    tmp_path: Path, target: Path, cli: Cli, version: str
) -> None:
    """`Mixed.Case-01.0.dist-info` is mixed-case 1.0's as the planner reads it."""
    spec = WheelSpec("Mixed.Case", version=version, files={"mixed/__init__.py": b""})
    wheel = build_wheel(spec, tmp_path / "wheels")
    if version != "1.0":  # a file name spells the version as the wheel's folder may not
        wheel = wheel.rename(wheel.with_name("Mixed.Case-1.0-py3-none-any.whl"))
    result = cli("install", wheel, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    site = target.parent.parent / PURELIB
    assert (site / f"Mixed_Case-{version}.dist-info/RECORD").is_file()


def test_the_progress_bar_keeps_its_width_whatever_totals_a_plan_gives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A unit's bytes come from the plan: an edited total of 1 grew the bar by one
    character per byte written (1.2 GB per redraw of a 40 MB member)."""
    bar = progress.Bar()
    for done, total in ((40_000_000, 1), (-5, 10), (5, 0), (5, -1), (3, 6)):
        bar(done, total)
    drawn = re.findall(r"\[([#.]*)\]", capsys.readouterr().err)
    assert [len(part) for part in drawn] == [30] * 5
    assert drawn[-1] == "#" * 15 + "." * 15


_DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda text: _DEEP, "not a plan file (invalid JSON: nested too deeply)"),
        (
            lambda text: text.replace('"conflicts":', f'"nested":{_DEEP},"conflicts":', 1),
            "not a plan file (invalid JSON: nested too deeply)",
        ),
        # Valid JSON, but "\ud800" escapes half a UTF-16 pair: no character at all.
        (
            lambda text: text.replace('"display_name":"', '"display_name":"\\ud800', 1),
            "malformed plan: a string holds a lone surrogate, which is no character",
        ),
        # More digits than int() converts: Python's advice to programmers is not passed on.
        (
            lambda text: text.replace('"conflicts":', f'"n":{"1" * 5000},"conflicts":', 1),
            "not a plan file (invalid JSON: a number of 5000 digits, too long to read)",
        ),
    ],
    ids=["nested-array", "nested-in-a-plan", "lone-surrogate", "number-too-long"],
)
def test_a_plan_json_cannot_represent_is_refused(
    edit: Callable[[str], str],
    problem: str,
    planned: tuple[Path, Path],
    tmp_path: Path,
    cli: Cli,
) -> None:
    plan, env = planned
    edited = tmp_path / "edited.json"
    edited.write_text(edit(plan.read_text()))
    assert edited.read_text() != plan.read_text()
    before = snapshot(env)
    for command in ("show", "apply"):
        refusal(cli(command, edited), str(edited), problem)
    assert snapshot(env) == before


def test_a_wheel_path_that_is_not_utf8_is_refused_before_any_plan_is_written(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A folder named in Latin-1 reaches Python with a surrogate in its name, which no
    plan (JSON) can hold: the wheel is refused, and a plan file already there is kept."""
    folder = tmp_path / os.fsdecode(b"caf\xe9")
    wheel = build_wheel(CONTROL, folder)
    shown = str(wheel).replace("\udce9", "\\udce9")
    plan = tmp_path / "plan.json"
    plan.write_text("an earlier plan\n")
    for named in (wheel, folder):
        for cache in ("--no-cache", f"--cache-dir={tmp_path / 'cache'}"):
            result = cli("plan", named, "--python", target, "-o", plan, cache)
            refusal(result, shown, "the path is not valid UTF-8, and a plan holds paths as text")
            assert plan.read_text() == "an earlier plan\n"


def test_a_wheel_path_with_a_control_character_is_refused_by_plan_and_apply(
    planned: tuple[Path, Path], tmp_path: Path, target: Path, cli: Cli
) -> None:
    """The applier refuses a plan whose wheel path has one, so the planner does not make
    such a plan, and `apply --wheel-dir` cannot give a wheel one either."""
    plan, env = planned
    folder = tmp_path / "odd\ndir"
    wheel = build_wheel(CONTROL, folder)
    shown = str(wheel).replace("\n", "\\n")
    before = snapshot(env)
    for named in (wheel, folder):
        result = cli("plan", named, "--python", target)
        refusal(result, shown, "the path has a control character")
    refusal(cli("apply", plan, "--wheel-dir", folder), shown, "the path has a control character")
    assert snapshot(env) == before


def test_a_plan_cannot_forge_lines_of_its_review_or_of_the_apply(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """Names and warnings in a plan are shown with their control characters escaped,
    so an edited plan cannot add lines to what its reviewer reads, or hide some."""
    plan, _ = planned
    data = json.loads(plan.read_text())
    data["distributions"][0]["display_name"] += "\n\nFiles: 0 new\x1b[8m"
    data["warnings"] = ["\x1b[2K\rall is well"]
    recompute_digest(data)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n")
    raw = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # any control character but "\n"
    shown = cli("show", edited)
    assert shown.returncode == 0, shown.stderr
    assert not raw.search(shown.stdout), shown.stdout
    assert [line for line in shown.stdout.splitlines() if line.startswith("Files:")] == [
        line for line in cli("show", plan).stdout.splitlines() if line.startswith("Files:")
    ]
    assert "\\n\\nFiles: 0 new\\x1b[8m" in shown.stdout
    assert "  \\x1b[2K\\rall is well\n" in shown.stdout
    # A display name is a spelling of the name: the apply refuses this one, escaped too.
    applied = cli("apply", edited)
    assert applied.returncode == 1, applied.stdout
    assert not raw.search(applied.stdout + applied.stderr), applied.stdout + applied.stderr
    assert "'demo\\n\\nFiles: 0 new\\x1b[8m' is not a spelling of its name" in applied.stderr


def test_a_plan_for_a_wheel_that_changed_is_refused(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    plan, env = planned
    wheel = Path(json.loads(plan.read_text())["distributions"][0]["wheel_path"])
    changed = attrs.evolve(CONTROL, files={**CONTROL.files, "demo/helper.py": b"VALUE = 43\n"})
    build_wheel(changed, wheel.parent)
    before = snapshot(env)
    refusal(cli("apply", plan), str(wheel), "wheel changed since the plan was made")
    assert snapshot(env) == before


def test_a_wheel_replaced_by_a_huge_sparse_file_is_refused_unread(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A planned wheel of another size is not the planned one: the apply says so without
    hashing it (1 TiB of holes would take minutes to read), with or without a cache."""
    plan, env = planned
    wheel = Path(json.loads(plan.read_text())["distributions"][0]["wheel_path"])
    with wheel.open("r+b") as stream:
        stream.truncate(1024**4)
    before = snapshot(env)
    for cache in ("--no-cache", f"--cache-dir={tmp_path / 'cache'}"):
        result = subprocess.run(
            [sys.executable, "-m", "wheelplan", "apply", str(plan), cache],
            capture_output=True,
            text=True,
            timeout=60,  # a bound against reading the whole file, not a timing
            cwd=REPO,
        )
        refusal(result, str(wheel), "wheel changed since the plan was made (size differs)")
    assert snapshot(env) == before


@pytest.mark.parametrize(
    ("appended", "problem"),
    [(False, "not a zip archive"), (True, f"{1024**4} bytes before the first member")],
    ids=["no-archive", "archive-appended"],
)
def test_a_huge_file_given_as_a_wheel_is_refused_without_being_hashed_whole(
    tmp_path: Path, target: Path, appended: bool, problem: str
) -> None:
    """A sparse terabyte, alone or with a wheel after it (which zipfile reads): its hash,
    begun beside the parsing (by the forked child and by a thread), is dropped once the
    parsing has refused it, with or without a cache, and the wheel given after it is
    still read."""
    control = build_wheel(CONTROL, tmp_path / "wheels")
    huge = tmp_path / "wheels" / "huge-1.0-py3-none-any.whl"
    inner = build_wheel(attrs.evolve(CONTROL, name="huge"), tmp_path / "inner")
    with huge.open("wb") as stream:
        stream.truncate(1024**4)
        if appended:
            stream.seek(0, os.SEEK_END)
            stream.write(inner.read_bytes())
    plan = ["plan", str(huge), str(control), "--python", str(target), "-o", str(tmp_path / "p")]
    for cache in ("--no-cache", f"--cache-dir={tmp_path / 'cache'}"):
        result = subprocess.run(
            [sys.executable, "-m", "wheelplan", *plan, cache],
            capture_output=True,
            text=True,
            timeout=60,  # a bound against reading the whole file, not a timing
            cwd=REPO,
        )
        refusal(result, huge.name, problem)
        assert not (tmp_path / "p").exists()


def test_a_plan_for_a_target_that_changed_is_refused(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    plan, env = planned
    other = build_wheel(WheelSpec("other", files={"other.py": b"X = 1\n"}), tmp_path / "more")
    assert cli("install", other, "--python", env, "--quiet").returncode == 0
    before = snapshot(env)
    refusal(cli("apply", plan), str(env), "the target changed since the plan was made")
    assert snapshot(env) == before


def test_a_recomputed_digest_does_not_make_an_escape_acceptable(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """The digest catches accidents, not attackers: the path checks must hold alone."""
    plan, _ = planned
    data = json.loads(plan.read_text())
    entry = next(e for e in data["files"] if e["source"]["kind"] == "member")
    old, new = entry["path"], "../../escaped.py"
    entry["path"] = new
    for unit in data["units"]:
        unit["paths"] = [new if path == old else path for path in unit["paths"]]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(recompute_digest(data), sort_keys=True, indent=1) + "\n")
    before = snapshot(tmp_path)
    refusal(cli("apply", edited), str(edited), "'../../escaped.py' contains a '..' component")
    assert snapshot(tmp_path) == before
    assert not (tmp_path.parent / "escaped.py").exists()


@pytest.mark.parametrize("change", [-1, 1])
def test_a_plan_that_misstates_a_files_size_is_refused_naming_the_wheel(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli, change: int
) -> None:
    """The RECORD the apply writes lists the size the plan gives: bytes that have the
    plan's hash but not its size are refused as any other mismatch is, not listed."""
    plan, env = planned
    misstated: dict[str, Any] = {}

    def misstate(data: dict[str, Any]) -> None:
        source = next(e["source"] for e in data["files"] if e["source"]["kind"] == "member")
        source["size"] += change
        misstated.update(source)

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase("size-misstated", misstate, "")))
    before = snapshot(env)
    problem = f"{misstated['member']!r} does not match its RECORD hash or size"
    refusal(cli("apply", edited), misstated["wheel"], problem)
    assert snapshot(env) == before


# What a random edit may put anywhere in a plan: other types, numbers no file has,
# unsafe paths, other kinds and actions.
EDIT_VALUES = (
    None, -1, 0, 1, 2**63, 2**64, 1.5, True, "", "x", "../x", "/x", "a\x00b", "a\nb",
    "sha256=", "md5=00", "write", "replace", "remove", "unchanged", "install", "member",
    "inline", "record", "bin/x", [], ["x"], {}, {"x": 1},
)  # fmt: skip


def _places(node: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every value inside a plan's JSON an edit can replace (not the digest)."""
    if at:
        yield at
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "digest":
                yield from _places(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _places(value, (*at, index))


def _outside(env: Path) -> set[Path]:
    """Everything near the environment that an apply must not touch."""
    work = env.parent
    return {path for path in work.rglob("*") if env not in path.parents and path != env} | set(
        work.parent.iterdir()
    )


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_edit_to_a_plan_is_applied_whole_or_refused_in_error_lines(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli, data: st.DataObject
) -> None:
    """With the digest recomputed, as an attacker would: never a traceback, never a
    write outside the environment, and a refused plan changes nothing in it.

    An applied one leaves an environment `verify` accepts, unless an owner list was
    edited: owners are the plan's word (they say which RECORDs list a file), and a
    made-up one leaves a file that no RECORD lists, which `verify` reports.
    """
    plan, env = planned
    pristine = tmp_path / "pristine"
    if not pristine.exists():
        shutil.copytree(env, pristine, symlinks=True)
    shutil.rmtree(env)
    shutil.copytree(pristine, env, symlinks=True)
    edited = json.loads(plan.read_text())
    # A field is chosen by name first, so the few distribution fields are edited as
    # often as the many file fields.
    by_name: dict[str, list[tuple[str | int, ...]]] = {}
    for place in _places(edited):
        by_name.setdefault(str(place[-1]), []).append(place)
    chosen = st.sampled_from(sorted(by_name)).flatmap(lambda name: st.sampled_from(by_name[name]))
    places = data.draw(st.lists(chosen, min_size=1, max_size=3))
    for place in places:
        # A copy: an edit inside a list or dict put there must not reach EDIT_VALUES.
        value = copy.deepcopy(data.draw(st.sampled_from(EDIT_VALUES)))
        holder = edited
        with contextlib.suppress(KeyError, IndexError, TypeError):  # an earlier edit moved it
            for step in place[:-1]:
                holder = holder[step]
            holder[place[-1]] = value
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(recompute_digest(edited)))
    before, outside = snapshot(env), _outside(env)
    result = cli("apply", path, "--no-cache")
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert all(line.startswith(("error: ", "warning: ")) for line in result.stderr.splitlines())
    assert _outside(env) == outside
    if result.returncode == 1:
        assert snapshot(env) == before
    elif not any("owners" in place for place in places):
        verified = cli("verify", "--python", env / "bin" / "python")
        assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_file_name_with_a_line_break_still_makes_one_error_line(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    # Unescaped, the name would start a second line that reads as an error of its own.
    wheel = tmp_path / "demo-1.0-py3-none-any.whl\nerror: forged"
    escaped = f"{tmp_path}/demo-1.0-py3-none-any.whl\\nerror: forged"
    refusal(cli("plan", wheel, "--python", target), escaped, "wheel file does not exist")


# --- the environment --------------------------------------------------------------


def test_a_python_that_does_not_exist_is_refused(tmp_path: Path, cli: Cli) -> None:
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    missing = tmp_path / "no-such-env" / "bin" / "python"
    refusal(
        cli("plan", wheel, "--python", missing),
        str(missing),
        "the target interpreter does not exist",
    )


@pytest.mark.parametrize("kind", ["text-file", "not-python", "empty-folder"])
def test_a_python_that_is_not_a_python_is_refused(kind: str, tmp_path: Path, cli: Cli) -> None:
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    if kind == "text-file":
        python = tmp_path / "python"
        python.write_text("not a program\n")
        expected = "cannot run the target interpreter"
    elif kind == "not-python":
        python = tmp_path / "true"
        python.write_text("#!/bin/sh\necho hello\n")
        python.chmod(0o755)
        expected = "not a usable Python interpreter"
    else:
        python = tmp_path / "empty-env"
        python.mkdir()
        expected = "does not exist"
    result = cli("plan", wheel, "--python", python)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())


def test_a_python_that_answers_without_end_is_refused(tmp_path: Path, cli: Cli) -> None:
    """Its answer was read whole: memory grew by the gigabyte until the timeout."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexec yes\n")
    python.chmod(0o755)
    refusal(
        cli("plan", wheel, "--python", python, memory=1 << 30),
        str(python),
        "not a usable Python interpreter (it said more than 16 MiB)",
    )


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("True", "cannot compile bytecode: the interpreter gave no bytecode cache tag"),
        ("sys.argv[1:] == ['TIMESTAMP']", "bytecode compiler failed: it said more than"),
    ],
    ids=["cache-tag", "compiler"],
)
def test_a_python_that_answers_without_end_at_compile_time_is_refused(
    tmp_path: Path, target: Path, cli: Cli, when: str, problem: str
) -> None:
    """`apply --root` runs the plan's interpreter without the probe's ceiling: a .pth file
    of the target answering without end took the machine's memory."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    assert cli("plan", wheel, "--python", target, "-o", plan).returncode == 0
    site = next(target.parent.parent.glob("lib/python*/site-packages"))
    (site / "endless.pth").write_text(f"import os, sys; {when} and os.execvp('yes', ['yes'])\n")
    root = tmp_path / "root"
    result = cli("apply", plan, "--root", root, "--compile-bytecode", memory=1 << 30)
    subject = str(target) if when == "True" else str(root / str(target.parent.parent).lstrip("/"))
    refusal(result, subject, problem)
    assert not any(path.is_file() for path in root.rglob("*"))


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("{}", "Object missing required field `executable`"),
        ("[]", "Expected `object`, got `array`"),
        ('{"executable": 1}', "Expected `str`, got `int` - at `$.executable`"),
    ],
    ids=["empty", "a-list", "a-number"],
)
def test_a_python_whose_answer_has_another_shape_is_refused(
    tmp_path: Path, target: Path, cli: Cli, answer: str, problem: str
) -> None:
    """Any program can be given as --python, and print any JSON: a KeyError or TypeError
    traceback ended plan, apply, verify, recover and uninstall."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    plan = tmp_path / "plan.json"
    assert cli("plan", wheel, "--python", target, "-o", plan).returncode == 0
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\necho '{answer}'\n")
    python.chmod(0o755)
    expected = f"not a usable Python interpreter (its answer is not ours: {problem})"
    for command in (["plan", wheel], ["verify"], ["recover"], ["uninstall", "demo"]):
        refusal(cli(*command, "--python", python), str(python), expected)
    # apply runs the plan's interpreter again, to confirm the target.
    site = next(target.parent.parent.glob("lib/python*/site-packages"))
    before = snapshot(site)
    target.unlink()
    shutil.copy(python, target)
    refusal(cli("apply", plan), str(target), expected)
    assert snapshot(site) == before


def test_a_python_older_than_the_probe_can_run_in_is_refused_by_its_version(
    tmp_path: Path, cli: Cli
) -> None:
    """packaging 26 needs Python 3.10, and so does the probe (pip 26 too): an older one is
    named as such, not as a SyntaxError from inside packaging, and as a refusal: it
    ended "; exit status 1", as a crash does."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    python = tmp_path / "python3.9"
    # This Python, reporting itself as 3.9: the probe is `-I -B -c CODE ARGS...`.
    pretend = "import sys; sys.version_info = (3, 9, 18, 'final', 0); exec(sys.argv.pop(1))"
    python.write_text(
        f'#!/bin/sh\nexec {sys.executable} "$1" "$2" "$3" "{pretend}" "$4" "$5" "$6" "$7"\n'
    )
    python.chmod(0o755)
    refusal(
        cli("plan", wheel, "--python", python),
        str(python),
        "not a usable Python interpreter (Python 3.9 is too old: wheelplan installs into"
        " Python 3.10 or newer)",
    )


@pytest.mark.parametrize(
    ("said", "end", "expected"),
    [
        (
            "pyenv: python3.12: command not found\n\nThe `python3.12' command exists in"
            " these Python versions:\n  3.12.1\n\nNote: See 'pyenv help global' for tips"
            " on allowing multiple\n      Python versions to be found at the same time.\n",
            "exit 127",
            "(pyenv: python3.12: command not found; exit status 127)",
        ),
        (
            'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
            "    import   json\nImportError: cannot   import name 'dump'\n",
            "exit 1",
            "(ImportError: cannot import name 'dump'; exit status 1)",
        ),
        (
            'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
            "ValueError: bad\nwrapper: python3.12 failed\n",
            "exit 1",
            "(ValueError: bad; exit status 1)",
        ),
        (
            'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
            "KeyError: 'x'\n\nDuring handling of the above exception, another exception"
            ' occurred:\n\nTraceback (most recent call last):\n  File "<string>", line 3\n'
            "    raise   ValueError\n    ^^^^^^\nValueError: bad\n\nwrapper: done\n",
            "exit 1",
            "(ValueError: bad; exit status 1)",
        ),
        (
            # A real 3.11's, for `raise ExceptionGroup("boom", [ValueError("x")])`.
            '  + Exception Group Traceback (most recent call last):\n  |   File "<string>",'
            " line 1, in <module>\n  | ExceptionGroup: boom (1 sub-exception)\n"
            "  +-+---------------- 1 ----------------\n    | ValueError: x\n"
            "    +------------------------------------\n",
            "exit 1",
            "(ExceptionGroup: boom (1 sub-exception); exit status 1)",
        ),
        (
            # A real 3.11's, for a group raised in handling a KeyError.
            'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n'
            "KeyError: 'k'\n\nDuring handling of the above exception, another exception"
            " occurred:\n\n  + Exception Group Traceback (most recent call last):\n"
            '  |   File "<string>", line 5, in <module>\n'
            "  | ExceptionGroup: boom (2 sub-exceptions)\n"
            "  +-+---------------- 1 ----------------\n    | ValueError: x\n"
            "    +---------------- 2 ----------------\n    | TypeError: y\n"
            "    +------------------------------------\n",
            "exit 1",
            "(ExceptionGroup: boom (2 sub-exceptions); exit status 1)",
        ),
        (
            # As the probe refuses: its own name first, as a program's message begins.
            "wheelplan probe: Python 3.9 is too old: wheelplan installs into Python 3.10"
            " or newer\n",
            "exit 1",
            "(Python 3.9 is too old: wheelplan installs into Python 3.10 or newer)",
        ),
        (
            # A wrapper that speaks after the probe, and passes on an exit status of its own.
            "wheelplan probe: Python 3.9 is too old: wheelplan installs into Python 3.10"
            " or newer\nwrapper: python3.9 exited\n",
            "exit 2",
            "(Python 3.9 is too old: wheelplan installs into Python 3.10 or newer)",
        ),
        (
            # A real 3.13's under FORCE_COLOR, as a wrapper that drops -I gets it: its
            # colours are no part of what it said.
            'Traceback (most recent call last):\n  File \x1b[35m"<string>"\x1b[0m, line'
            " \x1b[35m1\x1b[0m, in \x1b[35m<module>\x1b[0m\n"
            "    \x1b[31m1\x1b[0m\x1b[1;31m/\x1b[0m\x1b[31m0\x1b[0m\n"
            "\x1b[1;35mZeroDivisionError\x1b[0m: \x1b[35mdivision by zero\x1b[0m\n",
            "exit 1",
            "(ZeroDivisionError: division by zero; exit status 1)",
        ),
        (
            # An escape that is not a colour stays, escaped as every error line's are.
            "\x1b[2Jcleared\x1b[1;35m\n",
            "exit 1",
            "(\\x1b[2Jcleared; exit status 1)",
        ),
        ("", "exit 3", "(no output; exit status 3)"),
        ("Killed\n", "kill -KILL $$", "(Killed; killed by signal 9)"),
        ("x" * 500 + "\n", "exit 1", f"({'x' * 197}...; exit status 1)"),
        ("", "echo hello", "(its answer is not JSON)"),
    ],
    ids=[
        "a-wrapper's-message",
        "a-traceback",
        "a-traceback-then-a-line",
        "a-chained-traceback",
        "an-exception-group",
        "a-group-raised-in-handling",
        "the-probe's-refusal",
        "the-probe's-refusal-then-a-wrapper's-line",
        "a-coloured-traceback",
        "a-screen-clearing-escape",
        "nothing",
        "a-signal",
        "a-long-line",
        "no-json",
    ],
)
def test_a_python_that_fails_is_refused_with_what_it_said_and_how_it_ended(
    tmp_path: Path, cli: Cli, said: str, end: str, expected: str
) -> None:
    """A pyenv shim's several lines were quoted by their last, a tail fragment ("Python
    versions to be found at the same time."), and without the exit status; a program
    that exited 0 having printed no JSON was said to give "no output". An exception
    group's traceback was quoted by its first line, or by the exception it was raised
    in handling; the probe's own refusal ended "; exit status 1", as a crash does, and
    kept the marker it begins with when a wrapper spoke after it."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    message = tmp_path / "said.txt"
    message.write_text(said)
    python = tmp_path / "python3.12"
    python.write_text(f"#!/bin/sh\ncat '{message}' >&2\n{end}\n")
    python.chmod(0o755)
    line = refusal(cli("plan", wheel, "--python", python), str(python), expected)
    assert line == f"error: {python}: not a usable Python interpreter {expected}"


def test_a_python_2_is_refused_saying_so(tmp_path: Path, cli: Cli) -> None:
    """Python 2 refuses -I with a usage text ending in a pointer to `-h`, which was all
    the error line gave."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    usage = tmp_path / "usage.txt"
    usage.write_text(
        "Unknown option: -I\nusage: python2.7 [option] ...\nTry `python -h' for more information.\n"
    )
    python = tmp_path / "python2.7"
    python.write_text(f"#!/bin/sh\ncat '{usage}' >&2\nexit 2\n")
    python.chmod(0o755)
    refusal(
        cli("plan", wheel, "--python", python),
        str(python),
        "not a usable Python interpreter (Unknown option: -I: Python 2 has no -I;"
        " wheelplan installs into Python 3.10 or newer)",
    )


def test_a_wheel_that_does_not_exist_is_refused(tmp_path: Path, target: Path, cli: Cli) -> None:
    missing = tmp_path / "demo-1.0-py3-none-any.whl"
    refusal(cli("plan", missing, "--python", target), str(missing), "does not exist")


def test_a_wheel_that_cannot_be_looked_at_is_not_called_missing(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """As root every folder may be searched; a file in place of a folder, or a name too
    long, stands for the folder a user may not search, which was 'does not exist'."""
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    refusal(
        cli("plan", f"{wheel}/{wheel.name}", "--python", target),
        f"{wheel}/{wheel.name}",
        "cannot read wheel: Not a directory",
    )
    long = tmp_path / ("x" * 300 + ".whl")
    refusal(
        cli("plan", long, "--python", target), str(long), "cannot read wheel: File name too long"
    )


def test_a_fifo_given_as_a_wheel_is_refused_without_reading_it(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """As root every file is readable; a FIFO is the honest unreadable wheel (it would block)."""
    fifo = tmp_path / "demo-1.0-py3-none-any.whl"
    os.mkfifo(fifo)
    refusal(cli("plan", fifo, "--python", target), str(fifo), "named pipe (FIFO)")


def test_a_folder_named_like_a_wheel_is_refused(tmp_path: Path, target: Path, cli: Cli) -> None:
    folder = tmp_path / "demo-1.0-py3-none-any.whl"
    folder.mkdir()
    refusal(cli("plan", folder, "--python", target), str(folder), "holds no .whl files")


def test_a_wheel_that_became_a_fifo_is_refused_by_apply(
    planned: tuple[Path, Path], cli: Cli
) -> None:
    plan, env = planned
    wheel = Path(json.loads(plan.read_text())["distributions"][0]["wheel_path"])
    wheel.unlink()
    os.mkfifo(wheel)
    before = snapshot(env)
    refusal(cli("apply", plan), str(wheel), "cannot read wheel: it is a named pipe (FIFO)")
    assert snapshot(env) == before


def _read_only_apply(env: Path, plan: Path) -> subprocess.CompletedProcess[str]:
    """Apply with the environment bind-mounted read-only in a private mount namespace.

    We run as root, for whom permission bits do not stop a write; a read-only mount
    does, and the namespace makes it vanish with the command.
    """
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
    return subprocess.run(
        [
            *("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"),
            *(str(env), sys.executable, "-m", "wheelplan", "apply", str(plan)),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_a_read_only_target_is_refused(planned: tuple[Path, Path]) -> None:
    plan, env = planned
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to make a read-only target as root")
    before = snapshot(env)
    refusal(_read_only_apply(env, plan), str(env), "not writable")
    assert snapshot(env) == before


# --- member names, at random ------------------------------------------------------

ALPHABET = ["a", "C", "é", " ", "/", "\\", ".", ":", "\x00", "\x01", "\x1b", "\x7f", "\x85"]
# Where a name may start: the places a wheel's layout gives meaning to.
STARTS = [
    "",
    "demo/",
    "demo-1.0.data/",
    "demo-1.0.data/scripts/",
    "demo-1.0.data/purelib/",
    "demo-1.0.data/data/",
    "demo-1.0.dist-info/",
]
names = st.builds(
    operator.add, st.sampled_from(STARTS), st.text(st.sampled_from(ALPHABET), max_size=10)
)


def _fake_target(prefix: Path, scan: bool = False) -> TargetInfo:
    """A target described by hand: no interpreter run per example; `scan` reads what
    is installed there."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    schemes = {
        "purelib": PURELIB,
        "platlib": PURELIB,
        "scripts": "bin",
        "data": "",
        "headers": f"include/site/python{version}",
    }
    return TargetInfo(
        interpreter=sys.executable,
        prefix=str(prefix),
        python_version=version,
        schemes=schemes,
        tags=("py3-none-any",),
        markers=default_environment(),
        installed=scan_installed(str(prefix), schemes) if scan else (),
    )


@settings(max_examples=80, deadline=None)
@given(name=names)
def test_every_member_name_lands_inside_or_is_refused_before_writing(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("names")
    prefix = root / "env"
    prefix.mkdir()
    (root / "outside").mkdir()
    spec = WheelSpec("demo", files={"demo/__init__.py": b"", name: Member(name, b"payload")})
    wheel = build_wheel(spec, root / "wheels")
    before = snapshot(root)
    unsafe = path_problem(name[:-1] if name.endswith("/") else name)
    try:
        plan = make_plan(Request(wheels=(str(wheel),)), _fake_target(prefix))
    except Refused as refused:
        assert all(problem.subject == wheel.name for problem in refused.problems)
        assert snapshot(root) == before
        return
    assert unsafe is None, f"{name!r} was accepted although its path {unsafe}"
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=1))
    after = snapshot(root)
    added = set(after) - set(before)
    assert added and all(path.startswith("env/") for path in added), added
    assert {path: after[path] for path in before} == before
    landed = [entry.path for entry in plan.files if entry.source and entry.source.member == name]
    for path in landed:
        full = (prefix / path).resolve()
        assert full.is_relative_to(prefix.resolve())
        assert full.read_bytes() == b"payload"


@pytest.mark.parametrize("flag", ["--max-total-size", "--max-entries", "--max-ratio"])
def test_a_limit_that_is_not_a_positive_number_is_a_usage_error(
    flag: str, tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheel = build_wheel(CONTROL, tmp_path / "wheels")
    for value in ("-5", "0", "lots"):
        result = cli("plan", wheel, "--python", target, flag, value)
        assert result.returncode == 2, (flag, value, result.stderr)
        assert "expected a positive whole number" in result.stderr


flips = st.lists(
    st.tuples(st.floats(min_value=0, max_value=1, exclude_max=True), st.integers(0, 7)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(flips=flips, cut=st.one_of(st.none(), st.floats(min_value=0, max_value=1)))
def test_a_damaged_wheel_is_refused_or_installs_intact_and_never_crashes(
    flips: list[tuple[float, int]], cut: float | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Flipped bits and a cut anywhere: plan refuses, or apply installs exactly the
    control's bytes, or apply refuses and rolls back. Nothing else may escape."""
    root = tmp_path_factory.mktemp("damaged")
    prefix = root / "env"
    prefix.mkdir()
    data = bytearray(build_wheel(CONTROL, root / "good").read_bytes())
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    if cut is not None:
        del data[int(cut * len(data)) :]
    wheel = root / CONTROL.filename
    wheel.write_bytes(bytes(data))
    before = snapshot(prefix)
    try:
        plan = make_plan(Request(wheels=(str(wheel),)), _fake_target(prefix))
    except Refused as refused:
        assert all(problem.subject == wheel.name for problem in refused.problems)
        assert snapshot(prefix) == before
        return
    try:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    except Refused as refused:
        assert [problem.subject for problem in refused.problems] == [wheel.name]
        assert snapshot(prefix) == before
        return
    site = prefix / PURELIB / "demo"
    assert (site / "__init__.py").read_bytes() == CONTROL.files["demo/__init__.py"]
    assert (site / "helper.py").read_bytes() == CONTROL.files["demo/helper.py"]


# What METADATA, WHEEL and the installed distributions' versions are made of here: the
# values that have broken packaging's parsers (numbers past int()'s 4,300 digits,
# comparisons it cannot make, other scripts' digits) among ordinary ones.
_VERSIONS = st.sampled_from(["1.0", "0", "2!1.0.post1+cpu", "1" * 5000, "\u0661", "3.*", "x", ""])
_OPERATORS = st.sampled_from(["", "==", ">=", "~=", "===", "!=", "<", "=", " "])
_SPECIFIERS = st.builds(operator.add, _OPERATORS, _VERSIONS)
_MARKERS = st.builds(
    "{} {} '{}'".format,
    st.sampled_from(["python_version", "python_full_version", "extra", "extras", "os_name"]),
    st.sampled_from(["==", "~=", "<", "in", "==="]),
    _VERSIONS,
)
_REQUIREMENTS = st.builds(
    lambda name, specifier, marker: f"{name}{specifier}" + (f"; {marker}" if marker else ""),
    st.sampled_from(["dep", "demo", "Dep_Two"]),
    _SPECIFIERS,
    st.one_of(st.none(), _MARKERS),
)


@settings(max_examples=80, deadline=None)
@given(
    # Mostly the file name's version and a valid Wheel-Version, so that the rest is read.
    version=st.one_of(st.just(CONTROL.version), _VERSIONS),
    requires_python=st.one_of(st.none(), _SPECIFIERS),
    requires=st.lists(_REQUIREMENTS, max_size=3),
    wheel_version=st.one_of(st.just("1.0"), st.builds("{}.{}".format, _VERSIONS, _VERSIONS)),
    installed_version=_VERSIONS,
)
def test_any_metadata_is_planned_or_refused_and_never_crashes(
    version: str,
    requires_python: str | None,
    requires: list[str],
    wheel_version: str,
    installed_version: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Whatever METADATA and WHEEL say, and whatever version an installed distribution
    has, the planner plans (with warnings) or refuses with problems naming the wheel."""
    root = tmp_path_factory.mktemp("metadata")
    prefix = root / "env"
    prefix.mkdir()
    lines = [f"Metadata-Version: 2.1\nName: demo\nVersion: {version}\n"]
    lines += [f"Requires-Python: {requires_python}\n"] if requires_python is not None else []
    lines += [f"Requires-Dist: {requirement}\n" for requirement in requires]
    spec = attrs.evolve(
        CONTROL,
        metadata_text="".join(lines),
        wheel_text=f"Wheel-Version: {wheel_version}\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    )
    wheel = build_wheel(spec, root / "wheels")
    installed = [
        Installed(
            name=name,
            display_name=name,
            version=installed_version,
            dist_info=f"{PURELIB}/{name}-{installed_version[:8] or '0'}.dist-info",
            installer="pip",
            listing="",
            files={},
            requires_dist=tuple(requires),
        )
        for name in ("demo", "dep")
    ]
    target = attrs.evolve(_fake_target(prefix), installed=tuple(installed))
    try:
        plan = make_plan(Request(wheels=(str(wheel),)), target)
    except Refused as refused:
        assert refused.problems
        assert all(problem.subject == wheel.name for problem in refused.problems)
        return
    assert [dist.name for dist in plan.distributions] == ["demo"]


# What a damaged or hostile RECORD row is made of: climbs, dots, empty parts, the other
# distribution's folder and module, the scheme folders, site-packages by another path.
_ALIAS = "../../../alias" + PURELIB.removeprefix("lib")  # `alias` links to `lib`, as lib64 does
_ROW_PARTS = ("..", ".", "", "other", "other.py", "mine", "lib", "bin", "site-packages", _ALIAS)
# Rows each of which once took what it must not, one of them among the drawn ones.
_TAKING_ROWS = (
    ".",
    "",
    "other",
    "../../../lib",
    f"{_ALIAS}/other.py",
    f"{_ALIAS}/other/__init__.py",
)
_MINE = WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"})
_OTHER = WheelSpec("other", files={"other/__init__.py": b"OTHER = 1\n", "other.py": b"TOP = 1\n"})


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.sampled_from(_ROW_PARTS), min_size=1, max_size=6).map("/".join),
        max_size=4,
    ),
    taking=st.sampled_from(_TAKING_ROWS),
    at=st.integers(0, 4),
)
def test_removing_a_distribution_never_takes_what_another_owns(
    rows: list[str], taking: str, at: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever rows its RECORD gains, removing `mine` is refused (nothing changed) or
    leaves every file `other` owns, and everything outside the environment, as it was.
    It once took a folder a row named, or `other`'s file by its path through `alias`."""
    root = tmp_path_factory.mktemp("rows")
    prefix = root / "env"
    prefix.mkdir()
    (root / "outside.txt").write_text("keep")
    (prefix / "alias").symlink_to("lib")
    wheels = [build_wheel(spec, root / "wheels") for spec in (_OTHER, _MINE)]
    plan = make_plan(Request(wheels=tuple(map(str, wheels))), _fake_target(prefix))
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    (other,) = [item for item in _fake_target(prefix, scan=True).installed if item.name == "other"]
    others = {path: (prefix / path).read_bytes() for path in other.files}
    record = prefix / PURELIB / "mine-1.0.dist-info" / "RECORD"
    rows.insert(at, taking)
    record.write_text(record.read_text() + "".join(f"{row},,\n" for row in rows))
    before = snapshot(root)
    try:
        removal = make_plan(Request(remove=frozenset({"mine"})), _fake_target(prefix, scan=True))
        apply_plan(removal, "plan", Options(confirm_target=False, jobs=2))
    except Refused:
        assert snapshot(root) == before
        return
    assert len(others) == 8  # two modules, six files of its .dist-info
    assert {path: (prefix / path).read_bytes() for path in others} == others
    assert (root / "outside.txt").read_text() == "keep"
    assert not (prefix / PURELIB / "mine").exists()


# Where a planned file may go: a package folder by its own name; through `pkg-alias`
# (a link to `pkg`); through `out` (a link outside the environment); or as data, by
# site-packages' own path or through `alias` (a link to `lib`, as lib64 is).
_WRITE_FOLDERS = (
    "pkg",
    "pkg-alias",
    "out",
    f"{{data}}/data/{PURELIB}/pkg",
    f"{{data}}/data/{_ALIAS.removeprefix('../../../')}/pkg",
)
_WRITTEN_FILES = st.dictionaries(
    st.tuples(st.sampled_from(_WRITE_FOLDERS), st.sampled_from(("x.py", "y.py"))),
    st.sampled_from((b"1\n", b"2\n")),
    min_size=1,
    max_size=3,
)


@settings(max_examples=40, deadline=None)
@given(first=_WRITTEN_FILES, second=_WRITTEN_FILES)
def test_a_plan_that_writes_through_links_applies_every_file_or_is_refused(
    first: dict[tuple[str, str], bytes],
    second: dict[tuple[str, str], bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two wheels writing by names that links make one: the plan is refused (nothing
    changed), or it applies and every file each wheel planned holds that wheel's bytes,
    with nothing written outside. Two names for one path once failed when applied."""
    root = tmp_path_factory.mktemp("links")
    prefix = root / "env"
    (prefix / PURELIB / "pkg").mkdir(parents=True)
    (root / "outside").mkdir()
    (prefix / "alias").symlink_to("lib")
    (prefix / PURELIB / "pkg-alias").symlink_to("pkg")
    (prefix / PURELIB / "out").symlink_to(root / "outside")
    specs = [
        WheelSpec(
            name,
            files={
                f"{folder.format(data=f'{name}-1.0.data')}/{file}": data
                for (folder, file), data in files.items()
            },
        )
        for name, files in (("first", first), ("second", second))
    ]
    wheels = [build_wheel(spec, root / "wheels") for spec in specs]
    before = snapshot(root)
    try:
        plan = make_plan(Request(wheels=tuple(map(str, wheels))), _fake_target(prefix))
    except Refused:
        assert snapshot(root) == before
        return
    apply_plan(plan, "plan", Options(confirm_target=False, jobs=2))
    assert list((root / "outside").iterdir()) == []
    for spec in specs:
        for member, data in spec.files.items():
            _, _, in_data = member.partition(".data/data/")
            where = prefix / in_data if in_data else prefix / PURELIB / member
            assert where.read_bytes() == data, (spec.name, member)


# Links made after planning: where (a folder a file goes in, or a `__pycache__`) and to
# what (outside, nothing in the prefix, the prefix's own `lib`).
_LINK_PLACES = ("pkg", "pkg/sub", "pkg/__pycache__", "pkg/sub/__pycache__", "share", "share/d")
_LINK_TARGETS = ("outside", "missing", "lib")
_LINKED_FILES = {"pkg/x.py": b"X = 1\n", "pkg/sub/y.py": b"Y = 1\n", "{data}/data/share/d/f": b"F"}


@settings(max_examples=40, deadline=None)
@given(
    links=st.dictionaries(
        st.sampled_from(_LINK_PLACES), st.sampled_from(_LINK_TARGETS), min_size=1, max_size=2
    ),
    compiling=st.booleans(),
    unlisted=st.booleans(),
)
def test_links_made_between_plan_and_apply_never_take_a_write_outside(
    links: dict[str, str],
    compiling: bool,
    unlisted: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Whatever links appear after planning, the apply writes every planned file where
    it belongs or is refused with nothing changed, and never writes outside (once it
    wrote through a folder its plan did not list, and bytecode into a linked
    `__pycache__`)."""
    root = tmp_path_factory.mktemp("between")
    prefix = root / "env"
    (prefix / PURELIB).mkdir(parents=True)
    (root / "outside").mkdir()
    files = {name.format(data="demo-1.0.data"): data for name, data in _LINKED_FILES.items()}
    wheel = build_wheel(WheelSpec("demo", files=files), root / "wheels")
    plan = make_plan(Request(wheels=(str(wheel),)), _fake_target(prefix))
    linked = [f"{'' if place.startswith('share') else PURELIB + '/'}{place}" for place in links]
    if unlisted:  # a plan need not list the folders it writes into: `apply` must not rely on it
        kept = [path for path in plan.directories if not any(is_within(path, at) for at in linked)]
        plan = attrs.evolve(plan, directories=tuple(kept))
    for place, to in sorted(zip(linked, links.values(), strict=True)):
        where = prefix / place
        with contextlib.suppress(OSError):  # its folder may be a link made just before
            where.parent.mkdir(parents=True, exist_ok=True)
            where.symlink_to(
                {"outside": root / "outside", "missing": prefix / "missing"}.get(to, prefix / "lib")
            )
    before = snapshot(root)
    try:
        apply_plan(plan, "plan", Options(confirm_target=False, jobs=2, compile_bytecode=compiling))
    except Refused:
        assert snapshot(root) == before
        return
    assert list((root / "outside").iterdir()) == []
    for member, data in files.items():
        _, _, in_data = member.partition(".data/data/")
        assert (prefix / in_data if in_data else prefix / PURELIB / member).read_bytes() == data


class _Planned(NamedTuple):
    plan: Path
    review: str


def _planned_over_old(
    tmp_path: Path,
    target: Path,
    cli: Cli,
    old: dict[str, bytes],
    wheels: dict[str, dict[str, bytes]],
) -> _Planned:
    """A plan of `wheels` with `--prefer a`, over `old` installed, and its review."""
    installed = build_wheel(WheelSpec("old", files=old), tmp_path / "old")
    done = cli("install", installed, "--python", target, "--quiet")
    assert done.returncode == 0, done.stderr
    built = [
        build_wheel(WheelSpec(name, files=files), tmp_path / name) for name, files in wheels.items()
    ]
    plan = tmp_path / "plan.json"
    made = cli("plan", *built, "--prefer", "a", "--python", target, "-o", plan)
    assert made.returncode == 0, made.stderr
    return _Planned(plan, made.stdout)


@pytest.fixture
def planned_overlaps(tmp_path: Path, target: Path, cli: Cli) -> tuple[Path, Path]:
    """A plan of `a` and `b` over an installed `old`, with `--prefer a`: nv/__init__.py
    shared by all three (as nvidia's wheels share theirs), nv/mine.py taken from old,
    nv/tool.py from b, and a/only.py a's alone; and the environment it is for."""
    old = {"nv/__init__.py": b"", "nv/mine.py": b"old\n", "old/__init__.py": b""}
    wheels = {
        "a": {
            "nv/__init__.py": b"",
            "nv/mine.py": b"a\n",
            "nv/tool.py": b"a\n",
            "a/only.py": b"",
        },
        "b": {"nv/__init__.py": b"", "nv/tool.py": b"b\n"},
    }
    plan = _planned_over_old(tmp_path, target, cli, old, wheels).plan
    conflicts = {
        c["path"]: (c["owners"], c["resolution"]) for c in json.loads(plan.read_text())["conflicts"]
    }
    assert conflicts == {
        f"{PURELIB}/nv/__init__.py": (["a", "b", "old"], "shared"),
        f"{PURELIB}/nv/mine.py": (["a", "old"], "prefer:a"),
        f"{PURELIB}/nv/tool.py": (["a", "b"], "prefer:a"),
    }
    return plan, target.parent.parent


def _conflict(path: str, owners: list[str], resolution: str) -> dict[str, Any]:
    kind = "identical" if resolution == "shared" else "different"
    return {"path": f"{PURELIB}/{path}", "owners": owners, "kind": kind, "resolution": resolution}


# An edit of the plan's conflicts, and what the refusal says of it.
_OVERLAP_EDITS: dict[str, tuple[Callable[[list[dict[str, Any]]], None], str]] = {
    "shared-dropped": (
        lambda conflicts: conflicts.pop(0),
        f"destination '{PURELIB}/nv/__init__.py' is written once for 3 owners (a, b, old),"
        " but the plan's conflicts do not list it",
    ),
    "shared-as-won": (
        lambda conflicts: conflicts.__setitem__(
            0, _conflict("nv/__init__.py", ["a", "b", "old"], "prefer:a")
        ),
        f"conflict '{PURELIB}/nv/__init__.py' differs, but the plan writes it for every"
        " owner it names: none loses it",
    ),
    "won-from-a-planned-wheel-as-shared": (
        lambda conflicts: conflicts.__setitem__(2, _conflict("nv/tool.py", ["a", "b"], "shared")),
        f"conflict '{PURELIB}/nv/tool.py' is shared by ['a', 'b'], but the plan writes it"
        " for ['a']",
    ),
    "won-from-an-installed-one-as-shared": (
        lambda conflicts: conflicts.__setitem__(1, _conflict("nv/mine.py", ["a", "old"], "shared")),
        f"conflict '{PURELIB}/nv/mine.py' is shared by ['a', 'old'], but the plan writes it"
        " for ['a']",
    ),
    "won-by-the-loser": (
        lambda conflicts: conflicts.__setitem__(2, _conflict("nv/tool.py", ["a", "b"], "prefer:b")),
        f"conflict '{PURELIB}/nv/tool.py' is won by b, but the plan writes it for ['a']",
    ),
    "invented-shared": (
        lambda conflicts: conflicts.insert(0, _conflict("a/only.py", ["a", "b"], "shared")),
        f"conflict '{PURELIB}/a/only.py' is shared by ['a', 'b'], but the plan writes it for ['a']",
    ),
    "invented-shared-where-nothing-is-written": (
        lambda conflicts: conflicts.insert(0, _conflict("a/none.py", ["a", "b"], "shared")),
        f"conflict '{PURELIB}/a/none.py' is shared, but the plan writes no such file",
    ),
    "invented-win-of-a-planned-wheel-where-nothing-is-written": (
        lambda conflicts: conflicts.insert(0, _conflict("a/none.py", ["a", "b"], "prefer:a")),
        f"conflict '{PURELIB}/a/none.py' is won by a, which the plan installs, but the"
        " plan does not write it",
    ),
    "listed-twice": (
        lambda conflicts: conflicts.insert(0, conflicts[0]),
        f"conflict '{PURELIB}/nv/__init__.py' is listed 2 times",
    ),
    "one-owner": (
        lambda conflicts: conflicts.insert(0, _conflict("a/only.py", ["a"], "shared")),
        f"conflict '{PURELIB}/a/only.py' names ['a'] as its owners, not two or more distinct ones",
    ),
    "an-owner-named-twice": (
        lambda conflicts: conflicts.__setitem__(
            2, _conflict("nv/tool.py", ["a", "b", "b"], "prefer:a")
        ),
        f"conflict '{PURELIB}/nv/tool.py' names ['a', 'b', 'b'] as its owners, not two or"
        " more distinct ones",
    ),
    "identical-as-won": (
        lambda conflicts: conflicts.__setitem__(0, {**conflicts[0], "resolution": "prefer:a"}),
        f"conflict '{PURELIB}/nv/__init__.py' is identical but resolved as 'prefer:a', not"
        " 'shared'",
    ),
    "won-otherwise-than-by-prefer": (
        lambda conflicts: conflicts.__setitem__(2, _conflict("nv/tool.py", ["a", "b"], "keep:a")),
        f"conflict '{PURELIB}/nv/tool.py' differs but is resolved as 'keep:a', not as won by"
        " one of its owners (prefer:NAME)",
    ),
    "won-among-owners-the-plan-does-not-install": (
        lambda conflicts: conflicts.insert(
            0, _conflict("a/none.py", ["ghost", "old"], "prefer:old")
        ),
        f"conflict '{PURELIB}/a/none.py' is won, but none of its owners is one the plan installs",
    ),
    "won-naming-too-few-owners": (
        lambda conflicts: conflicts.__setitem__(
            0, _conflict("nv/__init__.py", ["a", "b"], "prefer:a")
        ),
        f"conflict '{PURELIB}/nv/__init__.py' does not name ['old'], for whom the plan writes it",
    ),
    "won-at-a-record-the-apply-makes": (
        lambda conflicts: conflicts.insert(
            0, _conflict("a-1.0.dist-info/RECORD", ["a", "b"], "prefer:a")
        ),
        f"conflict '{PURELIB}/a-1.0.dist-info/RECORD' is won, but the plan changes the file"
        " there other than by writing it",
    ),
    "shared-at-a-record-the-apply-makes": (
        lambda conflicts: conflicts.insert(
            0, _conflict("a-1.0.dist-info/RECORD", ["a", "b"], "shared")
        ),
        f"conflict '{PURELIB}/a-1.0.dist-info/RECORD' is shared, but the plan writes no such file",
    ),
}


@pytest.mark.parametrize("edit", sorted(_OVERLAP_EDITS))
def test_a_plans_overlaps_are_what_its_files_do(
    planned_overlaps: tuple[Path, Path], tmp_path: Path, cli: Cli, edit: str
) -> None:
    """The review shows a plan's conflicts, not its files' owners: a plan edited to drop
    a file three distributions share from them, to invent an overlap, or to call a
    `--prefer` win a shared file, was shown and applied, its review saying what the
    apply did not do."""
    plan, env = planned_overlaps
    change, problem = _OVERLAP_EDITS[edit]
    edited = tmp_path / "edited.json"
    edited.write_text(
        tamper(plan.read_text(), PlanCase(edit, lambda d: change(d["conflicts"]), ""))
    )
    before = snapshot(env)
    refusal(cli("apply", edited), str(edited), problem)
    refusal(cli("show", edited), str(edited), problem)
    assert snapshot(env) == before
    # The plan as it was made is shown and applied.
    assert cli("show", plan).returncode == 0
    applied = cli("apply", plan, "--quiet")
    assert applied.returncode == 0, applied.stderr


def _with_conflict(plan: Path, conflict: dict[str, Any], edited: Path) -> Path:
    """`plan` with `conflict` added to its conflicts, its digest made again, at `edited`."""
    edited.write_text(
        tamper(plan.read_text(), PlanCase("added", lambda d: d["conflicts"].append(conflict), ""))
    )
    return edited


def test_an_overlap_won_by_a_kept_distribution_is_one_its_record_lists(
    planned_overlaps: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A plan edited to say installed old keeps b/kept.py from b, a path neither has,
    was shown and applied, its review saying 'b/kept.py: b, old (installed) -> old wins
    (--prefer)'. The plan writes nothing there, so only the target's metadata can
    refuse it: `show`, which reads no target, still shows it."""
    plan, env = planned_overlaps
    conflict = _conflict("b/kept.py", ["b", "old"], "prefer:old")
    edited = _with_conflict(plan, conflict, tmp_path / "edited.json")
    before = snapshot(env)
    refusal(
        cli("apply", edited),
        f"{PURELIB}/b/kept.py",
        "the plan's overlaps say old, installed, keeps it, but no metadata folder of old"
        " in the target lists it",
    )
    assert snapshot(env) == before
    # Where old's RECORD does list it, the same overlap is what the plan does.
    listed = _conflict("old/__init__.py", ["b", "old"], "prefer:old")
    again = _with_conflict(plan, listed, tmp_path / "again.json")
    applied = cli("apply", again, "--quiet")
    assert applied.returncode == 0, applied.stderr


def test_an_overlap_won_from_a_kept_distribution_rewrites_its_record(
    planned_beside_other: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A plan edited to say demo takes a file from `other`, which it keeps, while other's
    RECORD stays as it is, was reviewed as 'other: 1 file lost to demo'."""
    plan, env = planned_beside_other
    conflict = _conflict("demo/helper.py", ["demo", "other"], "prefer:demo")
    edited = _with_conflict(plan, conflict, tmp_path / "edited.json")
    before = snapshot(env)
    problem = (
        f"conflict '{PURELIB}/demo/helper.py' is won by demo from other, which the plan"
        " keeps, but the plan does not rewrite other's RECORD"
    )
    refusal(cli("apply", edited), str(edited), problem)
    refusal(cli("show", edited), str(edited), problem)
    assert snapshot(env) == before


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_the_owner_hashes_of_a_file_agree_by_each_algorithm(
    planned: tuple[Path, Path], tmp_path: Path, cli: Cli, algorithm: str
) -> None:
    """Two hashes of one file by one algorithm that differ, its source's by sha256 and
    an owner's, or two owner hashes by sha512, were shown as a plan of one file. (The
    apply refuses them as hashes the bytes do not have, or an owner's given twice.)"""
    plan, env = planned
    written: dict[str, Any] = {}
    one, two = (hash_by(text, algorithm) for text in (b"one\n", b"two\n"))

    def edit(data: dict[str, Any]) -> None:
        written.update(next(e for e in data["files"] if e["source"]["kind"] == "member"))
        hashes = [two] if algorithm == "sha256" else [one, two]
        path = written["path"]
        data["owner_hashes"] += [{"path": path, "owner": "demo", "hash": h} for h in hashes]

    edited = tmp_path / "edited.json"
    edited.write_text(tamper(plan.read_text(), PlanCase(algorithm, edit, "")))
    agreed = written["source"]["hash"] if algorithm == "sha256" else one
    before = snapshot(env)
    refusal(
        cli("show", edited),
        str(edited),
        f"owner hash of {written['path']!r} for demo is {two!r}, but the bytes written there"
        f" hash as {agreed!r} by {algorithm}",
    )
    assert cli("apply", edited).returncode == 1
    assert snapshot(env) == before


def test_an_overlap_won_from_a_kept_distribution_drops_its_row_from_that_record(
    planned_overlaps: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    """A plan edited to say a takes a/only.py from `old` too, whose RECORD it rewrites
    without nv/mine.py alone, was applied with its review saying 'old: 2 files lost to
    a'."""
    plan, env = planned_overlaps
    invented = _conflict("a/only.py", ["a", "old"], "prefer:a")
    edited = tmp_path / "edited.json"
    edited.write_text(
        tamper(plan.read_text(), PlanCase("won", lambda d: d["conflicts"].insert(0, invented), ""))
    )
    assert "old: 2 files lost to a" in cli("show", edited).stdout
    before = snapshot(env)
    refusal(
        cli("apply", edited),
        f"{PURELIB}/a/only.py",
        "the plan's overlaps say old loses it to a, but the RECORD the plan rewrites for old"
        " drops no row of it",
    )
    assert snapshot(env) == before


def test_a_file_won_for_wheels_that_share_it_is_taken_from_an_installed_loser(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """beta and gamma ship the same ns/x.py, which differs from installed old's: with
    --prefer gamma the planner writes beta's copy for both, and the apply refused the
    plan, since old's RECORD dropped a row that no member of gamma's wheel was written
    to."""
    for name, content in (("old", b"old\n"), ("beta", b"new\n"), ("gamma", b"new\n")):
        files = {"ns/x.py": content, f"{name}/__init__.py": b""}
        build_wheel(WheelSpec(name, files=files), tmp_path / "wheels" / name)
    wheels = tmp_path / "wheels"
    done = cli("install", *(wheels / "old").iterdir(), "--python", target, "--quiet")
    assert done.returncode == 0, done.stderr
    plan = tmp_path / "plan.json"
    planned_wheels = [*(wheels / "beta").iterdir(), *(wheels / "gamma").iterdir()]
    made = cli("plan", *planned_wheels, "--prefer", "gamma", "--python", target, "-o", plan)
    assert made.returncode == 0, made.stderr
    assert "old: 1 file lost to gamma" in made.stdout
    applied = cli("apply", plan, "--quiet")
    assert applied.returncode == 0, applied.stderr
    env = target.parent.parent
    assert (env / PURELIB / "ns/x.py").read_bytes() == b"new\n"
    assert "ns/x.py" not in (env / PURELIB / "old-1.0.dist-info/RECORD").read_text()


def test_a_kept_distribution_that_shares_a_won_file_keeps_its_row(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """old shares nv/x.py's bytes with a, which wins it from b, and loses nv/y.py to a:
    its RECORD is rewritten without nv/y.py alone, and the file it shares stays listed
    there, as its own."""
    old = {"nv/x.py": b"same\n", "nv/y.py": b"old\n", "old/__init__.py": b""}
    wheels = {
        "a": {"nv/x.py": b"same\n", "nv/y.py": b"a\n", "a/__init__.py": b""},
        "b": {"nv/x.py": b"b\n", "b/__init__.py": b""},
    }
    plan, review = _planned_over_old(tmp_path, target, cli, old, wheels)
    assert "old: 1 file lost to a" in review
    applied = cli("apply", plan, "--quiet")
    assert applied.returncode == 0, applied.stderr
    record = (target.parent.parent / PURELIB / "old-1.0.dist-info/RECORD").read_text()
    assert ("nv/x.py," in record, "nv/y.py," in record) == (True, False)
