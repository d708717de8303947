"""Planning against an installed environment, and applying as one transaction.

Every end state is compared, byte for byte and mode for mode, with the tree a fresh
install of the same set produces at the same path: an upgrade, a downgrade, a
removal or a sync must leave nothing behind and miss nothing.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from applier import journal, recovery
from planner.journalnames import JOURNAL_DIR
from planner.paths import printable
from tests.conftest import REPO, exact_snapshot, give_to_another_user, run_cli, snapshot
from tests.deeptrees import DEPTH, DeepTree
from tests.hostile import recompute_digest
from tests.realwheels import JWT_VERSIONS, NVIDIA
from tests.txsupport import (
    JOURNAL_FOUND,
    RECOVER_HINT,
    REPRODUCIBLE,
    checkpoints,
    diff,
    folder_mtimes,
    fresh_tree,
    has_journal,
    install,
    installed_by_metadata,
    missing_recorded_files,
    ok,
    pip_list,
    rebuild_env,
    refused,
    refused_unchanged,
    save_plan,
    sigterm_at,
    stopped_apply,
    swap_wheels,
    upgrade_planned,
)
from tests.wheelfactory import Member, WheelSpec, build_wheel

SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def plan_data(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def edited_to_remove(plan: Path, path: str) -> None:
    """Add to `plan`, which removes `mine`, a removal of `path` by it, with the digest
    made again, as an edit by hand would."""
    data = plan_data(plan)
    data["files"].append({"action": "remove", "owners": ["mine"], "path": path, "reason": "edited"})
    data["files"].sort(key=lambda entry: entry["path"])
    plan.write_text(json.dumps(recompute_digest(data)))


def actions_of(plan: dict[str, Any]) -> dict[str, str]:
    return {dist["name"]: dist["action"] for dist in plan["distributions"]}


def removals_of(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in plan["files"] if entry["action"] == "remove"}


@pytest.mark.parametrize("compile_bytecode", [False, True], ids=["sources", "bytecode"])
def test_upgrade_and_downgrade_give_the_tree_of_a_fresh_install(
    tmp_path: Path, real_wheels, compile_bytecode: bool
) -> None:
    old, new = real_wheels(JWT_VERSIONS)
    env_dir = tmp_path / "env"
    options = ["--compile-bytecode"] if compile_bytecode else []
    fresh_new = fresh_tree(env_dir, [new], *options, env=REPRODUCIBLE)
    fresh_old = fresh_tree(env_dir, [old], *options, env=REPRODUCIBLE)

    python = rebuild_env(env_dir)
    install(python, [old], *options, env=REPRODUCIBLE)
    assert diff(snapshot(env_dir), fresh_old) == []
    if not compile_bytecode:
        # Bytecode the interpreter caches at import time, at every optimisation level:
        # in no RECORD, but it belongs to the sources and must go with them.
        caching = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for flags in ([], ["-O"], ["-OO"]):
            subprocess.run([str(python), *flags, "-c", "import jwt"], check=True, env=caching)
        assert list((env_dir / SITE / "jwt" / "__pycache__").glob("*.opt-2.pyc"))

    plan = tmp_path / "upgrade.json"
    save_plan(python, plan, [new])
    data = plan_data(plan)
    assert actions_of(data) == {"pyjwt": "upgrade"}
    removals = removals_of(data)
    assert f"{SITE}/PyJWT-2.8.0.dist-info/RECORD" in removals
    for path, entry in removals.items():
        reason = str(entry["reason"])
        if "/__pycache__/" in path:
            assert reason.startswith("bytecode of ") or "2.8.0 is replaced by 2.15.1" in reason
        else:
            assert reason == "PyJWT 2.8.0 is replaced by 2.15.1", (path, reason)
    ok("apply", plan, "--quiet", *options, env=REPRODUCIBLE)
    assert diff(snapshot(env_dir), fresh_new) == []
    assert installed_by_metadata(python) == {"pyjwt": "2.15.1"}

    install(python, [old], *options, env=REPRODUCIBLE)  # the downgrade
    assert diff(snapshot(env_dir), fresh_old) == []
    assert installed_by_metadata(python) == {"pyjwt": "2.8.0"}


def test_same_version_is_unchanged_unless_reinstalled(tmp_path: Path, real_wheels) -> None:
    (new,) = real_wheels(JWT_VERSIONS[1:])
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [new], "--compile-bytecode", env=REPRODUCIBLE)
    before, untouched = snapshot(env_dir), exact_snapshot(env_dir)

    plan = tmp_path / "again.json"
    save_plan(python, plan, [new])
    data = plan_data(plan)
    assert actions_of(data) == {"pyjwt": "unchanged"}
    assert data["files"] == [] and data["units"] == []
    ok("apply", plan, "--quiet", "--compile-bytecode", env=REPRODUCIBLE)
    assert diff(exact_snapshot(env_dir), untouched) == []

    save_plan(python, plan, [new], "--reinstall")
    data = plan_data(plan)
    assert actions_of(data) == {"pyjwt": "reinstall"}
    # Every old file is rewritten; only the old bytecode goes (the apply may recompile it).
    reasons = {path: entry["reason"] for path, entry in removals_of(data).items()}
    assert reasons
    assert all("/__pycache__/" in path for path in reasons)
    assert set(reasons.values()) == {"PyJWT 2.15.1 is reinstalled"}
    ok("apply", plan, "--quiet", "--compile-bytecode", env=REPRODUCIBLE)
    assert diff(snapshot(env_dir), before) == []


@pytest.mark.parametrize("rebuilt", ["fewer files", "other data", "new wrapper", "other script"])
def test_a_rebuilt_wheel_of_the_installed_version_is_reinstalled_not_unchanged(
    tmp_path: Path, rebuilt: str
) -> None:
    """Only members outside `.data` were compared with the installed RECORD: a wheel of
    the same version without a file, or with other `.data` bytes or entry points, was
    "unchanged", and the environment kept what a fresh install would not have."""
    files = {
        "rb/__init__.py": b"",
        "rb/extra.py": b"",
        "rb-1.0.data/data/share/rb.txt": b"one",
        "rb-1.0.data/scripts/plain": b"#!/bin/sh\necho one\n",
    }
    first = build_wheel(WheelSpec("rb", files=files), tmp_path / "first")
    if rebuilt == "fewer files":
        spec = WheelSpec("rb", files={k: v for k, v in files.items() if k != "rb/extra.py"})
    elif rebuilt == "other data":
        spec = WheelSpec("rb", files={**files, "rb-1.0.data/data/share/rb.txt": b"two"})
    elif rebuilt == "other script":  # copied as it is: no `#!python` line to rewrite
        spec = WheelSpec("rb", files={**files, "rb-1.0.data/scripts/plain": b"#!/bin/sh\necho 2\n"})
    else:
        spec = WheelSpec("rb", files=files, entry_points="[console_scripts]\nrb = rb:main\n")
    second = build_wheel(spec, tmp_path / "second")
    env_dir = tmp_path / "env"
    expected = fresh_tree(env_dir, [second])
    python = rebuild_env(env_dir)
    install(python, [first])
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [second])
    assert actions_of(plan_data(plan)) == {"rb": "reinstall"}
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), expected) == []
    # The very same wheel again is unchanged, and so is a rebuild with the same files.
    save_plan(python, plan, [second])
    assert actions_of(plan_data(plan)) == {"rb": "unchanged"}


def test_a_script_two_wheels_ship_is_shared_one_install_after_the_other(
    tmp_path: Path,
) -> None:
    """A `#!python` script is installed with its first line rewritten, so its RECORD
    hash is not the wheel's: installed together, two wheels shipping it shared it;
    one after the other, the second was refused as different content."""
    wheels = tmp_path / "wheels"
    alpha, eps = (
        build_wheel(
            WheelSpec(
                name,
                files={
                    f"{name}/__init__.py": b"",
                    f"{name}-1.0.data/scripts/run": b"#!python\nprint('run')\n",
                },
            ),
            wheels,
        )
        for name in ("alpha", "eps")
    )
    env_dir = tmp_path / "env"
    together = fresh_tree(env_dir, [alpha, eps])
    python = rebuild_env(env_dir)
    install(python, [alpha])
    install(python, [eps])
    assert diff(snapshot(env_dir), together) == []
    install(python, [eps], "--reinstall")
    assert diff(snapshot(env_dir), together) == []
    ok("uninstall", "alpha", "--python", python, "--quiet")
    assert (env_dir / "bin" / "run").read_bytes().startswith(b"#!" + bytes(python))
    ok("verify", "--python", python)


def test_the_same_prefer_install_again_changes_nothing(tmp_path: Path) -> None:
    """A --prefer loser's RECORD no longer lists the file it lost: its wheel then never
    counted as unchanged, and the same command again was refused."""
    wheels = tmp_path / "wheels"
    both = [
        build_wheel(
            WheelSpec(
                name,
                files={
                    f"{name}/__init__.py": b"",
                    f"{name}-1.0.data/data/share/common.txt": name.encode(),
                },
            ),
            wheels,
        )
        for name in ("aa", "bb")
    ]
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, both, "--prefer", "aa")
    plan = tmp_path / "again.json"
    save_plan(python, plan, both, "--prefer", "aa")
    assert actions_of(plan_data(plan)) == {"aa": "unchanged", "bb": "unchanged"}
    assert (env_dir / "share" / "common.txt").read_bytes() == b"aa"


@pytest.mark.parametrize("winner", ["planned", "installed"])
def test_the_same_prefer_install_again_changes_nothing_for_an_entry_point(
    tmp_path: Path, winner: str
) -> None:
    """A console script lost to a --prefer winner is excused as a lost member file is:
    the loser's wheel was a reinstall every time, which wrote its other files again."""
    wheels = tmp_path / "wheels"
    aa, bb = (
        build_wheel(
            WheelSpec(
                name,
                files={f"{name}/__init__.py": b"def main(): pass\n"},
                entry_points=f"[console_scripts]\ntool = {name}:main\n",
            ),
            wheels,
        )
        for name in ("aa", "bb")
    )
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    planned = [aa, bb] if winner == "planned" else [bb]
    if winner == "installed":
        install(python, [aa])
    install(python, planned, "--prefer", "aa")
    plan = tmp_path / "again.json"
    save_plan(python, plan, planned, "--prefer", "aa")
    assert set(actions_of(plan_data(plan)).values()) == {"unchanged"}
    assert b"from aa import main" in (env_dir / "bin" / "tool").read_bytes()
    ok("verify", "--python", python)


def test_a_script_too_large_to_read_back_is_refused_naming_it(tmp_path: Path) -> None:
    """A `#!python` script is read back to compare it with one installed; past 16 MiB it
    is not, and the refusal says so rather than calling the bytes different."""
    body = b"#!python\n" + random.Random(0).randbytes(16 * 2**20)
    wheels = tmp_path / "wheels"
    one, two = (
        build_wheel(WheelSpec(name, files={f"{name}-1.0.data/scripts/big-tool": body}), wheels)
        for name in ("bigone", "bigtwo")
    )
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [one])
    assert refused_unchanged(env_dir, "install", two, "--python", python) == (
        "error: bin/big-tool: bigone 1.0 (installed) lists it, and 'bigtwo-1.0.data/scripts/"
        "big-tool' of bigtwo-1.0-py3-none-any.whl cannot be read back to compare (larger"
        " than 16 MiB, or the wheel changed); upgrade or remove bigone too, or --prefer bigtwo,"
        " or --prefer bigone to keep its file\n"
    )
    install(python, [two], "--prefer", "bigtwo")
    ok("verify", "--python", python)


def test_the_same_bytes_with_another_mode_are_refused_one_install_after_the_other(
    tmp_path: Path,
) -> None:
    """Installed together, two wheels whose file differs by its mode alone are refused;
    one after the other, the second changed the first's file to its own mode, and
    removing it left that mode behind."""
    wheels = tmp_path / "wheels"
    mx, my = (
        build_wheel(
            WheelSpec(name, files={"shared/s.sh": Member("shared/s.sh", b"echo\n", mode=mode)}),
            wheels,
        )
        for name, mode in (("mx", 0o644), ("my", 0o755))
    )
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    assert (
        "the same bytes with different file modes"
        in refused("install", mx, my, "--python", python).stderr
    )
    install(python, [mx])
    assert refused_unchanged(env_dir, "install", my, "--python", python) == (
        f"error: {SITE}/shared/s.sh: mx 1.0 (installed) has the same bytes as my"
        " (my-1.0-py3-none-any.whl) with another file mode; upgrade or remove mx too, or"
        " --prefer my, or --prefer mx to keep its file\n"
    )


@pytest.mark.parametrize("first", ["script", "data"])
def test_a_rewritten_script_and_a_data_file_of_its_bytes_are_refused_one_after_the_other(
    tmp_path: Path, first: str
) -> None:
    """A `.data/scripts` file is written with its `#!python` line rewritten, a
    `.data/data/bin` file of the same bytes as it is. Installed together they are
    refused; the script installed after the data file overwrote it, and `verify` then
    found the two RECORDs listing `bin/tool` with different hashes."""
    text = b"#!python\nprint('tool')\n"
    data_member = Member("data-1.0.data/data/bin/tool", text, mode=0o755)
    wheels = {
        "script": WheelSpec("script", files={"script-1.0.data/scripts/tool": text}),
        "data": WheelSpec("data", files={data_member.path: data_member}),
    }
    paths = {name: build_wheel(spec, tmp_path / "wheels") for name, spec in wheels.items()}
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    assert "different content" in refused("install", *paths.values(), "--python", python).stderr
    (second,) = set(wheels) - {first}
    install(python, [paths[first]])
    before = exact_snapshot(env_dir)
    result = refused("install", paths[second], "--python", python)
    assert result.stderr == (
        f"error: bin/tool: {first} 1.0 (installed) has different content than {second}"
        f" ({second}-1.0-py3-none-any.whl); upgrade or remove {first} too,"
        f" or --prefer {second}, or --prefer {first} to keep its file\n"
    )
    assert exact_snapshot(env_dir) == before
    ok("verify", "--python", python)


def test_remove_and_sync(tmp_path: Path, real_wheels) -> None:
    six, idna, jwt = real_wheels(("six==1.16.0", "idna==3.7", JWT_VERSIONS[1]))
    env_dir = tmp_path / "env"
    only_six = fresh_tree(env_dir, [six])
    empty = fresh_tree(env_dir, [])
    python = rebuild_env(env_dir)
    install(python, [six, idna, jwt])

    plan = tmp_path / "sync.json"
    save_plan(python, plan, [six], "--sync")
    data = plan_data(plan)
    assert actions_of(data) == {"six": "unchanged", "idna": "remove", "pyjwt": "remove"}
    reasons = {str(entry["reason"]) for entry in removals_of(data).values()}
    # Named as the distribution names itself (PyJWT), as the review names it.
    assert reasons == {"idna 3.7 is removed (--sync)", "PyJWT 2.15.1 is removed (--sync)"}
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), only_six) == []

    ok("install", "--remove", "six", "--python", python, "--quiet")
    assert diff(snapshot(env_dir), empty) == []
    # A name not installed is skipped with a warning, as pip and uv skip it.
    result = run_cli("plan", "--remove", "six", "--python", python)
    assert result.returncode == 0
    assert "Warnings:\n  six: not installed in the target; nothing to remove\n" in result.stdout


def test_removal_needs_a_record_and_leaves_what_its_rows_name_outside(
    tmp_path: Path, real_wheels
) -> None:
    """A RECORD row leading outside the environment (relative, or absolute) names no
    file of it: a reinstall and a removal leave that file, and say so."""
    (six,) = real_wheels(("six==1.16.0",))
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [six])
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    record = env_dir / SITE / "six-1.16.0.dist-info" / "RECORD"
    rows = ["../../../../outside.txt", str(outside)]
    extra = "".join(f"{row},,\n" for row in rows)
    record.write_text(record.read_text() + extra)
    left = (
        "six 1.16.0: its RECORD lists '../../../../outside.txt', "
        f"{str(outside)!r} outside the environment; left as it is"
    )
    for change in (("install", six, "--reinstall"), ("uninstall", "six")):
        changed = run_cli(*change, "--python", python, "--quiet")
        assert (changed.returncode, changed.stderr) == (0, f"warning: {left}\n")
        assert outside.read_text() == "keep"
        if change[0] == "install":  # its new RECORD lists the rows no more: again
            record.write_text(record.read_text() + extra)
    assert not list((env_dir / SITE).iterdir())

    install(python, [six])
    record.unlink()
    before = exact_snapshot(env_dir)
    result = refused("plan", "--remove", "six", "--python", python)
    assert "cannot remove: it has no RECORD" in result.stderr
    assert exact_snapshot(env_dir) == before


def test_a_record_missing_or_unreadable_is_said_so_naming_another_installer(
    tmp_path: Path, real_wheels
) -> None:
    """A .dist-info with no RECORD is refused, as pip 26.3 refuses it ('no RECORD file
    was found for six'), and like pip's hint ('The package was installed by debian. You
    should check if it can uninstall the package.') the refusal names the tool its
    INSTALLER names, unless pip, uv or wheelplan, which remove by RECORD alone. A RECORD
    that is there but cannot be read is said so: it was refused as having none."""
    (six,) = real_wheels(("six==1.16.0",))
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [six])
    folder = env_dir / SITE / "six-1.16.0.dist-info"
    where = f"error: {SITE}/six-1.16.0.dist-info: cannot remove:"
    record = (folder / "RECORD").read_bytes()
    (folder / "RECORD").write_bytes(record.replace(b"six.py", b"s\xefx.py"))
    at = record.index(b"six.py") + 1
    said = refused_unchanged(env_dir, "uninstall", "six", "--python", python)
    assert said == f"{where} its RECORD is not UTF-8 text (at byte {at})\n"

    (folder / "RECORD").unlink()
    for installer, hint in [
        ("pip", ""),
        ("uv\n", ""),
        ("debian\n", " (installed by debian, which may remove it)"),
        ("conda\x1b\n", " (installed by conda\\x1b, which may remove it)"),
    ]:
        (folder / "INSTALLER").write_text(installer)
        said = refused_unchanged(env_dir, "uninstall", "six", "--python", python)
        assert said == f"{where} it has no RECORD{hint}\n"


def test_a_blank_line_in_an_installed_record_is_no_row(tmp_path: Path) -> None:
    """A RECORD with blank lines (edited by hand, or by a tool that ends it with one more
    line break) is read as the rows it has: it refused every plan and verify on the
    environment as 'not valid CSV', where uv 0.13.9 uninstalls it (pip 23.2 fails with
    an IndexError)."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    empty = snapshot(env_dir)
    install(python, [mine])
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    rows = record.read_text().splitlines(keepends=True)
    record.write_text("".join([rows[0], "\n", *rows[1:], " \n"]))
    assert "no problems" in ok("verify", "--python", python)
    ok("uninstall", "mine", "--python", python, "--quiet")
    assert diff(snapshot(env_dir), empty) == []


def test_a_byte_order_mark_before_an_installed_record_is_no_part_of_its_first_row(
    tmp_path: Path,
) -> None:
    """A RECORD saved by an editor that puts a UTF-8 byte order mark first is read past
    it, as uv 0.13.9 reads it: its first row named '\ufeffmine/__init__.py', so verify
    found that missing and mine/__init__.py unowned, the uninstall left the file, and
    the upgrade was refused as writing over a file of nobody's (pip 26.3 uninstalls
    leaving it, as it did; uv 0.13.9 removes and upgrades it)."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"}), wheels)
    new = build_wheel(WheelSpec("mine", "2.0", files={"mine/__init__.py": b"MINE = 2\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    empty = snapshot(env_dir)

    def install_marked() -> None:
        install(python, [old])
        record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
        rows = sorted(
            record.read_text().splitlines(keepends=True),
            key=lambda row: not row.startswith("mine/__init__.py,"),
        )
        record.write_text("\ufeff" + "".join(rows), encoding="utf-8")

    install_marked()
    assert "no problems" in ok("verify", "--python", python)
    ok("uninstall", "mine", "--python", python, "--quiet")
    assert diff(snapshot(env_dir), empty) == []
    install_marked()
    ok("install", new, "--python", python, "--quiet")
    assert (env_dir / SITE / "mine" / "__init__.py").read_text() == "MINE = 2\n"
    assert "no problems" in ok("verify", "--python", python)


def _other_installed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A venv with `other` installed, and the wheel of `mine`: (venv, python, wheel)."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"}), wheels)
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b"OTHER = 1\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [other])
    return env_dir, python, mine


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("other/evil\x1b.py,,", "row 'other/evil\\x1b.py' contains a NUL or control character"),
        ("other/more.py,,,", "row 8 is not a path, a hash and a size"),
        # Quoted, a line break is the path's: not a row for other/ab.py.
        ('"other/a\nb.py",,', "row 'other/a\\nb.py' contains a NUL or control character"),
    ],
    ids=["control character", "four fields", "line break"],
)
def test_a_damaged_record_stops_only_plans_that_change_its_distribution(
    tmp_path: Path, row: str, why: str
) -> None:
    """A RECORD row that names no path a file may have, or a RECORD that cannot be read
    past a row, makes its distribution's files unknown: it is neither replaced nor
    removed, but it once refused every plan and `verify` on the environment, so that
    neither another distribution nor anything at all could be uninstalled or checked."""
    env_dir, python, mine = _other_installed(tmp_path)
    record = env_dir / SITE / "other-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"{row}\n")
    only_other = snapshot(env_dir)
    install(python, [mine])

    ok("uninstall", "mine", "--python", python, "--quiet")
    assert diff(snapshot(env_dir), only_other) == []
    stderr = refused_unchanged(env_dir, "uninstall", "other", "--python", python)
    assert stderr == f"error: {SITE}/other-1.0.dist-info: cannot remove: its RECORD {why}\n"
    (env_dir / SITE / "other" / "__init__.py").unlink()  # its rows before are still checked
    result = run_cli("verify", "--python", python)
    assert result.returncode == 1
    assert sorted(result.stderr.splitlines()) == [
        f"error: {env_dir / SITE}/other-1.0.dist-info: other 1.0: its RECORD {why}; its files"
        " cannot be verified",
        f"error: {env_dir / SITE}/other/__init__.py: missing (listed in the RECORD of other 1.0)",
    ]


def test_the_rows_after_a_bad_record_row_still_own_their_files(tmp_path: Path) -> None:
    """A row of four fields ahead of others once hid every row after it: their files
    were reported as belonging to no distribution (verify: 'unowned', a plan: 'remove
    or move it'), and the RECORD itself as a file that would stay, though it lists them."""
    env_dir, python, _ = _other_installed(tmp_path)
    record = env_dir / SITE / "other-1.0.dist-info" / "RECORD"
    record.write_text("other/more.py,,,\n\n" + record.read_text())
    before = snapshot(env_dir)

    stderr = refused_unchanged(env_dir, "uninstall", "other", "--python", python)
    why = "its RECORD row 1 is not a path, a hash and a size"
    assert stderr == f"error: {SITE}/other-1.0.dist-info: cannot remove: {why}\n"
    result = run_cli("verify", "--python", python)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {env_dir / SITE}/other-1.0.dist-info: other 1.0: {why}; its files cannot"
        " be verified\n"
    )
    clash = build_wheel(WheelSpec("clash", files={"other/__init__.py": b"CLASH\n"}), tmp_path)
    stderr = refused_unchanged(env_dir, "install", clash, "--python", python)
    assert "belongs to no distribution" not in stderr
    assert "other 1.0 (installed)" in stderr
    assert diff(snapshot(env_dir), before) == []


@pytest.mark.parametrize(
    "row", ["other", "other/", ".", "", "../../../lib", "../../../bin", "../../..//lib"]
)
def test_a_record_row_naming_a_folder_removes_nothing_in_it(tmp_path: Path, row: str) -> None:
    """A RECORD lists files; a row naming a folder (damaged, or hostile) once took the
    whole folder with the distribution: another's package, site-packages, `lib`, `bin`."""
    env_dir, python, mine = _other_installed(tmp_path)
    only_other = snapshot(env_dir)
    install(python, [mine])
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"{row},,\n")

    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "mine")
    removed = {entry["path"] for entry in plan_data(plan)["files"]}
    assert removed == {
        f"{SITE}/mine/__init__.py",
        *(f"{SITE}/mine-1.0.dist-info/{name}" for name in ("INSTALLER", "METADATA", "RECORD")),
        *(f"{SITE}/mine-1.0.dist-info/{name}" for name in ("REQUESTED", "WHEEL")),
        f"{SITE}/mine-1.0.dist-info/direct_url.json",
    }
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), only_other) == []
    assert pip_list(python) == {"other": "1.0"}


@pytest.mark.parametrize("how", ["remove", "upgrade", "reinstall"])
def test_metadata_its_record_does_not_list_goes_with_the_distribution(
    tmp_path: Path, how: str
) -> None:
    """A RECORD that leaves out rows of its own .dist-info (another installer's, or
    edited) once left that folder behind: an uninstall reported the distribution gone
    while importlib.metadata still found it, and an upgrade left two versions of it."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"OLD = 1\n"}), wheels)
    new = build_wheel(
        WheelSpec("mine", version="2.0", files={"mine/__init__.py": b"NEW = 1\n"}), wheels
    )
    env_dir = tmp_path / "env"
    expected = fresh_tree(env_dir, {"remove": [], "upgrade": [new], "reinstall": [old]}[how])
    python = rebuild_env(env_dir)
    install(python, [old])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    record = dist_info / "RECORD"
    rows = record.read_text().splitlines(keepends=True)
    record.write_text("".join(row for row in rows if not row.startswith("mine-1.0.dist-info/M")))
    (dist_info / "extra").mkdir()
    (dist_info / "extra" / "notes.txt").write_text("left by another tool\n")

    if how == "remove":
        ok("install", "--remove", "mine", "--python", python, "--quiet")
    else:
        install(python, [{"upgrade": new, "reinstall": old}[how]], "--reinstall")
    assert diff(snapshot(env_dir), expected) == []
    assert installed_by_metadata(python) == (
        {} if how == "remove" else {"mine": "2.0" if how == "upgrade" else "1.0"}
    )
    ok("verify", "--python", python)


def test_a_metadata_folder_linked_inside_the_environment_is_not_removed_through_the_link(
    tmp_path: Path,
) -> None:
    """Removing a distribution whose .dist-info is a symlink to a folder in the venv
    took its files through the link, then the apply's `rmdir` of the link failed, and
    so did the rollback, leaving a journal. A plan is refused now, and so is one made
    before the folder became a link."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"OLD = 1\n"}), wheels)
    new = build_wheel(WheelSpec("mine", version="2.0", files={"mine/__init__.py": b""}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [old])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "mine")
    dist_info.rename(env_dir / "meta")
    dist_info.symlink_to(os.path.relpath(env_dir / "meta", dist_info.parent))
    before = exact_snapshot(env_dir)
    why = "cannot remove mine 1.0: its metadata folder is a symlink; remove it by hand"
    for args in (["--remove", "mine"], [str(new)]):
        result = refused("install", *args, "--python", python)
        assert result.stderr == f"error: {SITE}/mine-1.0.dist-info: {why}\n"
    result = refused("apply", plan)
    assert result.stderr == (
        f"error: {SITE}/mine-1.0.dist-info: {SITE}/mine-1.0.dist-info is in the target but"
        " the plan expected it absent; plan again\n"
    )
    assert exact_snapshot(env_dir) == before


def test_an_emptied_folder_that_became_a_link_is_left_and_the_apply_completes(
    tmp_path: Path,
) -> None:
    """The apply removes the folders its removals empty; one that a symlink replaced
    since the plan was made failed `rmdir`, and its rollback with it."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/sub/__init__.py": b""}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "mine")
    package = env_dir / SITE / "mine"
    package.rename(env_dir / "real")
    package.symlink_to(os.path.relpath(env_dir / "real", package.parent))
    ok("apply", plan, "--quiet")
    assert not has_journal(env_dir)
    assert package.is_symlink() and list((env_dir / "real").iterdir()) == []
    assert not (env_dir / SITE / "mine-1.0.dist-info").exists()


@pytest.mark.parametrize(
    "what",
    [
        "another's file",
        "unnamable folder",
        "linked folder",
        "added file",
        "file in an empty folder",
    ],
)
def test_a_metadata_folder_that_would_stay_behind_is_refused(tmp_path: Path, what: str) -> None:
    """What the removals do not empty keeps a .dist-info, which then still names the
    distribution removed: a file another RECORD lists in it, an empty folder no plan
    can name, a symlinked folder that listed files are reached through, a file added
    after the plan was made (into an empty folder the plan removes, too)."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), wheels)
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b""}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine, other])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    plan = tmp_path / "remove.json"
    if what in ("added file", "file in an empty folder"):
        if what == "file in an empty folder":
            (dist_info / "licenses" / "sub").mkdir(parents=True)
        save_plan(python, plan, [], "--remove", "mine")
        left = dist_info / ("notes" if what == "added file" else "licenses/sub/notes")
        left.write_text("")
        remedy = "is in the target but the plan expected it absent"
        before = exact_snapshot(env_dir)
        result = refused("apply", plan)
    else:
        left = dist_info / "licenses"
        remedy = (
            "would stay in this metadata folder, which would then still name a distribution"
            " that is gone"
        )
        if what == "unnamable folder":
            left = left / "a\nb"
            left.mkdir(parents=True)
        elif what == "another's file":
            (left / "sub").mkdir(parents=True)  # empty, it would go
            left = left / "NOTICE"
            left.write_text("")
            record = env_dir / SITE / "other-1.0.dist-info" / "RECORD"
            with record.open("a") as rows:
                rows.write("mine-1.0.dist-info/licenses/NOTICE,,\n")
        else:
            (env_dir / "lic").mkdir()
            (env_dir / "lic" / "LICENSE").write_text("MIT\n")
            left.symlink_to(os.path.relpath(env_dir / "lic", dist_info))
            with (dist_info / "RECORD").open("a") as record:
                record.write("mine-1.0.dist-info/licenses/LICENSE,,\n")
        before = exact_snapshot(env_dir)
        result = refused("uninstall", "mine", "--python", python)
    assert exact_snapshot(env_dir) == before
    folder = f"{SITE}/mine-1.0.dist-info"
    shown = printable(str(left.relative_to(env_dir)))
    assert result.stderr.startswith(f"error: {folder}: {shown} {remedy}")
    assert result.stderr.count("\n") == 1
    assert pip_list(python) == {"mine": "1.0", "other": "1.0"}


def _with_empty_folders(dist_info: Path) -> list[str]:
    """Empty folders made in `dist_info`: one beside a listed file, and a chain holding
    nothing at any depth; their paths as a review names them."""
    (dist_info / "licenses" / "sub").mkdir(parents=True)
    (dist_info / "empty" / "deeper").mkdir(parents=True)
    made = ["empty", "empty/deeper", "licenses/sub"]
    return [f"{SITE}/{dist_info.name}/{path}" for path in made]


@pytest.mark.parametrize("how", ["remove", "upgrade"])
def test_empty_folders_in_a_metadata_folder_go_with_it(tmp_path: Path, how: str) -> None:
    """pip removes a .dist-info whole when every file in it goes, empty subfolders and
    all; a plan was refused, naming the first such folder as one that would stay. The
    review lists them among the removals."""
    wheels = tmp_path / "wheels"
    license_file = {"mine-1.0.dist-info/licenses/LICENSE": b"MIT\n"}
    old = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"", **license_file}), wheels)
    new = build_wheel(
        WheelSpec("mine", version="2.0", files={"mine/__init__.py": b"V = 2\n"}), wheels
    )
    env_dir = tmp_path / "env"
    expected = fresh_tree(env_dir, [] if how == "remove" else [new])
    python = rebuild_env(env_dir)
    install(python, [old])
    empty = _with_empty_folders(env_dir / SITE / "mine-1.0.dist-info")
    plan = tmp_path / "plan.json"
    save_plan(python, plan, *(([], "--remove", "mine") if how == "remove" else ([new],)))
    review = ok("show", plan)
    for path in empty:
        assert f"\n  {path}/: an empty folder in the metadata folder that goes\n" in review
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), expected) == []
    assert installed_by_metadata(python) == ({} if how == "remove" else {"mine": "2.0"})
    ok("verify", "--python", python)


def test_an_empty_folder_a_plan_removes_that_became_a_link_out_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    """An empty folder of a metadata folder that goes, made a symlink to a folder
    outside since the plan was made: the removal of what is in it would reach outside.
    The apply is refused, naming the link as one that leads out, and changes nothing."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "w")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    _with_empty_folders(dist_info)
    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "mine")
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    (dist_info / "empty" / "deeper").rmdir()
    (dist_info / "empty").rmdir()
    (dist_info / "empty").symlink_to(outside)
    before = exact_snapshot(env_dir)
    folder = f"{SITE}/mine-1.0.dist-info"
    assert refused("apply", plan).stderr == (
        f"error: {folder}: {folder}/empty is no longer an empty folder; plan again\n"
        f"error: {folder}/empty: leads outside the environment (a symlink)\n"
    )
    assert exact_snapshot(env_dir) == before
    assert list(outside.iterdir()) == [outside / "deeper"]


@pytest.mark.parametrize("how", ["reinstall", "uninstall", "none"])
def test_the_summary_counts_the_empty_folders_taken_from_a_metadata_folder(
    tmp_path: Path, how: str
) -> None:
    """A reinstall that took only empty folders said `0 removed`: they are counted
    apart, as no file is one, and only when there are some."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    if how != "none":
        _with_empty_folders(env_dir / SITE / "mine-1.0.dist-info")
    command = ["install", mine, "--reinstall"] if how == "reinstall" else ["uninstall", "mine"]
    summary = ok(*command, "--python", python).splitlines()[0]
    # empty, empty/deeper, licenses/sub and licenses, which holds only that.
    written, removed = {
        "reinstall": (7, "0 removed (and 4 empty folders)"),
        "uninstall": (0, "7 removed (and 4 empty folders)"),
        "none": (0, "7 removed"),
    }[how]
    assert re.fullmatch(
        rf"applied 1 distribution to {re.escape(str(env_dir))}: {written} files written"
        rf" \([\d.]+ [KMG]?B\), {re.escape(removed)}, in [\d.]+ s",
        summary,
    ), summary


@pytest.mark.parametrize("how", ["--reinstall", "rebuilt"])
def test_empty_folders_in_a_reinstalled_metadata_folder_go_unless_it_needs_them(
    tmp_path: Path, how: str
) -> None:
    """pip's uninstall of the old copy takes its .dist-info whole, empty subfolders and
    all, before the same version is written into the same folder name; they stayed. A
    folder the new files are written into, or below, is kept, as a fresh install has it."""
    wheels = tmp_path / "wheels"
    files = {"mine/__init__.py": b"", "mine-1.0.dist-info/licenses/LICENSE": b"MIT\n"}
    old = build_wheel(WheelSpec("mine", files=files), wheels)
    new = old
    if how == "rebuilt":
        files = {**files, "mine-1.0.dist-info/empty/deeper/more/NOTICE": b"N\n"}
        new = build_wheel(WheelSpec("mine", files=files), tmp_path / "rebuilt")
    env_dir = tmp_path / "env"
    expected = fresh_tree(env_dir, [new])
    python = rebuild_env(env_dir)
    install(python, [old])
    empty = _with_empty_folders(env_dir / SITE / "mine-1.0.dist-info")
    going = empty if how == "--reinstall" else empty[2:]  # empty/deeper/more/ is written
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [new], *([how] if how == "--reinstall" else []))
    data = plan_data(plan)
    assert actions_of(data) == {"mine": "reinstall"}
    assert data["removed_directories"] == going
    review = ok("show", plan)
    for path in going:
        assert f"\n  {path}/: an empty folder in the old metadata folder of a reinstall\n" in review
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), expected) == []
    assert installed_by_metadata(python) == {"mine": "1.0"}
    ok("verify", "--python", python)


def test_a_reinstall_keeps_an_empty_folder_holding_one_no_plan_can_name(tmp_path: Path) -> None:
    """Named in the plan, a folder holding `a\\nb/` would be found holding it by the
    apply's own check: the reinstall leaves both, as it left every such folder."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir, plan = tmp_path / "env", tmp_path / "plan.json"
    python = rebuild_env(env_dir)
    install(python, [mine])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    (dist_info / "empty" / "a\nb").mkdir(parents=True)
    (dist_info / "licenses" / "sub").mkdir(parents=True)
    save_plan(python, plan, [mine], "--reinstall")
    assert plan_data(plan)["removed_directories"] == [
        f"{SITE}/mine-1.0.dist-info/licenses",
        f"{SITE}/mine-1.0.dist-info/licenses/sub",
    ]
    ok("apply", plan, "--quiet")
    assert (dist_info / "empty" / "a\nb").is_dir() and not (dist_info / "licenses").exists()
    ok("verify", "--python", python)


RESERVED = ".wheelplan-backup-0123456789abcdef"


def test_a_reinstall_keeps_an_empty_folder_with_a_name_wheelplan_reserves(tmp_path: Path) -> None:
    """The apply refuses a plan naming a folder in the journal's backup names, so the
    reinstall leaves it (and the folder holding it), as one no plan can name; the plan
    was refused at every apply, with no way forward."""
    files = {"mine/__init__.py": b"", "mine-1.0.dist-info/licenses/LICENSE": b"MIT\n"}
    mine = build_wheel(WheelSpec("mine", files=files), tmp_path / "wheels")
    env_dir, plan = tmp_path / "env", tmp_path / "plan.json"
    python = rebuild_env(env_dir)
    install(python, [mine])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    (dist_info / RESERVED).mkdir()
    (dist_info / "empty" / RESERVED).mkdir(parents=True)
    (dist_info / "alone").mkdir()
    save_plan(python, plan, [mine], "--reinstall")
    assert plan_data(plan)["removed_directories"] == [f"{SITE}/mine-1.0.dist-info/alone"]
    ok("apply", plan, "--quiet")
    assert (dist_info / RESERVED).is_dir() and (dist_info / "empty" / RESERVED).is_dir()
    assert not (dist_info / "alone").exists()
    # No journal is ever there (only at the top of a mount): an empty folder, which
    # verify passes over, as any other, where it once said a journal was left.
    ok("verify", "--python", python)


def test_verify_takes_a_backup_named_folder_for_a_journal_only_where_one_can_be(
    tmp_path: Path,
) -> None:
    """A file in a `.wheelplan-backup-ID` folder that is not at the top of a mount is
    one no RECORD lists; the journal a killed apply leaves is still named as one."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    stray = env_dir / SITE / "mine" / RESERVED / "stray"
    stray.parent.mkdir()
    stray.write_text("")
    result = refused("verify", "--python", python)
    assert result.stderr == f"error: {stray}: unowned: not listed in any RECORD\n"
    killed = run_cli(
        "install", mine, "--reinstall", "--python", python, env={"WHEELPLAN_FAULT": "kill:3"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    result = refused("verify", "--python", python)
    assert result.stderr == (
        f"error: {env_dir / JOURNAL_DIR}: {JOURNAL_FOUND} `{RECOVER_HINT} {python}`\n"
        f"error: {stray}: unowned: not listed in any RECORD\n"
    )


def test_an_uninstall_leaving_an_empty_folder_with_a_reserved_name_is_refused_by_plan(
    tmp_path: Path,
) -> None:
    """No plan can name it, so it would stay in the metadata folder that goes: `plan`
    says so, where the apply refused the plan it made."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    (env_dir / SITE / "mine-1.0.dist-info" / RESERVED).mkdir()
    stderr = refused_unchanged(
        env_dir, "plan", "--python", python, "-o", tmp_path / "plan.json", "--remove", "mine"
    )
    metadata = f"{SITE}/mine-1.0.dist-info"
    assert stderr == (
        f"error: {metadata}: {metadata}/{RESERVED} would stay in this metadata folder, which"
        " would then still name a distribution that is gone; remove that by hand\n"
    )
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize("folder", ["mine", "mine-1.0.dist-info"])
@pytest.mark.parametrize("how", ["uninstall", "upgrade", "reinstall"])
def test_a_record_row_with_a_name_wheelplan_reserves_is_refused_as_a_file_to_remove(
    tmp_path: Path, how: str, folder: str
) -> None:
    """The apply refuses any plan naming such a path: `plan` refuses the removal first,
    as what it is, where the apply called a file to remove a destination. In a metadata
    folder that goes, the folder it keeps there is not refused a second time."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), wheels)
    new = build_wheel(WheelSpec("mine", "2.0", files={"mine/__init__.py": b"V = 2\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    row = f"{folder}/{RESERVED}/x"
    (env_dir / SITE / row).parent.mkdir()
    (env_dir / SITE / row).write_text("")
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"{row},,\n")
    command, reason = {
        "uninstall": (["uninstall", "mine"], "mine 1.0 is removed"),
        "upgrade": (["install", new], "mine 1.0 is replaced by 2.0"),
        "reinstall": (["install", mine, "--reinstall"], "mine 1.0 is reinstalled"),
    }[how]
    stderr = refused_unchanged(env_dir, *command, "--python", python)
    assert stderr == (
        f"error: {SITE}/{row}: a file to remove ({reason}) uses a name wheelplan reserves"
        " for its journal (.wheelplan-journal at the top of the environment, or a name"
        " beginning .wheelplan-backup), which no plan may name; remove it by hand\n"
    )
    (env_dir / SITE / row).unlink()
    (env_dir / SITE / row).parent.rmdir()
    ok(*command, "--python", python, "--quiet")


def test_a_record_row_reaching_a_reserved_name_through_a_symlinked_folder_is_refused(
    tmp_path: Path,
) -> None:
    """A row through a folder linked to one with the journal's name is a file to remove
    that no plan may name, as it is by its real path: the uninstall removed the file
    there, since only the row's own name was looked at."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    (env_dir / SITE / RESERVED).mkdir()
    (env_dir / SITE / RESERVED / "x").write_text("kept")
    (env_dir / SITE / "link").symlink_to(RESERVED)
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "link/x,,\n")
    stderr = refused_unchanged(env_dir, "uninstall", "mine", "--python", python)
    assert stderr == (
        f"error: {SITE}/link/x: a file to remove (mine 1.0 is removed), reached as"
        f" {SITE}/{RESERVED}/x through a symlinked folder, uses a name wheelplan reserves"
        " for its journal"
        " (.wheelplan-journal at the top of the environment, or a name beginning"
        " .wheelplan-backup), which no plan may name; remove it by hand\n"
    )


def test_a_plan_edited_to_remove_a_file_with_a_reserved_name_is_refused_as_a_removal(
    tmp_path: Path,
) -> None:
    """The apply checks a removal's path as a write's, and says which it is."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir, plan = tmp_path / "env", tmp_path / "remove.json"
    python = rebuild_env(env_dir)
    install(python, [mine])
    save_plan(python, plan, [], "--remove", "mine")
    path = f"{SITE}/mine/{RESERVED}"
    edited_to_remove(plan, path)
    stderr = refused_unchanged(env_dir, "apply", plan)
    assert stderr == (
        f"error: {plan}: removal of {path!r} uses a name wheelplan reserves for its journal"
        " (.wheelplan-journal at the top of the environment, or a name beginning"
        " .wheelplan-backup)\n"
    )


def test_a_wheel_writing_into_a_removed_metadata_folder_plans_no_empty_folder_removal(
    tmp_path: Path,
) -> None:
    """Only a reinstall's .dist-info, written again under the same name, loses its empty
    folders while it stays: one a hostile wheel writes into through `.data` is no
    reinstall's, and the review called its folders ones of a metadata folder that goes."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), wheels)
    evil = build_wheel(
        WheelSpec("evil", files={"evil-1.0.data/purelib/mine-1.0.dist-info/evil": b"x"}), wheels
    )
    env_dir, plan = tmp_path / "env", tmp_path / "plan.json"
    python = rebuild_env(env_dir)
    install(python, [mine])
    _with_empty_folders(env_dir / SITE / "mine-1.0.dist-info")
    save_plan(python, plan, [evil], "--remove", "mine")
    assert plan_data(plan)["removed_directories"] == []
    assert "an empty folder" not in ok("show", plan)


@pytest.mark.parametrize("now", ["gone", "a file", "a symlink", "holding a file"])
@pytest.mark.parametrize("how", ["remove", "reinstall"])
def test_an_empty_folder_a_plan_removes_is_checked_before_the_apply(
    tmp_path: Path, how: str, now: str
) -> None:
    """The folder must still be there, a folder, and empty: what stands there now, or
    is in it, is named, as a file the plan removes is; with its .dist-info going, or
    written again by a reinstall."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), wheels)
    env_dir, plan = tmp_path / "env", tmp_path / "plan.json"
    python = rebuild_env(env_dir)
    install(python, [mine])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    _with_empty_folders(dist_info)
    save_plan(
        python, plan, *(([], "--remove", "mine") if how == "remove" else ([mine], "--reinstall"))
    )
    sub = dist_info / "licenses" / "sub"
    path = f"{SITE}/mine-1.0.dist-info/licenses/sub"
    if now == "holding a file":
        (sub / "notes").write_text("")
        path += "/notes"
    else:
        sub.rmdir()
    if now == "a file":
        sub.write_text("")
    elif now == "a symlink":
        sub.symlink_to(tempfile.gettempdir())
    before = exact_snapshot(env_dir)
    result = refused("apply", plan)
    metadata = f"{SITE}/mine-1.0.dist-info"
    assert result.stderr == {
        "gone": f"error: {path}: is missing from the target but the plan expected it; plan again\n",
        "holding a file": f"error: {metadata}: {path} is in the target but the plan expected"
        " it absent; plan again\n",
    }.get(now, f"error: {metadata}: {path} is no longer an empty folder; plan again\n")
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize("named", ["a folder holding a file", "a package folder", "kept metadata"])
def test_a_reinstall_edited_to_remove_another_folder_is_refused(tmp_path: Path, named: str) -> None:
    """A plan removes an empty folder only in a .dist-info it removes whole or writes
    again from its wheel, and only while nothing is in it: not one the reinstalled
    files are in, nor an empty one in a package or in a kept distribution's metadata."""
    wheels = tmp_path / "wheels"
    files = {"mine/__init__.py": b"", "mine-1.0.dist-info/licenses/LICENSE": b"MIT\n"}
    mine = build_wheel(WheelSpec("mine", files=files), wheels)
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b""}), wheels)
    env_dir, plan = tmp_path / "env", tmp_path / "reinstall.json"
    python = rebuild_env(env_dir)
    install(python, [mine, other])
    (env_dir / SITE / "mine" / "sub").mkdir()
    (env_dir / SITE / "other-1.0.dist-info" / "empty").mkdir()
    save_plan(python, plan, [mine], "--reinstall")
    folder = {
        "a folder holding a file": "mine-1.0.dist-info/licenses",
        "a package folder": "mine/sub",
        "kept metadata": "other-1.0.dist-info/empty",
    }[named]
    data = plan_data(plan)
    data["removed_directories"] = [f"{SITE}/{folder}"]
    plan.write_text(json.dumps(recompute_digest(data)))
    assert refused_unchanged(env_dir, "apply", plan) == (
        f"error: {SITE}/mine-1.0.dist-info: {SITE}/{folder}/LICENSE is in the target but the"
        " plan expected it absent; plan again\n"
        if named == "a folder holding a file"
        else f"error: {plan}: removed directory '{SITE}/{folder}' is in no metadata folder that"
        " the plan removes whole or writes again from its wheel\n"
    )
    assert pip_list(python) == {"mine": "1.0", "other": "1.0"}


@pytest.mark.parametrize("how", ["upgrade", "reinstall"])
def test_a_rollback_gives_back_the_empty_folders_of_a_metadata_folder(
    tmp_path: Path, how: str
) -> None:
    """Removed with its .dist-info, or from the one a reinstall writes again, an empty
    folder is logged as a folder the apply emptied is: failing at the commit point, the
    rollback makes it again with its mode, owner and time."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), wheels)
    new = build_wheel(
        WheelSpec("mine", version="2.0", files={"mine/__init__.py": b"V = 2\n"}), wheels
    )
    env_dir, plan = tmp_path / "env", tmp_path / "upgrade.json"
    python = rebuild_env(env_dir)
    install(python, [old])
    dist_info = env_dir / SITE / "mine-1.0.dist-info"
    _with_empty_folders(dist_info)
    (dist_info / "licenses" / "sub").chmod(0o750)
    owner = give_to_another_user(dist_info / "licenses" / "sub")
    save_plan(python, plan, *(([new],) if how == "upgrade" else ([old], "--reinstall")))
    kinds = checkpoints(env_dir, plan, "--no-cache")
    # The three, licenses/, and with an upgrade the .dist-info.
    assert kinds.count("rmdir") == (5 if how == "upgrade" else 4)
    before, times = exact_snapshot(env_dir), folder_mtimes(env_dir)
    assert before[f"{SITE}/mine-1.0.dist-info/licenses/sub"] == ("dir", 0o750, *owner, 0, 0)
    time.sleep(0.01)  # so that a folder made again now has another time, even on coarse clocks
    commit = kinds.index("commit") + 1
    result = refused("apply", plan, "--no-cache", env={"WHEELPLAN_FAULT": f"error:{commit}"})
    assert "rolled back" in result.stderr
    assert exact_snapshot(env_dir) == before
    assert folder_mtimes(env_dir) == times
    ok("verify", "--python", python)


@pytest.mark.parametrize("by_alias", ["mine", "other"])
def test_a_record_row_naming_anothers_file_by_another_path_does_not_remove_it(
    tmp_path: Path, by_alias: str
) -> None:
    """In a venv `lib64` links to `lib`: `mine`'s row for `other`'s file, with either
    RECORD naming it through such a link, names a file that stays; it once went with
    `mine`."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"}), wheels)
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b"OTHER = 1\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    (env_dir / "alias").symlink_to("lib")
    aliased = f"../../../alias{SITE.removeprefix('lib')}/other/__init__.py"
    install(python, [other])
    if by_alias == "other":
        record = env_dir / SITE / "other-1.0.dist-info" / "RECORD"
        record.write_text(record.read_text().replace("other/__init__.py,", f"{aliased},"))
    only_other = snapshot(env_dir)
    install(python, [mine])
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    row = aliased if by_alias == "mine" else "other/__init__.py"
    record.write_text(record.read_text() + f"{row},,\n")

    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "mine")
    removed = {entry["path"] for entry in plan_data(plan)["files"]}
    assert f"{SITE}/mine/__init__.py" in removed
    assert not any("other" in path for path in removed)
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), only_other) == []


@pytest.mark.parametrize("metadata", ["dist-info file its RECORD leaves out", "egg-info file"])
def test_a_record_row_naming_the_metadata_of_one_that_stays_leaves_it(
    tmp_path: Path, metadata: str
) -> None:
    """Another distribution's metadata is its own, whatever any RECORD lists: `mine`'s
    row for it once took `other`'s WHEEL (and the uninstall was refused, saying that
    other's folder would still name a distribution that is gone) or a distutils
    `.egg-info` file (and `other` was uninstalled with `mine`), as pip takes both."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    if metadata == "egg-info file":
        kept = f"{SITE}/other-1.0-py{sys.version_info.major}.{sys.version_info.minor}.egg-info"
        (env_dir / kept).write_text("Metadata-Version: 1.1\nName: other\nVersion: 1.0\n")
    else:
        other = build_wheel(WheelSpec("other", files={"other.py": b""}), wheels)
        install(python, [other])
        kept = f"{SITE}/other-1.0.dist-info/WHEEL"
        record = env_dir / SITE / "other-1.0.dist-info" / "RECORD"
        rows = record.read_text().splitlines(keepends=True)
        unlisted = "other-1.0.dist-info/WHEEL,"
        record.write_text("".join(row for row in rows if not row.startswith(unlisted)))
    only_other = snapshot(env_dir)
    install(python, [mine])
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"{kept.removeprefix(SITE + '/')},,\n")

    result = run_cli("uninstall", "mine", "--python", python, "--quiet")
    assert (result.returncode, result.stderr) == (
        0,
        f"warning: mine 1.0: its RECORD lists {kept!r}, in the metadata of a distribution"
        " that stays; left as it is\n",
    )
    assert diff(snapshot(env_dir), only_other) == []
    assert installed_by_metadata(python) == {"other": "1.0"}


@pytest.mark.parametrize(
    ("row", "link"),
    [
        ("../../../pyvenv.cfg", None),
        ("../../../bin/python", None),
        (f"../../../bin/python{sys.version_info.major}.{sys.version_info.minor}", None),
        ("top/pyvenv.cfg", "../../.."),
        ("scripts/python", "../../../bin"),
    ],
)
@pytest.mark.parametrize("how", ["uninstall", "reinstall"])
def test_a_record_row_naming_the_environments_interpreter_or_pyvenv_cfg_leaves_it(
    tmp_path: Path, row: str, link: str | None, how: str
) -> None:
    """The venv needs them to run, whoever's RECORD lists them: pip 26.3 and uv 0.13.9
    remove them on uninstall, and so did wheelplan, by any name (another of the
    interpreter's, or through a symlinked folder), leaving a venv that cannot start."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    if link is not None:
        (env_dir / SITE / row.partition("/")[0]).symlink_to(link)
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"{row},,\n")
    own = {name: (env_dir / name).read_bytes() for name in ("pyvenv.cfg", "bin/python")}
    command = {"uninstall": ["uninstall", "mine"], "reinstall": ["install", mine, "--reinstall"]}
    result = run_cli(*command[how], "--python", python, "--quiet")
    listed = os.path.normpath(f"{SITE}/{row}") if link is None else f"{SITE}/{row}"
    assert (result.returncode, result.stderr) == (0, needed_left(listed))
    assert {name: (env_dir / name).read_bytes() for name in own} == own
    assert (env_dir / SITE / row).exists()
    ok("install", mine, "--python", python, "--quiet", "--reinstall")


def needed_left(listed: str) -> str:
    """What a plan that removes `mine` says of its RECORD's row for `listed`, a file the
    environment needs."""
    return (
        f"warning: mine 1.0: its RECORD lists {listed!r}, which the environment needs (its"
        " interpreter, pyvenv.cfg, or the way to its scheme folders); left as it is\n"
    )


def test_a_record_row_naming_a_symlink_on_the_way_to_the_scheme_folders_leaves_it(
    tmp_path: Path,
) -> None:
    """A folder is never removed, but a symlink to one is, as a file: with `lib` a link
    to another folder in the prefix, a row naming it had the apply move `lib` aside,
    fail at the next file through it and roll back, so the uninstall could not be done
    (pip 26.3 and uv 0.13.9 remove the link, and the venv's packages with it)."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [mine])
    (env_dir / "lib").rename(env_dir / "reallib")
    (env_dir / "lib").symlink_to("reallib")
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "../../../lib,,\n")
    result = run_cli("uninstall", "mine", "--python", python, "--quiet")
    assert (result.returncode, result.stderr) == (0, needed_left("lib"))
    assert os.readlink(env_dir / "lib") == "reallib"
    assert not list((env_dir / SITE).iterdir())
    ok("verify", "--python", python)


@pytest.mark.parametrize("path", ["pyvenv.cfg", "bin/python", "lib"])
def test_a_plan_edited_to_remove_a_file_the_environment_needs_is_refused(
    tmp_path: Path, path: str
) -> None:
    """The planner leaves them whatever a RECORD lists; the apply checked only that the
    distribution a removal names lists the file, so an edit adding it was applied, the
    review counting one removal more."""
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "wheels")
    env_dir, plan = tmp_path / "env", tmp_path / "remove.json"
    python = rebuild_env(env_dir)
    install(python, [mine])
    if path == "lib":  # a symlink on the way to the scheme folders, not a folder
        (env_dir / "lib").rename(env_dir / "reallib")
        (env_dir / "lib").symlink_to("reallib")
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + f"../../../{path},,\n")
    save_plan(python, plan, [], "--remove", "mine")
    edited_to_remove(plan, path)
    stderr = refused_unchanged(env_dir, "apply", plan)
    assert stderr == (
        f"error: {path}: the environment needs it (its interpreter, pyvenv.cfg, or the way"
        " to its scheme folders), and a plan never removes or writes over it, whatever a"
        " RECORD lists\n"
    )


def _upgraded_over_own_files(tmp_path: Path, data: str) -> tuple[Path, Path, Path]:
    """`mine` 1.0 installed, its RECORD listing pyvenv.cfg and bin/python (see above),
    and `mine` 2.0, whose wheel writes a data file at the prefix's `data`: the venv, its
    interpreter and the new wheel."""
    old = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b""}), tmp_path / "old")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [old])
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "../../../pyvenv.cfg,,\n../../../bin/python,,\n")
    files = {"mine/__init__.py": b"", f"mine-2.0.data/data/{data}": b"home = /nowhere\n"}
    new = build_wheel(WheelSpec("mine", version="2.0", files=files), tmp_path / "new")
    return env_dir, python, new


@pytest.mark.parametrize("path", ["pyvenv.cfg", "bin/python"])
def test_a_wheel_never_writes_over_a_file_the_environment_needs(tmp_path: Path, path: str) -> None:
    """They are no distribution's whatever a RECORD lists, and a fresh install of such a
    wheel was refused as writing over a file no distribution owns; an upgrade of one
    whose RECORD lists it wrote over pyvenv.cfg, or the interpreter, with its data."""
    env_dir, python, new = _upgraded_over_own_files(tmp_path, path)
    stderr = refused_unchanged(env_dir, "install", new, "--python", python)
    assert stderr == (
        f"error: {path}: the environment needs it (its interpreter, pyvenv.cfg, or the way"
        " to its scheme folders); planned by mine (mine-2.0-py3-none-any.whl), and a plan"
        " never writes over it, whatever a RECORD lists\n"
    )


def test_a_plan_edited_to_write_over_a_file_the_environment_needs_is_refused(
    tmp_path: Path,
) -> None:
    """The apply checked the removals alone: an upgrade's write of a data file, edited
    to replace pyvenv.cfg, was applied, the review counting one file replaced."""
    env_dir, python, new = _upgraded_over_own_files(tmp_path, "top.cfg")
    plan = tmp_path / "upgrade.json"
    save_plan(python, plan, [new])
    data = plan_data(plan)
    for entry in data["files"]:
        if entry["path"] == "top.cfg":
            entry.update(path="pyvenv.cfg", action="replace")
    for unit in data["units"]:
        unit["paths"] = sorted("pyvenv.cfg" if p == "top.cfg" else p for p in unit["paths"])
    data["files"].sort(key=lambda entry: entry["path"])
    plan.write_text(json.dumps(recompute_digest(data)))
    stderr = refused_unchanged(env_dir, "apply", plan)
    assert stderr == (
        "error: pyvenv.cfg: the environment needs it (its interpreter, pyvenv.cfg, or the way"
        " to its scheme folders), and a plan never removes or writes over it, whatever a"
        " RECORD lists\n"
    )


def test_a_plan_that_removes_a_folder_is_refused(tmp_path: Path) -> None:
    """The applier checks it too: a plan edited to remove `other/` would move the folder
    aside whole and delete it at the commit."""
    wheels = tmp_path / "wheels"
    mine = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"MINE = 1\n"}), wheels)
    other = build_wheel(WheelSpec("other", files={"other/__init__.py": b"OTHER = 1\n"}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [other, mine])
    plan = tmp_path / "remove.json"
    save_plan(python, plan, [], "--remove", "mine")
    edited_to_remove(plan, f"{SITE}/other")
    before = exact_snapshot(env_dir)
    result = refused("apply", plan)
    assert result.stderr == (
        f"error: {SITE}/other: no installed distribution lists it, and a plan changes only"
        " what one lists\n"
        f"error: {SITE}/other: is a directory in the target; a plan moves only files\n"
    )
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize(
    "metadata", ["egg-info folder", "egg-info file", "dist-info, RECORD lost", "egg-link"]
)
def test_a_distribution_without_a_record_is_neither_replaced_nor_removed(
    tmp_path: Path, metadata: str
) -> None:
    """Installing over it would leave its files and its metadata beside the new version's,
    and importlib.metadata would report the old version. uv refuses to uninstall each
    kind; pip refuses the .egg-info file and the lost RECORD, and for the bare .egg-info
    folder removes the folder alone, leaving `legacy.py` (pip 26.3, uv 0.13.9).

    A legacy editable install (`setup.py develop`: an .egg-link to the project's folder,
    which easy-install.pth puts on sys.path) was not seen at all: `uninstall` said it was
    not installed, where pip and uv remove the link and its .pth line, a requirement on
    it was unmet, and a wheel of it was installed beside it."""
    wheels = tmp_path / "wheels"
    new = build_wheel(WheelSpec("legacy", "2.0", files={"legacy.py": b"NEW = 2\n"}), wheels)
    other = build_wheel(WheelSpec("other", files={"other.py": b""}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    site = env_dir / SITE
    pkg_info = "Metadata-Version: 1.1\nName: legacy\nVersion: 1.0\n"
    if metadata == "dist-info, RECORD lost":
        install(python, [build_wheel(WheelSpec("legacy", files={"legacy.py": b""}), wheels)])
        (site / "legacy-1.0.dist-info" / "RECORD").unlink()
        where = f"{SITE}/legacy-1.0.dist-info"
        reason = "it has no RECORD"
    elif metadata == "egg-link":
        project = tmp_path / "project"
        (project / "legacy.egg-info").mkdir(parents=True)
        (project / "legacy.egg-info" / "PKG-INFO").write_text(pkg_info)
        (project / "legacy.py").write_text("OLD = 1\n")
        where = f"{SITE}/legacy.egg-link"
        (env_dir / where).write_text(f"{project}\n.")
        (site / "easy-install.pth").write_text(f"{project}\n")
        reason = (
            f"it is a legacy editable install of {str(project)!r} (setup.py develop),"
            " which pip uninstall removes"
        )
    else:
        reason = "it has no RECORD or installed-files.txt"
        where = f"{SITE}/legacy-1.0-py3.11.egg-info"
        if metadata == "egg-info folder":
            (env_dir / where).mkdir()
            (env_dir / where / "PKG-INFO").write_text(pkg_info)
        else:
            (env_dir / where).write_text(pkg_info)
        (site / "legacy.py").write_text("OLD = 1\n")
    before = exact_snapshot(env_dir)

    result = refused("plan", new, "--python", python)
    assert result.stderr.splitlines()[0] == (
        f"error: {where}: cannot replace legacy 1.0 with legacy-2.0-py3-none-any.whl: {reason},"
        " so which files are its own is unknown (remove it first)"
    )
    for args in (["--remove", "legacy"], [other, "--sync"]):
        result = refused("plan", *args, "--python", python)
        assert result.stderr == f"error: {where}: cannot remove: {reason}\n"
    # It counts as installed: it meets a requirement on it.
    needs = build_wheel(WheelSpec("needs", files={"needs.py": b""}, requires=("legacy",)), wheels)
    assert "legacy" not in ok("plan", needs, "--python", python)
    assert exact_snapshot(env_dir) == before


def test_an_egg_link_to_a_missing_project_meets_a_requirement_of_no_version(
    tmp_path: Path,
) -> None:
    """An .egg-link whose project is gone has no version to read, and a requirement of
    any version on it was unmet all the same ('needs requires legacy, but legacy  is
    planned or installed'), which --strict refused."""
    env_dir, python, _ = _other_installed(tmp_path)
    (env_dir / SITE / "legacy.egg-link").write_text(f"{tmp_path / 'gone'}\n.")
    needs = build_wheel(
        WheelSpec("needs", files={"needs.py": b""}, requires=("legacy",)), tmp_path / "w"
    )
    assert "legacy" not in ok("plan", needs, "--strict", "--python", python)
    picky = build_wheel(
        WheelSpec("picky", files={"picky.py": b""}, requires=("legacy>=1",)), tmp_path / "w"
    )
    assert "picky requires legacy>=1, but legacy is of no known version" in ok(
        "plan", picky, "--python", python
    )
    # Named without a version, not as 'legacy  with' or 'legacy : it is'.
    result = run_cli("verify", "--python", python)
    assert f"{SITE}/legacy.egg-link: legacy: it is a legacy editable install" in result.stderr
    new = build_wheel(WheelSpec("legacy", "2.0"), tmp_path / "w")
    stderr = refused("plan", new, "--python", python).stderr
    assert f"{SITE}/legacy.egg-link: cannot replace legacy with {new.name}: it is" in stderr


def test_a_plan_made_beside_a_legacy_editable_install_applies(tmp_path: Path) -> None:
    """An .egg-link is one of the installed folders a plan records as the target held
    them: the apply of a wheel beside it, which leaves it as it is, is not refused."""
    env_dir, python, _ = _other_installed(tmp_path)
    link = env_dir / SITE / "legacy.egg-link"
    link.write_text(f"{tmp_path / 'gone'}\n.")
    wheel = build_wheel(WheelSpec("beside", files={"beside.py": b"B = 1\n"}), tmp_path / "w")
    plan = tmp_path / "plan.json"
    ok("plan", wheel, "--python", python, "-o", plan)
    assert "legacy.egg-link" in plan.read_text()
    ok("apply", plan, "--quiet")
    assert (env_dir / SITE / "beside.py").read_bytes() == b"B = 1\n"
    assert link.read_text() == f"{tmp_path / 'gone'}\n."


def test_a_name_installed_twice_is_refused_once_not_its_files(tmp_path: Path) -> None:
    """An .egg-link beside a .dist-info of one name: an upgrade is refused as installed
    more than once, but each file the .dist-info lists was refused besides as belonging
    to no distribution ('remove or move it'), the copy taken for the name having none."""
    env_dir, python, _ = _other_installed(tmp_path)
    (env_dir / SITE / "other.egg-link").write_text(f"{tmp_path / 'project'}\n.")
    new = build_wheel(WheelSpec("other", "2.0", files={"other/__init__.py": b"2\n"}), tmp_path)
    stderr = refused_unchanged(env_dir, "install", new, "--python", python)
    assert "installed more than once" in stderr
    assert "belongs to no distribution" not in stderr


def test_a_folder_named_like_an_egg_link_is_no_distribution(tmp_path: Path) -> None:
    """pip and uv read an .egg-link file; an empty folder of that name is junk, which
    was taken for a legacy editable install that stopped every --sync."""
    env_dir, python, mine = _other_installed(tmp_path)
    (env_dir / SITE / "junk.egg-link").mkdir()
    ok("install", mine, "--sync", "--python", python, "--quiet")
    assert installed_by_metadata(python) == {"mine": "1.0"}
    assert "no problems" in ok("verify", "--python", python)


EGG_INFO = f"{SITE}/legacy-1.0-py{sys.version_info.major}.{sys.version_info.minor}.egg-info"
TAG = sys.implementation.cache_tag


def legacy_install(env_dir: Path, *extra_rows: str) -> None:
    """What pip's `setup.py install` of legacy 1.0 left: its files, and an .egg-info
    folder whose installed-files.txt lists them relative to the folder (SOURCES.txt and
    the list itself unlisted, `notlisted.py` written by hand after)."""
    files = {
        f"{SITE}/legacy/__init__.py": b"OLD = 1\n",
        f"{SITE}/legacy/__pycache__/__init__.{TAG}.pyc": b"old bytecode",
        f"{SITE}/legacy/sub/extra.txt": b"extra",
        f"{SITE}/legacy/notlisted.py": b"MINE = 1\n",
        "bin/legacy-cli": b"#!/bin/sh\n",
        f"{EGG_INFO}/PKG-INFO": b"Metadata-Version: 1.1\nName: legacy\nVersion: 1.0\n",
        f"{EGG_INFO}/top_level.txt": b"legacy\n",
        f"{EGG_INFO}/SOURCES.txt": b"setup.py\nlegacy/__init__.py\n",
    }
    for path, data in files.items():
        (env_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (env_dir / path).write_bytes(data)
    rows = [
        "../legacy/__init__.py",
        f"../legacy/__pycache__/__init__.{TAG}.pyc",
        "../legacy/sub/extra.txt",
        "PKG-INFO",
        "top_level.txt",
        "../../../../bin/legacy-cli",
        *extra_rows,
    ]
    (env_dir / EGG_INFO / "installed-files.txt").write_text("\n".join(rows) + "\n")


def removal_refused(python: Path, where: str, reason: str) -> None:
    """`plan --remove legacy` is refused with exactly this one line."""
    result = refused("plan", "--remove", "legacy", "--python", python)
    assert result.stderr == f"error: {where}: cannot remove: {reason}\n"


def test_a_legacy_egg_info_is_removed_by_its_installed_files_as_pip_removes_it(
    tmp_path: Path,
) -> None:
    """pip uninstalls an .egg-info folder by its installed-files.txt: every listed file,
    the folder whole, the folders left empty; an unlisted file stays. The same tree,
    made at the same path, goes through pip and through wheelplan."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    legacy_install(env_dir)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "uninstall", "-y", "legacy"],
        capture_output=True,
        check=True,
    )
    by_pip = snapshot(env_dir)
    assert f"{SITE}/legacy/notlisted.py" in by_pip
    assert EGG_INFO not in by_pip and "bin/legacy-cli" not in by_pip

    python = rebuild_env(env_dir)
    legacy_install(env_dir)
    review = ok("plan", "--remove", "legacy", "--python", python)
    assert "remove     legacy 1.0" in review
    install(python, [], "--remove", "legacy")
    assert diff(by_pip, snapshot(env_dir)) == []
    assert pip_list(python) == {}


def test_a_legacy_egg_info_is_upgraded_to_a_wheel(tmp_path: Path) -> None:
    """Installing legacy 2.0 over it leaves what installing 2.0 beside the one unlisted
    file leaves; a plan made before its list changed is refused."""
    new = build_wheel(
        WheelSpec("legacy", "2.0", files={"legacy/__init__.py": b"NEW = 2\n"}),
        tmp_path / "wheels",
    )
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    (env_dir / SITE / "legacy").mkdir()
    (env_dir / SITE / "legacy" / "notlisted.py").write_bytes(b"MINE = 1\n")
    install(python, [new])
    expected = snapshot(env_dir)

    python = rebuild_env(env_dir)
    legacy_install(env_dir)
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [new])
    assert actions_of(plan_data(plan)) == {"legacy": "upgrade"}
    listing = env_dir / EGG_INFO / "installed-files.txt"
    listing.write_text(listing.read_text() + "SOURCES.txt\n")
    before = exact_snapshot(env_dir)
    result = refused("apply", plan)
    assert "the target changed since the plan was made" in result.stderr
    assert exact_snapshot(env_dir) == before

    save_plan(python, plan, [new])
    ok("apply", plan, "--quiet")
    assert diff(expected, snapshot(env_dir)) == []
    assert pip_list(python) == {"legacy": "2.0"}


def test_a_legacy_list_is_followed_only_inside_the_environment_and_never_to_a_folder(
    tmp_path: Path,
) -> None:
    """A listed folder is not emptied (its other files may be anyone's), and a list that
    leaves the environment makes the distribution one whose files are unknown; a file
    it lists that a planned wheel brings is refused, as --prefer cannot rewrite the list."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    legacy_install(env_dir, "../common")
    (env_dir / SITE / "common").mkdir()
    (env_dir / SITE / "common" / "data.txt").write_bytes(b"not legacy's")
    clash = build_wheel(
        WheelSpec("clash", files={"legacy/sub/extra.txt": b"other"}), tmp_path / "wheels"
    )
    for args in ([clash], [clash, "--prefer", "clash"]):
        result = refused("plan", *args, "--python", python)
        assert result.stderr == (
            f"error: {SITE}/legacy/sub/extra.txt: legacy 1.0 (installed, an .egg-info) lists"
            " it too; upgrade or remove legacy too\n"
        )
    install(python, [], "--remove", "legacy")
    assert (env_dir / SITE / "common" / "data.txt").read_bytes() == b"not legacy's"
    assert not (env_dir / EGG_INFO).exists()

    python = rebuild_env(env_dir)
    legacy_install(env_dir, "../../../../../outside.txt")
    before = exact_snapshot(env_dir)
    removal_refused(
        python,
        EGG_INFO,
        "its installed-files.txt row '../../../../../outside.txt' points outside the environment",
    )
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize("metadata", ["legacy-1.0.dist-info", "legacy-1.0.egg-info"])
def test_a_metadata_folder_linked_outside_is_refused_when_the_plan_is_made(
    tmp_path: Path, metadata: str
) -> None:
    """Removing the distribution would remove files through the link, outside the
    environment. The applier refuses that too, but the plan should not promise it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 1.0\n")
    (outside / "METADATA").write_text("Metadata-Version: 2.1\nName: legacy\nVersion: 1.0\n")
    (outside / "installed-files.txt").write_text("PKG-INFO\n")
    (outside / "RECORD").write_text(f"{metadata}/METADATA,,\n{metadata}/RECORD,,\n")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    (env_dir / SITE / metadata).symlink_to(outside)
    before = exact_snapshot(outside)
    removal_refused(
        python,
        f"{SITE}/{metadata}",
        "its metadata folder is a symlink that leads outside the environment",
    )
    assert exact_snapshot(outside) == before


def test_verify_checks_that_a_legacy_list_s_files_are_there(tmp_path: Path) -> None:
    """The list has no hashes: its files are checked as present, and they are owned."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    legacy_install(env_dir)
    (env_dir / SITE / "legacy" / "sub" / "extra.txt").unlink()
    result = run_cli("verify", "--python", python)
    assert result.returncode == 1
    assert sorted(result.stderr.splitlines()) == [
        f"error: {env_dir / SITE / 'legacy' / 'notlisted.py'}: unowned: not listed in any RECORD",
        f"error: {env_dir / SITE / 'legacy' / 'sub' / 'extra.txt'}: missing (listed in the"
        " installed-files.txt of legacy 1.0)",
    ]
    (env_dir / EGG_INFO / "installed-files.txt").unlink()
    result = run_cli("verify", "--python", python)
    # Its own metadata is its, known or not: reported once, as unknown, not as unowned.
    unknown = (
        f"error: {env_dir / EGG_INFO}: legacy 1.0: it has no RECORD or installed-files.txt;"
        " its files cannot be verified"
    )
    unowned = [line for line in result.stderr.splitlines() if "unowned" in line]
    assert unknown in result.stderr.splitlines()
    assert unowned and not [line for line in unowned if EGG_INFO in line], unowned
    # A distutils .egg-info file is the whole of its metadata.
    (env_dir / SITE / "oldie-1.0-py3.11.egg-info").write_text(
        "Metadata-Version: 1.0\nName: oldie\nVersion: 1.0\n"
    )
    result = run_cli("verify", "--python", python)
    assert not [
        line for line in result.stderr.splitlines() if "oldie" in line and "unowned" in line
    ]
    assert (
        f"error: {env_dir / SITE}/oldie-1.0-py3.11.egg-info: oldie 1.0: it has no RECORD or"
        " installed-files.txt; its files cannot be verified"
    ) in result.stderr.splitlines()


def test_a_distribution_installed_twice_is_left_alone_and_keeps_its_files(
    tmp_path: Path,
) -> None:
    """Two .dist-info of one name (an interrupted or racing installer leaves them): a plan
    that would replace or remove it is refused, and both copies' files count as owned."""
    wheels = tmp_path / "wheels"
    shared = {"shared.py": b"SHARED = 1\n"}
    one = build_wheel(WheelSpec("one", files={"one.py": b""}), wheels)
    two = build_wheel(WheelSpec("two", files={"two.py": b"", **shared}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [one, two])
    # An older copy of `one` whose RECORD also lists shared.py, as two's does.
    site = env_dir / SITE
    older = site / "one-0.9.dist-info"
    shutil.copytree(site / "one-1.0.dist-info", older)
    metadata = (older / "METADATA").read_text().replace("Version: 1.0", "Version: 0.9")
    (older / "METADATA").write_text(metadata)
    two_record = (site / "two-1.0.dist-info" / "RECORD").read_text()
    (shared_row,) = [row for row in two_record.splitlines() if row.startswith("shared.py,")]
    record = (older / "RECORD").read_text().replace("one-1.0.dist-info", "one-0.9.dist-info")
    (older / "RECORD").write_text(record + shared_row + "\n")
    before = exact_snapshot(env_dir)

    twice = (
        f"error: one: installed more than once ({SITE}/one-0.9.dist-info,"
        f" {SITE}/one-1.0.dist-info); remove all but one first\n"
    )
    newer = build_wheel(WheelSpec("one", "2.0", files={"one.py": b""}), wheels)
    for args in (["--remove", "one"], [newer], [two, "--sync"]):
        assert refused("plan", *args, "--python", python).stderr == twice
    assert twice in refused("verify", "--python", python).stderr
    assert exact_snapshot(env_dir) == before

    # Removing `two` keeps shared.py: the older copy of `one` lists it too.
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [], "--remove", "two")
    assert set(removals_of(plan_data(plan))) >= {f"{SITE}/two.py"}
    assert f"{SITE}/shared.py" not in removals_of(plan_data(plan))
    ok("apply", plan, "--quiet")
    assert (site / "shared.py").read_bytes() == shared["shared.py"]


def old_installed_new_given(env_dir: Path, wheels: Path) -> tuple[Path, Path]:
    """`old` installed with its bytecode in a new venv at `env_dir`, and a wheel of `new`
    built in `wheels`, whose `ns/__init__.py` differs from old's: the venv's interpreter
    and that wheel."""
    old = build_wheel(
        WheelSpec("old", files={"ns/__init__.py": b"# old\n", "ns/old.py": b""}), wheels
    )
    new = build_wheel(
        WheelSpec("new", files={"ns/__init__.py": b"# new\n", "ns/new.py": b""}), wheels
    )
    python = rebuild_env(env_dir)
    install(python, [old], "--compile-bytecode")
    return python, new


def prefer_row(path: str, winner: str) -> dict[str, Any]:
    """The plan's `conflicts` row for `path`, which old and new claim and `winner` wins."""
    return {
        "kind": "different",
        "owners": ["new", "old"],
        "path": path,
        "resolution": f"prefer:{winner}",
    }


def test_prefer_takes_a_file_from_an_installed_distribution_out_of_its_record(
    tmp_path: Path,
) -> None:
    """As among planned wheels, only the winner's RECORD lists the file: the installed
    loser's RECORD loses its row (and its bytecode's), so removing the loser later keeps
    the winner's file. pip and uv overwrite it and leave the loser's RECORD claiming it."""
    env_dir, wheels = tmp_path / "env", tmp_path / "wheels"
    python, new = old_installed_new_given(env_dir, wheels)
    site = env_dir / SITE
    tag = sys.implementation.cache_tag
    old_record = site / "old-1.0.dist-info" / "RECORD"
    assert f"ns/__pycache__/__init__.{tag}.pyc" in old_record.read_text()

    result = refused("plan", new, "--python", python)
    assert result.stderr.endswith(
        "upgrade or remove old too, or --prefer new, or --prefer old to keep its file\n"
    )
    # Not even --prefer takes a file of the installed distribution's own metadata.
    metadata = f"{SITE}/old-1.0.dist-info/METADATA"
    thief = build_wheel(
        WheelSpec("thief", files={"thief-1.0.data/purelib/old-1.0.dist-info/METADATA": b""}),
        wheels,
    )
    result = refused("plan", thief, "--prefer", "thief", "--python", python)
    assert result.stderr == (
        f"error: {metadata}: old 1.0 (installed) has different content than thief"
        " (thief-1.0-py3-none-any.whl); a file of old's own .dist-info is never taken from it"
        " (--prefer old keeps its file)\n"
    )
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [new], "--prefer", "new")
    data = plan_data(plan)
    assert data["conflicts"] == [prefer_row(f"{SITE}/ns/__init__.py", "new")]
    rewrite = next(e for e in data["files"] if e["path"] == f"{SITE}/old-1.0.dist-info/RECORD")
    assert (rewrite["action"], rewrite["owners"]) == ("replace", ["old"])
    assert f"{SITE}/ns/__pycache__/__init__.{tag}.pyc" in removals_of(data)
    shown = ok("show", plan)
    assert "old: 1 file lost to new" in shown
    assert f"  {SITE}/ns/__init__.py: new, old (installed) -> new wins (--prefer)\n" in shown

    ok("apply", plan, "--quiet")
    assert (site / "ns" / "__init__.py").read_bytes() == b"# new\n"
    rows = {line.split(",")[0] for line in old_record.read_text().splitlines()}
    assert {"ns/old.py", f"ns/__pycache__/old.{tag}.pyc"} <= rows
    assert not {row for row in rows if row.startswith(("ns/__init__", "ns/__pycache__/__init__"))}
    assert "ns/__init__.py" in (site / "new-1.0.dist-info" / "RECORD").read_text()
    assert ok("verify", "--python", python).endswith("no problems\n")

    ok("install", "--remove", "old", "--python", python, "--quiet")
    assert (site / "ns" / "__init__.py").read_bytes() == b"# new\n"
    assert not (site / "ns" / "old.py").exists()
    assert ok("verify", "--python", python).endswith("no problems\n")


def test_prefer_takes_an_installed_files_of_every_kind_in_an_install_and_an_upgrade(
    tmp_path: Path,
) -> None:
    """A kept distribution loses to a --prefer winner a file the winner ships at the
    root, under .data in each scheme, and as an entry point's wrapper, in an install
    and again in an upgrade: the apply checks each win against the file the plan
    writes there, so none of these may be taken for a win the plan invented."""
    headers = f"include/site/python{sys.version_info.major}.{sys.version_info.minor}"
    taken = {
        "ns/__init__.py": f"{SITE}/ns/__init__.py",
        "NAME-V.data/purelib/ns/pure.py": f"{SITE}/ns/pure.py",
        "NAME-V.data/platlib/ns/plat.py": f"{SITE}/ns/plat.py",
        "NAME-V.data/data/share/ns.txt": "share/ns.txt",
        "NAME-V.data/headers/ns.h": f"{headers}/new/ns.h",
    }
    old_files = {path.removeprefix(f"{SITE}/"): b"# old\n" for path in taken.values()}
    old_files = {
        path if not path.startswith(("share/", "include/")) else f"old-1.0.data/data/{path}": data
        for path, data in old_files.items()
    }
    old_files["old-1.0.data/scripts/tool"] = b"#!/bin/sh\necho old\n"
    env_dir, wheels = tmp_path / "env", tmp_path / "wheels"
    python = rebuild_env(env_dir)
    install(python, [build_wheel(WheelSpec("old", files=old_files), wheels)])

    def new(version: str, members: list[str]) -> Path:
        files = {
            member.replace("NAME-V", f"new-{version}"): f"# new {version}\n".encode()
            for member in members
        }
        spec = WheelSpec(
            "new", version, files=files, entry_points="[console_scripts]\ntool = ns:main\n"
        )
        return build_wheel(spec, wheels / version)

    first, then = list(taken)[:2], list(taken)[2:]
    install(python, [new("1.0", first)], "--prefer", "new")
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [new("2.0", [*first, *then])], "--prefer", "new")
    won = {row["path"] for row in plan_data(plan)["conflicts"]}
    assert won == {taken[member] for member in then}
    ok("apply", plan, "--quiet")
    for member, path in taken.items():
        assert (env_dir / path).read_bytes() == b"# new 2.0\n", member
    assert b"from ns import main" in (env_dir / "bin" / "tool").read_bytes()
    old_rows = (env_dir / SITE / "old-1.0.dist-info" / "RECORD").read_text()
    names = {row.split(",")[0].rpartition("/")[2] for row in old_rows.splitlines()}
    assert not names.intersection(["__init__.py", "pure.py", "plat.py", "ns.txt", "ns.h", "tool"])
    assert ok("verify", "--python", python).endswith("no problems\n")


@pytest.mark.parametrize(
    "row", ["ns/more.py,,,", "ns/e\x1bvil.py,,"], ids=["four fields", "control"]
)
def test_prefer_takes_no_file_from_an_installed_distribution_whose_record_is_damaged(
    tmp_path: Path, row: str
) -> None:
    """Its files are unknown, as for a removal, and its RECORD cannot be rewritten
    without the file as it was read (a row of four fields ended the plan with a
    traceback): the refusal says so, and that preferring it keeps its file."""
    env_dir, wheels = tmp_path / "env", tmp_path / "wheels"
    python, new = old_installed_new_given(env_dir, wheels)
    record = env_dir / SITE / "old-1.0.dist-info" / "RECORD"
    rows = len(record.read_text().splitlines())
    record.write_text(record.read_text() + f"{row}\n")
    why = (
        f"its RECORD row {rows + 1} is not a path, a hash and a size"
        if row.count(",") == 3
        else "its RECORD row 'ns/e\\x1bvil.py' contains a NUL or control character"
    )
    stderr = refused_unchanged(env_dir, "install", new, "--prefer", "new", "--python", python)
    assert stderr.startswith(f"error: {SITE}/ns/__init__.py: old 1.0 (installed) ")
    assert stderr.endswith(
        f"; old's RECORD cannot be rewritten without it ({why}), so --prefer old keeps its file\n"
    )
    assert stderr.count("\n") == 1
    install(python, [new], "--prefer", "old")
    assert (env_dir / SITE / "ns" / "__init__.py").read_bytes() == b"# old\n"


def test_prefer_may_name_an_installed_distribution_to_keep_its_file(tmp_path: Path) -> None:
    """`--prefer OLD` names the installed distribution whose file stays: the plan does
    not write it and only OLD's RECORD lists it, as a planned loser's RECORD does not
    list a file it lost. It was refused as naming nothing being installed."""
    env_dir = tmp_path / "env"
    python, new = old_installed_new_given(env_dir, tmp_path / "wheels")
    site = env_dir / SITE
    tag = sys.implementation.cache_tag
    contested = f"{SITE}/ns/__init__.py"
    kept = [
        contested,
        f"{SITE}/ns/__pycache__/__init__.{tag}.pyc",
        f"{SITE}/old-1.0.dist-info/RECORD",
    ]

    # Both preferred: no winner, as for two preferred planned wheels.
    assert refused_unchanged(
        env_dir, "plan", new, "--prefer", "new", "--prefer", "old", "--python", python
    ) == (
        f"error: {contested}: old 1.0 (installed) has different content than new"
        " (new-1.0-py3-none-any.whl); several of them are preferred (new, old)\n"
    )
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [new], "--prefer", "old")
    data = plan_data(plan)
    assert data["conflicts"] == [prefer_row(contested, "old")]
    planned = {entry["path"] for entry in data["files"]}
    assert f"{SITE}/ns/new.py" in planned
    # Not written, its bytecode not removed, old's RECORD not rewritten.
    assert not planned.intersection(kept)
    assert not [path for path in planned if "__init__" in path]
    shown = ok("show", plan)
    assert f"  {contested}: new, old (installed) -> old wins (--prefer)\n" in shown
    (line,) = [line for line in shown.splitlines() if line.startswith("  install    new 1.0")]
    assert line.endswith("; 1 file lost to old)")
    assert "whose RECORD is rewritten" not in shown

    before = exact_snapshot(env_dir)
    ok("apply", plan, "--quiet", "--compile-bytecode")
    after = exact_snapshot(env_dir)
    assert {path: after[path] for path in kept} == {path: before[path] for path in kept}
    new_rows = {
        line.split(",")[0]
        for line in (site / "new-1.0.dist-info" / "RECORD").read_text().splitlines()
    }
    assert {"ns/new.py", f"ns/__pycache__/new.{tag}.pyc"} <= new_rows
    assert not [row for row in new_rows if "__init__" in row]
    assert ok("verify", "--python", python).endswith("no problems\n")

    # The same command again changes nothing.
    save_plan(python, plan, [new], "--prefer", "old")
    assert actions_of(plan_data(plan)) == {"new": "unchanged"}
    assert plan_data(plan)["files"] == []

    # Uninstalling the loser later leaves the kept file, which it never listed.
    ok("uninstall", "new", "--python", python, "--quiet")
    assert (site / "ns" / "__init__.py").read_bytes() == b"# old\n"
    assert not (site / "ns" / "new.py").exists()
    assert ok("verify", "--python", python).endswith("no problems\n")


def record_rows(site: Path, name: str) -> set[str]:
    """The paths `name`'s installed RECORD lists, as written (relative to `site`)."""
    record = site / f"{name}-1.0.dist-info" / "RECORD"
    return {line.split(",")[0] for line in record.read_text().splitlines()}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param((b"# a\n", b"# b\n"), id="differing"),
        pytest.param((b"# ab\n", b"# ab\n"), id="twins"),
        pytest.param((b"# old\n", b"# b\n"), id="one-alike"),
    ],
)
def test_an_installed_winner_keeps_its_file_from_every_planned_wheel(
    tmp_path: Path, case: tuple[bytes, bytes]
) -> None:
    """`--prefer OLD` keeps OLD's file from each planned wheel that has other bytes
    there, whether those agree with each other or not: each loses it as one planned
    loser does, and one with OLD's bytes shares it. Two planned wheels that differed
    there were refused until one of them was preferred, and preferring one of them too
    was refused as two preferred: the installed file could not be kept at all."""
    env_dir, wheels = tmp_path / "env", tmp_path / "wheels"
    old = build_wheel(
        WheelSpec("old", files={"ns/__init__.py": b"# old\n", "ns/old.py": b""}), wheels
    )
    a, b = (
        build_wheel(
            WheelSpec(name, files={"ns/__init__.py": content, f"ns/{name}.py": b""}), wheels
        )
        for name, content in zip(("a", "b"), case, strict=True)
    )
    python = rebuild_env(env_dir)
    install(python, [old], "--compile-bytecode")
    site = env_dir / SITE
    tag = sys.implementation.cache_tag
    contested = f"{SITE}/ns/__init__.py"
    kept = [contested, f"{SITE}/ns/__pycache__/__init__.{tag}.pyc"]
    losers = ["a", "b"] if case[0] != b"# old\n" else ["b"]
    if losers == ["a", "b"]:
        assert refused_unchanged(
            env_dir, "plan", a, b, "--prefer", "a", "--prefer", "old", "--python", python
        ).endswith("; several of them are preferred (a, old)\n")

    plan = tmp_path / "plan.json"
    save_plan(python, plan, [a, b], "--prefer", "old")
    data = plan_data(plan)
    assert data["conflicts"] == [
        {
            "kind": "different",
            "owners": ["a", "b", "old"],
            "path": contested,
            "resolution": "prefer:old",
        }
    ]
    planned = {entry["path"]: entry for entry in data["files"]}
    if losers == ["b"]:
        # a's file is old's: written again, as when a alone is planned.
        assert (planned[contested]["action"], planned[contested]["owners"]) == (
            "replace",
            ["a", "old"],
        )
    else:
        assert not planned.keys() & {*kept, f"{SITE}/old-1.0.dist-info/RECORD"}
    shown = ok("show", plan)
    assert f"  {contested}: a, b, old (installed) -> old wins (--prefer)\n" in shown
    for name in ("a", "b"):
        (line,) = [line for line in shown.splitlines() if line.startswith(f"  install    {name} ")]
        assert line.endswith("; 1 file lost to old)") == (name in losers)

    before = exact_snapshot(env_dir)
    ok("apply", plan, "--quiet", "--compile-bytecode")
    assert (site / "ns" / "__init__.py").read_bytes() == b"# old\n"
    if losers == ["a", "b"]:
        after = exact_snapshot(env_dir)
        assert {path: after[path] for path in kept} == {path: before[path] for path in kept}
    for name in ("a", "b"):
        rows = record_rows(site, name)
        assert {f"ns/{name}.py", f"ns/__pycache__/{name}.{tag}.pyc"} <= rows
        assert bool([row for row in rows if "__init__" in row]) == (name not in losers)
    assert ok("verify", "--python", python).endswith("no problems\n")

    # The same command again changes nothing.
    save_plan(python, plan, [a, b], "--prefer", "old")
    assert actions_of(plan_data(plan)) == {"a": "unchanged", "b": "unchanged"}
    assert plan_data(plan)["files"] == []

    # Each planned wheel uninstalled leaves old's file; old, its winner, takes it along.
    for name in ("a", "b"):
        ok("uninstall", name, "--python", python, "--quiet")
        assert (site / "ns" / "__init__.py").read_bytes() == b"# old\n"
        assert not (site / "ns" / f"{name}.py").exists()
        assert ok("verify", "--python", python).endswith("no problems\n")
    ok("uninstall", "old", "--python", python, "--quiet")
    assert not (site / "ns" / "__init__.py").exists()
    assert ok("verify", "--python", python).endswith("no problems\n")


@pytest.mark.parametrize("case", ["mode", "unreadable", "metadata"])
def test_prefer_keeps_an_installed_file_that_cannot_be_shared(tmp_path: Path, case: str) -> None:
    """Each refusal with an installed distribution that `--prefer NEW` settles is settled
    by `--prefer OLD` too: the same bytes with another file mode, a script too large to
    read back, and a file of OLD's own `.dist-info`, which is never taken from it but
    may be left to it."""
    wheels = tmp_path / "wheels"
    if case == "mode":
        old, new = (
            WheelSpec(name, files={"shared/s.sh": Member("shared/s.sh", b"echo\n", mode=mode)})
            for name, mode in (("old", 0o644), ("new", 0o755))
        )
        contested = f"{SITE}/shared/s.sh"
    elif case == "unreadable":
        body = b"#!python\n" + random.Random(0).randbytes(16 * 2**20)
        old, new = (
            WheelSpec(name, files={f"{name}-1.0.data/scripts/big-tool": body})
            for name in ("old", "new")
        )
        contested = "bin/big-tool"
    else:
        old = WheelSpec("old", files={"old/__init__.py": b""})
        new = WheelSpec(
            "new",
            files={"new/__init__.py": b"", "new-1.0.data/purelib/old-1.0.dist-info/METADATA": b""},
        )
        contested = f"{SITE}/old-1.0.dist-info/METADATA"
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [build_wheel(old, wheels)])
    new_wheel = build_wheel(new, wheels)
    assert (
        f"error: {contested}: old 1.0 (installed) "
        in refused("plan", new_wheel, "--python", python).stderr
    )
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [new_wheel], "--prefer", "old")
    data = plan_data(plan)
    assert data["conflicts"] == [prefer_row(contested, "old")]
    assert contested not in {entry["path"] for entry in data["files"]}
    before = exact_snapshot(env_dir)[contested]
    ok("apply", plan, "--quiet")
    assert exact_snapshot(env_dir)[contested] == before
    record = (env_dir / SITE / "new-1.0.dist-info" / "RECORD").read_text()
    listed = {os.path.normpath(f"{SITE}/{line.split(',')[0]}") for line in record.splitlines()}
    assert f"{SITE}/new-1.0.dist-info/METADATA" in listed  # rows read as paths
    assert contested not in listed
    assert ok("verify", "--python", python).endswith("no problems\n")
    save_plan(python, plan, [new_wheel], "--prefer", "old")
    assert actions_of(plan_data(plan)) == {"new": "unchanged"}


def test_prefer_may_not_name_an_installed_distribution_the_plan_removes(tmp_path: Path) -> None:
    """A distribution the plan removes keeps no file, so it cannot win one."""
    wheels = tmp_path / "wheels"
    old, other = (
        build_wheel(WheelSpec(name, files={f"{name}/__init__.py": b""}), wheels)
        for name in ("old", "other")
    )
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [old])
    for args in (["--remove", "old"], ["--sync"]):
        assert (
            refused_unchanged(env_dir, "plan", other, *args, "--prefer", "old", "--python", python)
            == "error: old: --prefer names a distribution that this plan removes\n"
        )


def test_an_apply_swaps_a_file_and_a_folder_only_while_its_removals_empty_the_folder(
    tmp_path: Path,
) -> None:
    env_dir, plan = tmp_path / "env", tmp_path / "swap.json"
    python, after = upgrade_planned(env_dir, *swap_wheels(tmp_path / "wheels"), plan)
    tree = env_dir / SITE / "swap" / "tree"

    # A file put in the folder since the plan was made: it would stay, so the folder too.
    (tree / "deep" / "notes.txt").write_text("mine")
    before = exact_snapshot(env_dir)
    result = refused("apply", plan)
    assert result.stderr == (
        f"error: {SITE}/swap/tree: exists in the target but the plan expected it absent;"
        " plan again\n"
    )
    assert exact_snapshot(env_dir) == before and not has_journal(env_dir)
    (tree / "deep" / "notes.txt").unlink()

    # An edited plan that keeps the file a folder is to replace: the folder cannot be made.
    data = plan_data(plan)
    data["files"] = [entry for entry in data["files"] if entry["path"] != f"{SITE}/swap/data"]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(recompute_digest(data)))
    before = exact_snapshot(env_dir)
    result = refused("apply", edited)
    assert f"error: {SITE}/swap/data: is not a directory in the target" in result.stderr
    assert exact_snapshot(env_dir) == before and not has_journal(env_dir)

    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), after) == []
    ok("verify", "--python", python)


def test_a_shared_file_goes_with_its_last_owner(tmp_path: Path, real_wheels) -> None:
    wheels = real_wheels(NVIDIA)
    names = [Path(wheel).name.split("-")[0].replace("_", "-") for wheel in wheels]
    env_dir = tmp_path / "env"
    two_left = fresh_tree(env_dir, wheels[1:])
    empty = fresh_tree(env_dir, [])
    python = rebuild_env(env_dir)
    install(python, wheels)
    shared = env_dir / SITE / "nvidia" / "__init__.py"
    content = shared.read_bytes()

    plan = tmp_path / "one.json"
    save_plan(python, plan, [], "--remove", names[0])
    assert f"{SITE}/nvidia/__init__.py" not in removals_of(plan_data(plan))
    ok("apply", plan, "--quiet")
    assert shared.read_bytes() == content
    assert diff(snapshot(env_dir), two_left) == []

    save_plan(python, plan, [], "--remove", names[1], "--remove", names[2])
    entry = removals_of(plan_data(plan))[f"{SITE}/nvidia/__init__.py"]
    assert sorted(entry["owners"]) == sorted(names[1:])
    for name in names[1:]:
        assert f"{name} " in str(entry["reason"])
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), empty) == []


def test_a_file_shared_with_an_installed_owner_is_an_overlap_in_plan_and_review(
    tmp_path: Path, real_wheels
) -> None:
    """The motivating case one install after another: `nvidia/__init__.py` of an
    installed nvidia wheel is written again, with the same bytes, for the next two, and
    the review shows it as it shows the overlap of wheels installed together."""
    wheels = real_wheels(NVIDIA)
    names = [Path(wheel).name.split("-")[0].replace("_", "-") for wheel in wheels]
    env_dir = tmp_path / "env"
    together = fresh_tree(env_dir, wheels)
    python = rebuild_env(env_dir)
    install(python, wheels[:1])
    plan = tmp_path / "plan.json"
    save_plan(python, plan, wheels[1:])
    path = f"{SITE}/nvidia/__init__.py"
    assert plan_data(plan)["conflicts"] == [
        {"kind": "identical", "owners": sorted(names), "path": path, "resolution": "shared"}
    ]
    shown = ok("show", plan)
    assert "\nOverlaps: 1\n" in shown
    owners = ", ".join(
        f"{name} (installed)" if name == names[0] else name for name in sorted(names)
    )
    assert f"  {path}: {owners} -> shared\n" in shown
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), together) == []
    ok("verify", "--python", python)


# --- one apply at a time ---------------------------------------------------------


@pytest.fixture
def upgrade(tmp_path: Path, real_wheels) -> Iterator[tuple[Path, Path, Path, dict]]:
    """An environment with PyJWT 2.8.0, a saved upgrade plan, and the fresh 2.15.1 tree."""
    env_dir, plan = tmp_path / "env", tmp_path / "upgrade.json"
    python, after = upgrade_planned(env_dir, *real_wheels(JWT_VERSIONS), plan)
    yield env_dir, python, plan, after


def test_a_second_apply_is_refused_while_one_runs(upgrade) -> None:
    env_dir, python, plan, after = upgrade
    before = exact_snapshot(env_dir)
    moves = len(removals_of(plan_data(plan))) + sum(
        1 for entry in plan_data(plan)["files"] if entry["action"] == "replace"
    )
    first = stopped_apply(plan, moves // 2, "--jobs", "2")
    try:
        assert exact_snapshot(env_dir) != before  # really mid-transaction
        for command in (["apply", plan], ["recover", "--python", python]):
            result = refused(*command)
            assert result.stderr.count("\n") == 1
            assert "another wheelplan apply or recover is running" in result.stderr
        result = refused("plan", plan_wheel(plan), "--python", python)
        assert RECOVER_HINT in result.stderr and "running" in result.stderr
    finally:
        first.send_signal(signal.SIGCONT)
        err = first.communicate()[1]
    assert first.returncode == 0, err
    assert not has_journal(env_dir)
    assert diff(snapshot(env_dir), after) == []


def test_verify_while_an_apply_runs_does_not_call_it_interrupted(upgrade) -> None:
    """verify takes no lock, so the journal may be a running apply's: it said 'an
    interrupted apply left a journal; run recover', and recover then refused (the apply
    was running); it now says either may be, as plan does."""
    env_dir, python, plan, _ = upgrade
    moves = sum(1 for entry in plan_data(plan)["files"] if entry["action"] != "write")
    apply = stopped_apply(plan, moves // 2)
    try:
        lines = refused("verify", "--python", python).stderr.splitlines()
        assert f"error: {env_dir / JOURNAL_DIR}: {JOURNAL_FOUND} `{RECOVER_HINT} {python}`" in lines
    finally:
        apply.send_signal(signal.SIGCONT)
        err = apply.communicate()[1]
    assert apply.returncode == 0, err


def test_uv_and_an_apply_exclude_each_other_by_uvs_lock_file(upgrade) -> None:
    """uv locks a venv with flock on `.lock` (left by its first `uv pip` command)."""
    env_dir, _, plan, after = upgrade
    uv_lock = env_dir / ".lock"
    uv_lock.touch(mode=0o666)
    before = exact_snapshot(env_dir)
    with open(uv_lock, "rb") as held:  # as uv holds it while it installs
        fcntl.flock(held, fcntl.LOCK_EX)
        result = refused("apply", plan)
    assert result.stderr == (
        f"error: {uv_lock}: locked by another installer (uv holds it while it changes the"
        " environment); try again when it is done\n"
    )
    assert exact_snapshot(env_dir) == before
    moves = sum(1 for entry in plan_data(plan)["files"] if entry["action"] != "write")
    apply = stopped_apply(plan, moves // 2)
    try:
        with open(uv_lock, "rb") as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # uv would wait here
    finally:
        apply.send_signal(signal.SIGCONT)
        err = apply.communicate()[1]
    assert apply.returncode == 0, err
    assert diff(snapshot(env_dir), after | {".lock": before[".lock"][:2]}) == []


def test_a_lock_file_that_is_a_link_is_not_followed(upgrade, tmp_path: Path) -> None:
    """Asked while the apply holds its locks, stopped mid-transaction: the file the link
    names is not one of them. (An apply run while the test held that file's lock would
    wait for ever, not fail, were the link followed and the lock waited for.)"""
    env_dir, _, plan, after = upgrade
    elsewhere = tmp_path / "elsewhere"
    elsewhere.touch()
    (env_dir / ".lock").symlink_to(elsewhere)
    apply = stopped_apply(plan, 1)
    try:
        with open(elsewhere, "rb") as probe:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if followed
    finally:
        apply.send_signal(signal.SIGCONT)
        err = apply.communicate()[1]
    assert apply.returncode == 0, err
    assert diff(snapshot(env_dir), after | {".lock": ("link:" + str(elsewhere), 0)}) == []


def test_sigterm_rolls_an_apply_back_as_ctrl_c_does(upgrade) -> None:
    """`docker stop` and a cancelled CI job send SIGTERM: the environment is left as it
    was, not mid-transaction with a journal for `recover`."""
    env_dir, _, plan, _ = upgrade
    before = exact_snapshot(env_dir)
    moves = sum(1 for entry in plan_data(plan)["files"] if entry["action"] != "write")
    assert sigterm_at(plan, moves // 2) == (1, "error: interrupted\n")
    assert not has_journal(env_dir)
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize("kind", ["commit", "cleanup"])
def test_an_interrupt_at_or_past_the_commit_point_lets_the_apply_finish(upgrade, kind: str) -> None:
    """Past the commit point the apply is done but for dropping its journal: a SIGTERM
    there ended it with exit code 1, which says nothing changed, and left the journal
    for `recover` to roll forward."""
    env_dir, _, plan, after = upgrade
    kinds = checkpoints(env_dir, plan)
    assert sigterm_at(plan, kinds.index(kind) + 1) == (0, "")
    assert not has_journal(env_dir)
    assert diff(snapshot(env_dir), after) == []


def plan_wheel(plan: Path) -> str:
    """The wheel a one-distribution plan installs."""
    (dist,) = plan_data(plan)["distributions"]
    return str(dist["wheel_path"])


def test_two_applies_at_once_one_wins(upgrade) -> None:
    env_dir, _, plan, after = upgrade
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "wheelplan", "apply", str(plan), "--quiet"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(process.wait(), process.communicate()[1]) for process in processes]
    assert sorted(code for code, _ in results) == [0, 1], results
    (loser,) = [err for code, err in results if code == 1]
    assert loser.startswith("error: ") and loser.count("\n") == 1
    assert any(
        reason in loser
        for reason in ("another wheelplan apply or recover is running", "plan again")
    ), loser
    assert not has_journal(env_dir)
    assert diff(snapshot(env_dir), after) == []


def test_a_wheel_swapped_for_a_named_pipe_mid_apply_is_refused_not_waited_on(
    tmp_path: Path,
) -> None:
    """The apply hashes each wheel before it writes, and its workers open the wheels
    later: one swapped for a named pipe in between must be refused when a worker opens
    it (and the apply rolled back), not leave the worker waiting for a pipe's writer."""
    wheels = [
        build_wheel(WheelSpec(name, files={f"{name}/__init__.py": b"X = 1\n"}), tmp_path / "w")
        for name in ("first", "second")
    ]
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    plan = tmp_path / "plan.json"
    save_plan(python, plan, wheels)
    options = ("--no-cache", "--jobs", "1")
    # Stopped before its first file is created: no worker has opened both wheels yet.
    first_create = checkpoints(env_dir, plan, *options).index("create") + 1
    before = exact_snapshot(env_dir)
    apply = stopped_apply(plan, first_create, *options)
    for wheel in wheels:
        wheel.unlink()
        os.mkfifo(wheel)
    apply.send_signal(signal.SIGCONT)
    try:
        err = apply.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        apply.kill()
        apply.communicate()
        raise AssertionError("the apply waited on a named pipe given as a wheel") from None
    assert apply.returncode == 1, err
    assert err.startswith(f"error: {wheels[0]}: cannot read wheel: ") or err.startswith(
        f"error: {wheels[1]}: cannot read wheel: "
    ), err
    assert err.count("\n") == 1 and "named pipe" in err and "rolled back" in err, err
    assert not has_journal(env_dir)
    assert exact_snapshot(env_dir) == before


# --- read-only parts of the target -------------------------------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def test_a_read_only_folder_is_refused_before_any_change(upgrade) -> None:
    env_dir, _, plan, _ = upgrade
    folder = env_dir / SITE / "jwt"
    before = exact_snapshot(env_dir)
    if os.geteuid() == 0:
        # root writes through any mode: make the folder a read-only bind mount instead.
        assert _mount("--bind", str(folder), str(folder))
        assert _mount("-o", "remount,bind,ro", str(folder))
    else:
        folder.chmod(0o555)
    try:
        result = refused("apply", plan)
        assert f"{SITE}/jwt: is read-only" in result.stderr
        assert exact_snapshot(env_dir) == before
        assert not has_journal(env_dir)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)


def _immutable(path: Path, on: bool) -> bool:
    return (
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True).returncode
        == 0
    )


def test_a_file_that_cannot_be_moved_rolls_the_apply_back(upgrade) -> None:
    env_dir, _, plan, after = upgrade
    files = plan_data(plan)["files"]
    assert isinstance(files, list)
    # The last file the apply moves aside: every move before it must be undone.
    last = max(entry["path"] for entry in files if entry["action"] != "write")
    stuck = env_dir / last
    before = exact_snapshot(env_dir)
    if shutil.which("chattr") is None or not _immutable(stuck, True):
        pytest.skip("this file system has no immutable attribute (chattr +i) to test with")
    try:
        result = refused("apply", plan, "--jobs", "2")
        assert "apply failed and was rolled back" in result.stderr
        assert "Operation not permitted" in result.stderr
        assert not has_journal(env_dir)
    finally:
        _immutable(stuck, False)
    assert exact_snapshot(env_dir) == before
    ok("apply", plan, "--quiet")
    assert diff(snapshot(env_dir), after) == []


def test_read_only_files_are_replaced_and_restored_with_their_mode(upgrade) -> None:
    env_dir, _, plan, after = upgrade
    data = plan_data(plan)
    files = data["files"]
    assert isinstance(files, list)
    replaced = next(
        e["path"] for e in files if e["action"] == "replace" and e["path"].endswith(".py")
    )
    removed = next(e["path"] for e in files if e["action"] == "remove" and "dist-info" in e["path"])
    for path in (replaced, removed):
        (env_dir / path).chmod(0o444)
    (env_dir / SITE / "jwt").chmod(0o700)  # a folder mode of the user's, kept as it is
    before = exact_snapshot(env_dir)
    assert before[replaced][1] == 0o444
    # Fail at the commit point, after every planned change was made.
    commit = checkpoints(env_dir, plan).index("commit") + 1
    assert exact_snapshot(env_dir) == before
    result = refused("apply", plan, env={"WHEELPLAN_FAULT": f"error:{commit}"})
    assert f"injected fault at file operation {commit}" in result.stderr
    assert exact_snapshot(env_dir) == before
    ok("apply", plan, "--quiet")
    expected = {**after, f"{SITE}/jwt": ("dir", 0o700)}
    assert diff(snapshot(env_dir), expected) == []


@pytest.mark.parametrize("epoch", [None, "1700000000"], ids=["now", "source-date-epoch"])
def test_a_rolled_back_apply_sets_every_folders_time_back(
    tmp_path: Path, epoch: str | None
) -> None:
    """Also a folder only a removed subfolder changed: `shared` keeps `b.py` of another
    distribution, while the upgrade empties and removes `shared/a_sub`. Under
    SOURCE_DATE_EPOCH the apply sets every planned folder's time just before its commit,
    `lib` and `lib/python3.11` too, which nothing else in them changes."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("a", files={"shared/a_sub/x.py": b"X = 1\n"}), wheels)
    new = build_wheel(WheelSpec("a", version="2.0", files={"a2.py": b""}), wheels)
    other = build_wheel(WheelSpec("b", files={"shared/b.py": b""}), wheels)
    env_dir, plan = tmp_path / "env", tmp_path / "upgrade.json"
    python = rebuild_env(env_dir)
    install(python, [old, other])
    save_plan(python, plan, [new])
    kinds = checkpoints(env_dir, plan, "--no-cache")
    assert "rmdir" in kinds
    before, times = exact_snapshot(env_dir), folder_mtimes(env_dir)
    time.sleep(0.01)  # so that a folder changed now has another time, even on coarse clocks
    commit = kinds.index("commit") + 1
    fault = {"WHEELPLAN_FAULT": f"error:{commit}"}
    refused(
        "apply",
        plan,
        "--no-cache",
        env={**fault, **({"SOURCE_DATE_EPOCH": epoch} if epoch else {})},
    )
    assert exact_snapshot(env_dir) == before
    assert folder_mtimes(env_dir) == times


def test_a_rolled_back_apply_gives_a_removed_folder_back_to_its_owner(tmp_path: Path) -> None:
    """The upgrade empties and removes `a/sub`, another user's folder with a mode of its
    own; failing at the commit point, the rollback recreates it as it was."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("a", files={"a/__init__.py": b"", "a/sub/x.py": b""}), wheels)
    new = build_wheel(WheelSpec("a", version="2.0", files={"a/__init__.py": b"V = 2\n"}), wheels)
    env_dir, plan = tmp_path / "env", tmp_path / "upgrade.json"
    python = rebuild_env(env_dir)
    install(python, [old])
    removed = env_dir / SITE / "a" / "sub"
    removed.chmod(0o750)
    owner = give_to_another_user(removed)
    save_plan(python, plan, [new])
    kinds = checkpoints(env_dir, plan, "--no-cache")
    assert "rmdir" in kinds
    before = exact_snapshot(env_dir)
    assert before[f"{SITE}/a/sub"] == ("dir", 0o750, *owner, 0, 0)
    commit = kinds.index("commit") + 1
    result = refused("apply", plan, "--no-cache", env={"WHEELPLAN_FAULT": f"error:{commit}"})
    assert "rolled back" in result.stderr
    assert exact_snapshot(env_dir) == before


def test_a_folder_whose_time_cannot_be_set_back_does_not_stop_the_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a folder's owner may set its times; a group-writable folder of another user's
    is changed by the apply but keeps its new time, and the rollback goes on."""
    base = tmp_path / "env"
    (base / "theirs").mkdir(parents=True)
    (base / "mine").mkdir()
    new_files = ("theirs/new.py", "mine/new.py")
    changing = journal.folder_times(str(base), ["", "theirs", "mine"])
    intent = journal.Intent((), new_files, (), fsync=False, folder_times=changing)
    times = folder_mtimes(base)
    time.sleep(0.01)
    journal.Journal(str(base), fsync=False).begin(intent)
    for path in intent.new_files:
        (base / path).write_bytes(b"")
    real_utime = os.utime

    def utime(path: str, *args: Any, **kwargs: Any) -> None:
        if path.endswith("theirs"):
            raise PermissionError(errno.EPERM, "Operation not permitted", path)
        real_utime(path, *args, **kwargs)

    monkeypatch.setattr(os, "utime", utime)
    assert recovery.recover(str(base)) == "rolled back"
    assert sorted(p.name for p in base.rglob("*")) == ["mine", "theirs"]
    after = folder_mtimes(base)
    assert after["theirs"] != times["theirs"]
    assert {**after, "theirs": times["theirs"]} == times


def test_a_rollback_sets_no_times_through_a_folder_since_turned_into_a_symlink(
    tmp_path: Path,
) -> None:
    """A folder whose times the journal holds, replaced since by a link to a folder
    outside, keeps the link's target as it is: the rollback writes nothing outside."""
    base = tmp_path / "env"
    (base / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.utime(outside, ns=(10**9, 10**9))
    changing = journal.folder_times(str(base), ["sub"])
    journal.Journal(str(base), fsync=False).begin(journal.Intent((), (), (), folder_times=changing))
    (base / "sub").rmdir()
    (base / "sub").symlink_to(outside)
    assert recovery.recover(str(base)) == "rolled back"
    info = outside.stat()
    assert (info.st_atime_ns, info.st_mtime_ns) == (10**9, 10**9)


@pytest.mark.parametrize("staging", [False, True], ids=["folder", "staged"])
def test_a_rollback_removes_no_folder_above_those_it_may_have_made(
    tmp_path: Path, staging: bool
) -> None:
    """A journal's count of the folders its apply made is believed only up to the
    staging folder (without one, the prefix folder): an edited count of 100 removes no
    empty folder above it."""
    above = tmp_path / "above"
    root = above / "root"
    base = root / "staged" / "env" if staging else above / "env"
    base.mkdir(parents=True)
    journal.Journal(str(base), fsync=False).begin(journal.Intent((), (), (), made=100))
    assert recovery.recover(str(base), str(root) if staging else None) == "rolled back"
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == ["above"]


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "without-intent"])
def test_a_journal_is_dropped_however_deep_a_tree_in_it(
    tmp_path: Path, deep_tree: DeepTree, committed: bool
) -> None:
    """Recovery removes the journal whole, whatever its backup holds: a tree deeper
    than a recursive removal goes raised RecursionError there, at every `recover`, and
    the journal left behind refused every apply."""
    base = tmp_path / "env"
    base.mkdir()
    tx = journal.Journal(str(base), fsync=False)
    tx.begin(journal.Intent((), (), ()))
    if committed:
        tx.commit([])
    else:
        os.unlink(base / JOURNAL_DIR / journal.INTENT)
    deep_tree(base / JOURNAL_DIR / journal.BACKUP / "0", DEPTH)
    assert recovery.recover(str(base)) == ("rolled forward" if committed else "clean")
    assert os.listdir(base) == []


# --- a full disk ----------------------------------------------------------------------


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        if not _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", folder):
            return False
        subprocess.run(["umount", folder], check=True)
        return True


# The simulated full disk always runs; the real one when this run may mount a tmpfs.
# Either way the test ids say which ran.
DISK_FULL = ["tmpfs", "injected-ENOSPC"] if _can_mount_tmpfs() else ["injected-ENOSPC"]


def _used_bytes(path: Path) -> int:
    info = os.statvfs(path)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


@pytest.mark.parametrize("method", DISK_FULL)
def test_a_full_disk_rolls_the_apply_back(tmp_path: Path, real_wheels, method: str) -> None:
    """A real small tmpfs (when this run may mount one), and ENOSPC from the fault hook.

    The method is in the test id, so a run that could not mount says so.
    """
    old, new = real_wheels(JWT_VERSIONS)
    disk = tmp_path / "disk"
    disk.mkdir()
    if method == "tmpfs":
        assert _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk))
    try:
        env_dir = disk / "env"
        after = fresh_tree(env_dir, [new], "--compile-bytecode", env=REPRODUCIBLE)
        python = rebuild_env(env_dir)
        install(python, [old], "--compile-bytecode", env=REPRODUCIBLE)
        plan = tmp_path / "upgrade.json"
        save_plan(python, plan, [new])
        before = exact_snapshot(env_dir)
        env = dict(REPRODUCIBLE)
        if method == "tmpfs":
            # Room for the journal, not for the new files next to the old ones.
            assert _mount("-o", f"remount,size={_used_bytes(disk) + 48 * 1024}", str(disk))
        else:
            third_create = checkpoints(env_dir, plan, "--compile-bytecode").index("create") + 3
            env["WHEELPLAN_FAULT"] = f"enospc:{third_create}"
        result = refused("apply", plan, "--compile-bytecode", env=env)
        assert "No space left on device" in result.stderr
        # The line names the file that could not be written, not only the environment.
        assert f": '{env_dir}/" in result.stderr
        assert "rolled back" in result.stderr or "nothing changed" in result.stderr
        assert result.stderr.count("\n") == 1
        assert not has_journal(env_dir)
        assert exact_snapshot(env_dir) == before
        if method == "tmpfs":
            assert _mount("-o", "remount,size=16m", str(disk))
        ok("apply", plan, "--quiet", "--compile-bytecode", env=REPRODUCIBLE)
        assert diff(snapshot(env_dir), after) == []
    finally:
        if method == "tmpfs":
            subprocess.run(["umount", "-l", str(disk)], check=True)


# --- as a new user would ----------------------------------------------------------------


def test_a_users_session(tmp_path: Path, real_wheels) -> None:
    """Install a set, upgrade part, remove part, kill an apply, recover: right at every step."""
    six, idna, old, new = real_wheels(("six==1.16.0", "idna==3.7", *JWT_VERSIONS))
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)

    def agree(expected: dict[str, str]) -> None:
        assert installed_by_metadata(python) == expected
        assert pip_list(python) == expected
        assert missing_recorded_files(python) == []
        assert not has_journal(env_dir)

    install(python, [six, idna, old], "--compile-bytecode")
    agree({"six": "1.16.0", "idna": "3.7", "pyjwt": "2.8.0"})
    install(python, [new], "--compile-bytecode", "--fsync")
    agree({"six": "1.16.0", "idna": "3.7", "pyjwt": "2.15.1"})
    ok("install", "--remove", "idna", "--python", python, "--quiet")
    agree({"six": "1.16.0", "pyjwt": "2.15.1"})

    before = exact_snapshot(env_dir)
    plan = tmp_path / "down.json"
    save_plan(python, plan, [old, idna])
    halfway = len(plan_data(plan)["files"]) // 2
    killed = run_cli(
        "apply", plan, "--compile-bytecode", env={"WHEELPLAN_FAULT": f"kill:{halfway}"}
    )
    assert killed.returncode == -signal.SIGKILL
    assert has_journal(env_dir)
    for command in (["plan", new, "--python", python], ["apply", plan]):
        assert RECOVER_HINT in refused(*command).stderr
    assert ok("recover", "--python", python).strip() == f"{env_dir}: rolled back"
    assert exact_snapshot(env_dir) == before
    agree({"six": "1.16.0", "pyjwt": "2.15.1"})
    ok("apply", plan, "--quiet", "--compile-bytecode")
    agree({"six": "1.16.0", "idna": "3.7", "pyjwt": "2.8.0"})
    assert ok("recover", "--python", python).strip() == f"{env_dir}: clean"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("new_files", "keep.txt"),
        ("created_dirs", "empty"),
        ("folder_times", "empty"),
        (journal.REMOVED_DIRS, "empty"),
    ],
    ids=["file", "folder", "times", "removed"],
)
def test_a_journal_path_under_a_symlink_that_leads_outside_is_not_followed(
    tmp_path: Path, key: str, name: str
) -> None:
    """A path the journal names may be safe as text and still lead out through a link:
    a folder the apply made, named so, was removed outside when it was empty; one whose
    times it holds, or one it removed, would have its times, or mode, set out there."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    (outside / "keep.txt").write_text("keep me")
    os.utime(outside / "empty", ns=(10**9, 10**9))
    (env_dir / SITE / "escape").symlink_to(outside)
    journal_dir = env_dir / ".wheelplan-journal"
    (journal_dir / "backup").mkdir(parents=True)
    path = f"{SITE}/escape/{name}"
    intent: dict[str, object] = {"created_dirs": [], "new_files": [], "moved": []}
    if key == "folder_times":
        intent[key] = [[path, 1, 1]]
    elif key == journal.REMOVED_DIRS:
        removed = {"path": path, "mode": 0o700, "uid": os.getuid(), "gid": os.getgid()}
        (journal_dir / key).write_text(json.dumps(removed) + "\n")
    else:
        intent[key] = [path]
    (journal_dir / "intent.json").write_text(json.dumps(intent))
    before, around = exact_snapshot(env_dir), exact_snapshot(outside)
    result = refused("recover", "--python", python)
    assert "leads outside the environment through a symlink" in result.stderr
    assert exact_snapshot(outside) == around
    assert (outside / "empty").stat().st_mtime_ns == 10**9
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize(
    ("moved", "problem"),
    [
        (["a.py", "a.py"], "intent.json names a moved file twice"),
        (["b.py"], "backup/ holds '1', the backup of no file intent.json names"),
    ],
    ids=["named-twice", "one-left-out"],
)
def test_a_journal_that_does_not_name_each_backup_once_is_refused(
    tmp_path: Path, moved: list[str], problem: str
) -> None:
    """A moved file named twice was put back from its second backup only, and one left
    out of the list gave each file after it the backup of the one before: either way
    a backup was never put back, and went with the journal."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    backup = env_dir / JOURNAL_DIR / "backup"
    backup.mkdir(parents=True)
    (backup / "0").write_text("A = 1\n")
    (backup / "1").write_text("B = 1\n")
    intent = {"created_dirs": [], "new_files": [], "moved": [f"{SITE}/{name}" for name in moved]}
    (backup.parent / "intent.json").write_text(json.dumps(intent))
    before = exact_snapshot(env_dir)
    result = refused("recover", "--python", python)
    assert f"the journal is damaged ({problem});" in result.stderr
    assert exact_snapshot(env_dir) == before


# The backup id of the journals made by hand below, and their backup folders' name.
BACKUP_ID = "0123456789abcdef"
BACKUP_NAME = f".wheelplan-backup-{BACKUP_ID}"


def _journal_with_mounts(
    env_dir: Path, mounts: object, committed: bool, new_files: list[str]
) -> None:
    """A killed apply's journal, made by hand, whose one moved file (`SITE/x.py`) is
    backed up on the other mount `mounts` names."""
    journal_dir = env_dir / JOURNAL_DIR
    (journal_dir / "backup").mkdir(parents=True)
    intent = {
        "created_dirs": [],
        "new_files": new_files,
        "moved": [f"{SITE}/x.py"],
        "mounts": mounts,
        "backup_id": BACKUP_ID,
    }
    (journal_dir / "intent.json").write_text(json.dumps(intent))
    if committed:
        (journal_dir / "committed").write_text("")


@pytest.mark.parametrize("committed", [False, True], ids=["rollback", "roll-forward"])
@pytest.mark.parametrize("link", ["folder", "backup"])
def test_a_journal_backup_folder_under_a_symlink_that_leads_outside_is_not_followed(
    tmp_path: Path, committed: bool, link: str
) -> None:
    """A backup folder on another mount is removed with the journal, also when rolling
    forward: one that leads out through a link, on the way or its own, would be removed
    out there."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    outside = tmp_path / "outside"
    (outside / BACKUP_NAME).mkdir(parents=True)
    (outside / BACKUP_NAME / "0").write_text("keep me")
    if link == "folder":
        (env_dir / SITE / "escape").symlink_to(outside)
        top = f"{SITE}/escape"
        problem = f"'{top}/{BACKUP_NAME}' leads outside the environment through a symlink"
    else:
        (env_dir / SITE / BACKUP_NAME).symlink_to(outside / BACKUP_NAME)
        top = SITE
        problem = f"'{top}/{BACKUP_NAME}' is not a folder but a symlink or a file"
    _journal_with_mounts(env_dir, [[top, [0]]], committed, new_files=[])
    before, outside_before = exact_snapshot(env_dir), snapshot(outside)
    result = refused("recover", "--python", python)
    assert problem in result.stderr
    assert exact_snapshot(env_dir) == before
    assert snapshot(outside) == outside_before


@pytest.mark.parametrize(
    "mounts",
    [
        "not a list",
        [[f"{SITE}", [1]]],  # no second moved file
        [[f"{SITE}", [0]], [f"{SITE}/pkg", [0]]],  # one backup in two places
        [[f"{SITE}", [0]], [f"{SITE}", []]],  # one mount twice
        [[f"{SITE}", [True]]],
        [["../outside", [0]]],
        [[f"{SITE}/.wheelplan-backup", [0]]],
        [[f"{SITE}/{BACKUP_NAME}", [0]]],
        [[f"{SITE}/.wheelplan-backup-other", [0]]],
    ],
)
def test_a_journal_whose_backup_folders_make_no_sense_is_refused(
    tmp_path: Path, mounts: object
) -> None:
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    _journal_with_mounts(env_dir, mounts, committed=False, new_files=[])
    before = exact_snapshot(env_dir)
    result = refused("recover", "--python", python)
    assert "the journal is damaged" in result.stderr
    assert exact_snapshot(env_dir) == before


def _journal_backed_up_in_site_packages(env_dir: Path, committed: bool) -> Path:
    """A journal, as a killed apply leaves it, whose one moved file is backed up at the
    top of site-packages, named a mount of its own; returns that backup."""
    site = env_dir / SITE
    (site / BACKUP_NAME).mkdir()
    (site / BACKUP_NAME / "0").write_text("X = 1\n")
    (site / "x.py").write_text("X = 2\n")
    _journal_with_mounts(env_dir, [[SITE, [0]]], committed, new_files=[f"{SITE}/x.py"])
    return site / BACKUP_NAME / "0"


@pytest.mark.parametrize("committed", [False, True], ids=["rollback", "roll-forward"])
def test_a_journal_that_backed_up_on_a_folder_no_longer_mounted_is_not_recovered(
    tmp_path: Path, committed: bool
) -> None:
    """site-packages is no mount of its own here (as when its volume was unmounted
    since): the backups the journal names are not the ones there, and dropping the
    journal would lose the only record of where they are."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    _journal_backed_up_in_site_packages(env_dir, committed)
    stderr = refused_unchanged(env_dir, "recover", "--python", python)
    assert stderr == (
        f"error: {env_dir / SITE}: the interrupted apply backed up files at the top of the"
        " mount here, which is not mounted now; mount it again, then run recover again\n"
    )


def test_a_damaged_journal_names_its_backup_folders_on_other_mounts(tmp_path: Path) -> None:
    """Restoring by hand needs every backup, those on other mounts too."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    _journal_backed_up_in_site_packages(env_dir, committed=False)
    (env_dir / JOURNAL_DIR / "removed-dirs").write_text("not json\n")
    stderr = refused_unchanged(env_dir, "recover", "--python", python)
    assert stderr == (
        f"error: {env_dir / JOURNAL_DIR}: the journal is damaged (removed-dirs has a line"
        " that is not JSON); wheelplan will not guess how to undo it. Inspect it and"
        f" restore the files in backup/ and in {env_dir / SITE / BACKUP_NAME}/ by hand\n"
    )


def _restore_from(*folders: str) -> str:
    """The end of a damaged journal's message: where the files to restore by hand are."""
    return f" guess how to undo it. Inspect it and restore the files in {' and in '.join(folders)}"


# Where a damaged journal's backups on other mounts may be when it cannot tell.
ON_ANY_MOUNT = "any .wheelplan-backup-*/ folder at the top of a mount inside the environment"


@pytest.mark.parametrize(
    ("damage", "problem", "backup_name"),
    [
        (
            "not JSON",
            "intent.json is not valid JSON: Expecting value: line 1 column 1 (char 0)",
            None,
        ),
        ("FIFO", "intent.json cannot be read: it is a named pipe (FIFO), not a file", None),
        ("not an object", "intent.json does not have the expected fields", None),
        ("no moved", "intent.json does not have the expected fields", BACKUP_NAME),
        ("unsafe new file", "it names the unsafe path '../x.py'", BACKUP_NAME),
        (
            "times",
            "intent.json has folder times that are not [path, atime, mtime] in nanoseconds",
            BACKUP_NAME,
        ),
        ("made", "intent.json has a count of folders made that no path can have", BACKUP_NAME),
        (
            "where",
            "intent.json names where it was written with no folder's path",
            BACKUP_NAME,
        ),
        (
            "index",
            "intent.json has mounts that are not [folder, [moved file's index]]",
            BACKUP_NAME,
        ),
        (
            "no id",
            "intent.json has backup folders on other mounts but no backup id",
            ".wheelplan-backup-*",
        ),
        ("unsafe mount", "it names the unsafe path '../outside'", None),
    ],
)
def test_a_damaged_intent_names_every_place_its_backups_may_be(
    tmp_path: Path, damage: str, problem: str, backup_name: str | None
) -> None:
    """Restoring by hand needs every backup: an intent.json read in part still names
    its backup folders on other mounts, and one that names none that can be trusted
    says where such folders are made, rather than only `backup/`."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    _journal_backed_up_in_site_packages(env_dir, committed=False)
    journal_dir = env_dir / JOURNAL_DIR
    intent_file = journal_dir / "intent.json"
    intent = json.loads(intent_file.read_text())
    if damage == "not JSON":
        intent_file.write_text("not JSON")
    elif damage == "FIFO":
        intent_file.unlink()
        os.mkfifo(intent_file)
    elif damage == "not an object":
        intent_file.write_text(json.dumps(list(intent.items())))
    elif damage == "no moved":
        del intent["moved"]
    elif damage == "unsafe new file":
        intent["new_files"] = ["../x.py"]
    elif damage == "times":
        intent["folder_times"] = [["", 1, 10**30]]
    elif damage == "made":
        intent["made"] = -1
    elif damage == "where":
        intent["where"] = "/venv\nerror: forged"
    elif damage == "index":
        intent["mounts"] = [[SITE, [1]]]
    elif damage == "no id":
        del intent["backup_id"]
    else:
        intent["mounts"] = [["../outside", [0]]]
    if damage not in ("not JSON", "FIFO", "not an object"):
        intent_file.write_text(json.dumps(intent))
    before = exact_snapshot(env_dir / SITE)  # not the journal's FIFO, which a read would block on
    result = run_cli("recover", "--python", python)
    where = [f"{env_dir / SITE / backup_name}/"] if backup_name else [ON_ANY_MOUNT]
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {journal_dir}: the journal is damaged ({problem}); wheelplan will not"
        + _restore_from("backup/", *where)
        + " by hand\n",
    )
    assert exact_snapshot(env_dir / SITE) == before
    assert sorted(path.name for path in journal_dir.iterdir()) == ["backup", "intent.json"]


def test_a_removed_dirs_that_is_no_file_names_the_backup_folders_on_other_mounts(
    tmp_path: Path,
) -> None:
    """removed-dirs is read after intent.json, which names them, whatever the damage."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    _journal_backed_up_in_site_packages(env_dir, committed=False)
    os.mkfifo(env_dir / JOURNAL_DIR / "removed-dirs")
    problem = "removed-dirs cannot be read: it is a named pipe (FIFO), not a file"
    before = exact_snapshot(env_dir / SITE)
    result = run_cli("recover", "--python", python)
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {env_dir / JOURNAL_DIR}: the journal is damaged ({problem}); wheelplan will"
        " not" + _restore_from("backup/", f"{env_dir / SITE / BACKUP_NAME}/") + " by hand\n",
    )
    assert exact_snapshot(env_dir / SITE) == before


@pytest.mark.parametrize("backup_id", [None, "", "../up", BACKUP_ID.upper(), BACKUP_ID + "0", 7])
def test_a_journal_with_backup_folders_but_no_id_of_its_own_is_refused(
    tmp_path: Path, backup_id: object
) -> None:
    """Its backup folders' name would be another journal's, or lead elsewhere."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    _journal_backed_up_in_site_packages(env_dir, committed=False)
    intent_file = env_dir / JOURNAL_DIR / "intent.json"
    intent = json.loads(intent_file.read_text())
    if backup_id is None:
        del intent["backup_id"]
    else:
        intent["backup_id"] = backup_id
    intent_file.write_text(json.dumps(intent))
    stderr = refused_unchanged(env_dir, "recover", "--python", python)
    assert "intent.json has backup folders on other mounts but no backup id" in stderr


def refused_leading_out(
    link: str, env_dir: Path, outside: Path, *args: str | os.PathLike[str]
) -> None:
    """Run the CLI: it must refuse with the one line naming `link`, the symlinked folder
    leading out, and change neither the environment nor the folder outside."""
    before, kept = exact_snapshot(env_dir), snapshot(outside)
    result = refused(*args)
    assert result.stderr == f"error: {link}: leads outside the environment (a symlink)\n"
    assert snapshot(outside) == kept
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize("to", ["a folder", "nothing"])
@pytest.mark.parametrize("linked", ["before planning", "after planning"])
def test_a_folder_a_wheel_writes_into_that_links_outside_is_refused(
    tmp_path: Path, linked: str, to: str
) -> None:
    """Before planning, the plan sees the link, so a dry run already says what `apply`
    would refuse. After, the apply refuses it with nothing written. Either names the
    link once, not every planned folder found below it, nor a dangling link again as a
    file where a folder is planned."""
    files = {"demo/__init__.py": b"", "demo/sub/x.py": b""}
    wheel = build_wheel(WheelSpec("demo", files=files), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    plan = tmp_path / "plan.json"
    if linked == "after planning":
        save_plan(python, plan, [wheel])
    outside = tmp_path / "outside"
    if to == "a folder":
        (outside / "sub").mkdir(parents=True)
    (env_dir / SITE / "demo").symlink_to(outside)
    command = ("apply", plan) if linked == "after planning" else ("plan", wheel, "--python", python)
    refused_leading_out(f"{SITE}/demo", env_dir, outside, *command)


def test_a_plan_that_leaves_a_linked_folder_out_of_its_directories_writes_nothing_outside(
    tmp_path: Path,
) -> None:
    """An edited plan (digest recomputed) may omit the folder it writes into from its
    directories; the apply still finds the link out on the way, where it once wrote
    through it."""
    wheel = build_wheel(WheelSpec("demo", files={"demo/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    plan = tmp_path / "plan.json"
    save_plan(python, plan, [wheel])
    data = plan_data(plan)
    data["directories"].remove(f"{SITE}/demo")
    plan.write_text(json.dumps(recompute_digest(data)))
    outside = tmp_path / "outside"
    outside.mkdir()
    (env_dir / SITE / "demo").symlink_to(outside)
    refused_leading_out(f"{SITE}/demo", env_dir, outside, "apply", plan)


def test_bytecode_is_not_written_through_a_pycache_that_links_outside(tmp_path: Path) -> None:
    """Where bytecode goes is known only to an apply that compiles: it refuses a
    `__pycache__` linked outside, where it once wrote the `.pyc`; one that does not
    compile writes nothing there and installs."""
    wheel = build_wheel(WheelSpec("demo", files={"demo/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    (env_dir / SITE / "demo").mkdir()
    (env_dir / SITE / "demo" / "__pycache__").symlink_to(outside)
    compiling = ("install", wheel, "--python", python, "--compile-bytecode")
    refused_leading_out(f"{SITE}/demo/__pycache__", env_dir, outside, *compiling)
    install(python, [wheel])
    assert list(outside.iterdir()) == []


def test_a_pycache_that_is_no_folder_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """A dangling `__pycache__` link: the apply's mkdir found it after the files were
    written, and rolled back."""
    wheel = build_wheel(WheelSpec("demo", files={"demo/__init__.py": b""}), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    (env_dir / SITE / "demo").mkdir()
    (env_dir / SITE / "demo" / "__pycache__").symlink_to("missing")
    before = exact_snapshot(env_dir)
    result = refused("install", wheel, "--python", python, "--compile-bytecode")
    assert result.stderr == f"error: {SITE}/demo/__pycache__: is not a directory in the target\n"
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize("linked", ["before planning", "after planning"])
def test_removing_files_through_a_symlink_out_is_refused(tmp_path: Path, linked: str) -> None:
    """A package folder linked elsewhere (a checkout, say). Before planning, the dry run
    already refuses what `apply` would. After, the apply finds the files through the
    link by the names its plan expects: they are outside and must stay (a folder files
    are only removed from is no planned directory)."""
    files = {"demo/__init__.py": b"", "demo/core.py": b"x = 1\n"}
    wheel = build_wheel(WheelSpec("demo", files=files), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [wheel])
    plan = tmp_path / "plan.json"
    if linked == "after planning":
        ok("plan", "--remove", "demo", "--python", python, "-o", plan)
        assert set(removals_of(plan_data(plan))) >= {f"{SITE}/{name}" for name in files}
    outside = tmp_path / "outside"
    shutil.move(env_dir / SITE / "demo", outside)
    (env_dir / SITE / "demo").symlink_to(outside)
    dry_run = ("uninstall", "demo", "--python", python, "--dry-run")
    command = ("apply", plan) if linked == "after planning" else dry_run
    refused_leading_out(f"{SITE}/demo", env_dir, outside, *command)


# `alias` links to `lib`, so data files under `alias/` land in site-packages; `pkg` is
# a folder already there that `pkg-alias` links to. The first wheel of each case installs
# alone; with the second, one path has two planned names, which applied would collide.
_THROUGH_ALIAS = {
    "made-folder": (
        {
            "first/__init__.py": b"",
            f"first-1.0.data/data/alias{SITE.removeprefix('lib')}/shared/x.py": b"x = 1\n",
        },
        {"shared/x.py": b"x = 1\n"},
        f"alias{SITE.removeprefix('lib')}/shared",
        f"{SITE}/shared",
    ),
    "file": (
        {"first/__init__.py": b"", "pkg-alias/x.py": b"x = 1\n"},
        {"pkg/y.py": b"", "pkg/x.py": b"x = 2\n"},
        f"{SITE}/pkg-alias/x.py",
        f"{SITE}/pkg/x.py",
    ),
}


@pytest.mark.parametrize("case", sorted(_THROUGH_ALIAS))
def test_one_path_planned_by_two_names_through_a_symlink_is_refused(
    tmp_path: Path, case: str
) -> None:
    """A link inside the environment is followed, as pip follows it; two names for one
    path are refused when planned, where applied they failed and rolled back."""
    first_files, second_files, by_link, by_name = _THROUGH_ALIAS[case]
    wheels = tmp_path / "wheels"
    first = build_wheel(WheelSpec("first", files=first_files), wheels)
    second = build_wheel(WheelSpec("second", files=second_files), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    (env_dir / "alias").symlink_to("lib")
    (env_dir / SITE / "pkg").mkdir()
    (env_dir / SITE / "pkg-alias").symlink_to("pkg")
    before = exact_snapshot(env_dir)
    result = refused("plan", first, second, "--python", python)
    assert result.stderr == (
        f"error: {by_link}: is {by_name} in the target (through a symlinked folder),"
        f" which second ({second.name}) also writes; planned by first ({first.name})\n"
    )
    assert exact_snapshot(env_dir) == before
    install(python, [first])
    landing = by_name if by_name.endswith(".py") else f"{by_name}/x.py"
    assert (env_dir / landing).read_bytes() == b"x = 1\n"


def test_verify_owns_a_file_its_record_names_through_a_symlinked_folder(tmp_path: Path) -> None:
    """A venv's `lib64` links to `lib`: the file a RECORD lists as `lib64/...` is the one
    the walk finds as `lib/...`, once reported as unowned."""
    through_lib64 = f"lib64{SITE.removeprefix('lib')}/shared/x.py"
    files = {"demo/__init__.py": b"", f"demo-1.0.data/data/{through_lib64}": b"x = 1\n"}
    wheel = build_wheel(WheelSpec("demo", files=files), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    assert (env_dir / "lib64").resolve() == (env_dir / "lib").resolve()
    install(python, [wheel], "--compile-bytecode")
    record = (env_dir / SITE / "demo-1.0.dist-info" / "RECORD").read_text()
    assert f"../../../{through_lib64}," in record
    assert (env_dir / SITE / "shared" / "x.py").read_bytes() == b"x = 1\n"
    assert ok("verify", "--python", python).endswith("; no problems\n")
    (env_dir / SITE / "shared" / "stray.py").write_text("")
    result = refused("verify", "--python", python)
    assert result.stderr == (
        f"error: {env_dir / SITE / 'shared' / 'stray.py'}: unowned: not listed in any RECORD\n"
    )


def test_a_removal_named_through_lib64_never_removes_a_scheme_folder(tmp_path: Path) -> None:
    """Scheme folders were kept by their spelling alone: uninstalling a distribution
    whose one file its RECORD names through a venv's `lib64` link emptied
    `lib64/.../site-packages`, and the apply removed that folder, which is `lib`'s."""
    through_lib64 = f"lib64{SITE.removeprefix('lib')}/only.pth"
    files = {f"aliased-1.0.data/data/{through_lib64}": b"import os\n"}
    wheel = build_wheel(WheelSpec("aliased", files=files), tmp_path / "wheels")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    assert (env_dir / "lib64").is_symlink()
    install(python, [wheel])
    assert (env_dir / SITE / "only.pth").exists()
    ok("uninstall", "aliased", "--python", python, "--quiet")
    assert sorted(os.listdir(env_dir / SITE)) == []
    ok("verify", "--python", python)


def test_a_shared_file_of_a_distribution_installed_twice_is_owned_once_per_name(
    tmp_path: Path,
) -> None:
    """Both copies of a distribution installed twice list the shared file: it was
    given the name twice among its owners, which the apply refuses."""
    wheels = tmp_path / "wheels"
    shared = {"nv/__init__.py": b"# namespace\n"}
    nv_a = build_wheel(WheelSpec("nv_a", files={**shared, "nv/a.py": b""}), wheels)
    nv_b = build_wheel(WheelSpec("nv_b", files={**shared, "nv/b.py": b""}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [nv_a])
    first = env_dir / SITE / "nv_a-1.0.dist-info"
    second = env_dir / SITE / "nv_a-1.1.dist-info"
    shutil.copytree(first, second)
    (second / "METADATA").write_text((first / "METADATA").read_text().replace("1.0", "1.1"))
    record = second / "RECORD"
    record.write_text(record.read_text().replace("nv_a-1.0.dist-info", "nv_a-1.1.dist-info"))
    install(python, [nv_b])
    assert sorted(path.name for path in (env_dir / SITE).glob("nv_*.dist-info")) == [
        "nv_a-1.0.dist-info",
        "nv_a-1.1.dist-info",
        "nv_b-1.0.dist-info",
    ]
    assert (env_dir / SITE / "nv" / "b.py").exists()


def test_bytecode_goes_with_its_own_source_however_many_dots_its_name_holds(
    tmp_path: Path,
) -> None:
    """`conf.d.py` caches as `conf.d.cpython-311.pyc`: read as the bytecode of
    `conf.py`, its removal was refused; and `foo.py`'s removal took `foo.bar.py`'s."""
    wheels = tmp_path / "wheels"
    dotty = build_wheel(
        WheelSpec("dotty", files={"shared/conf.d.py": b"", "shared/foo.py": b""}), wheels
    )
    other = build_wheel(WheelSpec("other", files={"shared/foo.bar.py": b""}), wheels)
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [dotty, other])
    subprocess.run([str(python), "-m", "compileall", "-q", str(env_dir / SITE)], check=True)
    cache = env_dir / SITE / "shared" / "__pycache__"
    assert len(list(cache.iterdir())) == 3
    ok("uninstall", "dotty", "--python", python, "--quiet")
    assert [path.name for path in cache.iterdir()] == [
        f"foo.bar.{sys.implementation.cache_tag}.pyc"
    ]
    assert pip_list(python) == {"other": "1.0"}


def test_root_stages_an_upgrade_over_a_record_with_absolute_rows(tmp_path: Path) -> None:
    """Rows naming the prefix absolutely (older installers wrote them) were read
    against the staging folder under --root, and the upgrade refused as changing
    files no distribution lists."""
    wheels = tmp_path / "wheels"
    entry = "[console_scripts]\nmine-cli = mine:main\n"
    old = build_wheel(
        WheelSpec("mine", files={"mine/__init__.py": b"def main(): pass\n"}, entry_points=entry),
        wheels,
    )
    new = build_wheel(
        WheelSpec(
            "mine",
            version="2.0",
            files={"mine/__init__.py": b"def main(): pass\n"},
            entry_points=entry,
        ),
        wheels,
    )
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [old])
    record = env_dir / SITE / "mine-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text().replace("../../../bin/", f"{env_dir}/bin/"))
    assert f"{env_dir}/bin/mine-cli," in record.read_text()
    ok("verify", "--python", python)
    root = tmp_path / "root"
    staged = root / str(env_dir).lstrip("/")
    shutil.copytree(env_dir, staged, symlinks=True)
    plan = tmp_path / "upgrade.json"
    save_plan(python, plan, [new])
    ok("apply", plan, "--root", root, "--quiet")
    assert (staged / SITE / "mine-2.0.dist-info").exists()
    assert not (staged / SITE / "mine-1.0.dist-info").exists()


def test_verify_takes_a_site_packages_linked_to_a_folder_in_the_venv_as_its_layout(
    tmp_path: Path,
) -> None:
    """A site-packages moved elsewhere in the venv and linked back (as image builds
    do) was reported as an unowned file itself."""
    wheel = build_wheel(WheelSpec("demo", files={"demo/__init__.py": b""}), tmp_path / "w")
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    (env_dir / SITE).rename(env_dir / "moved")
    (env_dir / SITE).symlink_to(os.path.relpath(env_dir / "moved", (env_dir / SITE).parent))
    install(python, [wheel])
    assert (env_dir / "moved" / "demo" / "__init__.py").exists()
    assert ok("verify", "--python", python).endswith("; no problems\n")
    (env_dir / "moved" / "stray.py").write_text("")
    result = refused("verify", "--python", python)
    assert (
        result.stderr
        == f"error: {env_dir / 'moved' / 'stray.py'}: unowned: not listed in any RECORD\n"
    )
    # A file in a scheme folder's place is no layout.
    (env_dir / "moved" / "stray.py").unlink()
    (env_dir / SITE).unlink()
    (env_dir / SITE).write_text("")
    result = refused("verify", "--python", python)
    assert f"error: {env_dir / SITE}: unowned: not listed in any RECORD\n" in result.stderr


@pytest.mark.parametrize(
    "named", ["../outside.txt", ".wheelplan-journal/backup/0", ".wheelplan-journal"]
)
def test_a_journal_that_leads_outside_is_not_followed(
    tmp_path: Path, real_wheels, named: str
) -> None:
    """The journal is a file in the target like any other: recovery checks it first. One
    naming its own backup as a new file removed that backup, and then restored nothing
    from it."""
    (six,) = real_wheels(("six==1.16.0",))
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    install(python, [six])
    bait = tmp_path / "outside.txt"
    bait.write_text("keep me")
    journal = env_dir / ".wheelplan-journal"
    (journal / "backup").mkdir(parents=True)
    (journal / "backup" / "0").write_text("a file moved aside")
    intent = {"created_dirs": [], "new_files": [named], "moved": [], "fsync": False}
    (journal / "intent.json").write_text(json.dumps(intent))
    before = exact_snapshot(env_dir)
    result = refused("recover", "--python", python)
    assert "the journal is damaged" in result.stderr and f"{named!r}" in result.stderr
    assert bait.read_text() == "keep me"
    assert exact_snapshot(env_dir) == before


@pytest.mark.parametrize("case", ["journal", "committed", "backup", "removed-dir"])
def test_a_journal_whose_folders_are_symlinks_is_refused_before_anything_changes(
    tmp_path: Path, case: str
) -> None:
    """recover follows no link out of the environment: not the journal folder itself,
    not its backup/, and not a removed folder (whose mode and owner it would set)."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    outside = tmp_path / "outside"
    (outside / "backup").mkdir(parents=True)
    (outside / "backup" / "0").write_text("not the environment's\n")
    outside.chmod(0o700)
    intent = {"created_dirs": [], "new_files": [], "moved": ["stolen.txt"]}
    (outside / "intent.json").write_text(json.dumps(intent))
    journal_dir = env_dir / ".wheelplan-journal"
    if case in ("journal", "committed"):
        journal_dir.symlink_to(outside)
        if case == "committed":
            (outside / "committed").write_text("")
        problem = "it is not a folder but a symlink or a file"
    else:
        journal_dir.mkdir()
        (journal_dir / "intent.json").write_text(json.dumps(intent))
        if case == "backup":
            (journal_dir / "backup").symlink_to(outside / "backup")
            problem = "backup is not a folder but a symlink or a file"
        else:
            (journal_dir / "backup").mkdir()
            (env_dir / "gone").symlink_to(outside)
            removed = {"path": "gone", "mode": 0o777, "uid": 65534, "gid": 65534}
            (journal_dir / "removed-dirs").write_text(json.dumps(removed) + "\n")
            problem = "'gone', a folder the apply removed, is now a symlink"
    # A journal that is a link is not read: it cannot tell where its backups are.
    where = ["backup/", ON_ANY_MOUNT] if case in ("journal", "committed") else ["backup/"]
    before, outside_before = exact_snapshot(env_dir), snapshot(outside)
    mode = outside.stat().st_mode
    result = run_cli("recover", "--python", python)
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {journal_dir}: the journal is damaged ({problem}); wheelplan will not"
        + _restore_from(*where)
        + " by hand\n",
    )
    assert exact_snapshot(env_dir) == before
    assert snapshot(outside) == outside_before and outside.stat().st_mode == mode


_FIFO = "it is a named pipe (FIFO), not a file"
_DEVICE = "it is a device or socket, not a regular file"


@pytest.mark.parametrize(
    ("name", "kind", "problem"),
    [
        ("intent.json", "fifo", f"intent.json cannot be read: {_FIFO}"),
        ("intent.json", "device", f"intent.json cannot be read: {_DEVICE}"),
        ("removed-dirs", "fifo", f"removed-dirs cannot be read: {_FIFO}"),
        ("removed-dirs", "device", f"removed-dirs cannot be read: {_DEVICE}"),
        ("removed-dirs", "not UTF-8", "removed-dirs is not UTF-8 text"),
        ("intent.json", "nested", "intent.json is not valid JSON: nested too deeply"),
        ("removed-dirs", "nested", "removed-dirs has a line that is not JSON"),
        # os.utime raised OverflowError after the files were restored, at every retry.
        (
            "intent.json",
            "times",
            "intent.json has folder times that are not [path, atime, mtime] in nanoseconds",
        ),
        ("intent.json", "made", "intent.json has a count of folders made that no path can have"),
        ("intent.json", "where", "intent.json names where it was written with no folder's path"),
        (
            "intent.json",
            "long number",
            "intent.json is not valid JSON: a number of 5000 digits, too long to read",
        ),
    ],
)
def test_a_journal_file_that_is_no_file_is_damage_not_a_hang(
    tmp_path: Path, name: str, kind: str, problem: str
) -> None:
    """A FIFO in the journal hung `recover`, a link to /dev/zero filled its memory (a
    MemoryError traceback), and removed-dirs in another encoding ended in a traceback.
    Apply writes only regular UTF-8 files there: each is the damaged-journal line now."""
    env_dir = tmp_path / "env"
    python = rebuild_env(env_dir)
    journal_dir = env_dir / ".wheelplan-journal"
    (journal_dir / "backup").mkdir(parents=True)
    intent = {"created_dirs": [], "new_files": [], "moved": [], "fsync": False}
    (journal_dir / "intent.json").write_text(json.dumps(intent))
    damaged = journal_dir / name
    damaged.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(damaged)
    elif kind == "device":
        damaged.symlink_to("/dev/zero")
    elif kind == "nested":  # past Python's recursion limit
        damaged.write_text("[" * 200_000 + "]" * 200_000 + "\n")
    elif kind == "times":
        damaged.write_text(json.dumps({**intent, "folder_times": [["", 1, 10**30]]}))
    elif kind == "made":
        damaged.write_text(json.dumps({**intent, "made": -1}))
    elif kind == "where":  # relative: the folder it names depends on where recover runs
        damaged.write_text(json.dumps({**intent, "where": "env"}))
    elif kind == "long number":
        damaged.write_text(json.dumps(intent)[:-1] + f', "fsync": {"1" * 5000}}}')
    else:
        damaged.write_bytes(b"\xff\xfe\n")
    # An intent.json that cannot be read cannot tell where its backups are; one that
    # can names no mounts here.
    unread = name == "intent.json" and kind not in ("times", "made", "where")
    where = ["backup/", ON_ANY_MOUNT] if unread else ["backup/"]
    before = exact_snapshot(env_dir / SITE)  # not the journal's FIFO, which a read would block on
    result = run_cli("recover", "--python", python, memory=2 * 1024**3)
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {journal_dir}: the journal is damaged ({problem}); wheelplan will not"
        + _restore_from(*where)
        + " by hand\n",
    )
    assert exact_snapshot(env_dir / SITE) == before
    assert sorted(path.name for path in journal_dir.iterdir()) == sorted(
        {"backup", "intent.json", name}
    )


def test_a_journal_written_in_another_folder_is_refused_there_and_recovered_where_written(
    tmp_path: Path,
) -> None:
    """A `--target` folder copied while a killed apply's journal waited was rolled back
    by that journal, which held nothing to say it was written for the other folder."""
    wheels = tmp_path / "wheels"
    one = build_wheel(WheelSpec("mine", files={"mine/__init__.py": b"V = 1\n"}), wheels)
    two = build_wheel(
        WheelSpec("mine", version="2.0", files={"mine/__init__.py": b"V = 2\n"}), wheels
    )
    folder, copy = tmp_path / "folder", tmp_path / "copy"
    ok("install", one, "--target", folder, "--quiet")
    before = snapshot(folder)
    killed = run_cli("install", two, "--target", folder, env={"WHEELPLAN_FAULT": "kill:6"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shutil.copytree(folder, copy, symlinks=True)
    stderr = refused_unchanged(copy, "recover", "--target", copy)
    assert stderr == (
        f"error: {copy / JOURNAL_DIR}: the journal was written by an apply to {folder}, not"
        f" to {copy} (the environment was copied or moved since); wheelplan will not guess"
        " how to undo it. Inspect it and restore the files in backup/ by hand\n"
    )
    assert ok("recover", "--target", folder) == f"{folder}: rolled back\n"
    assert snapshot(folder) == before


def test_a_removed_folder_that_is_now_a_file_is_named_before_recovery_changes_anything(
    tmp_path: Path,
) -> None:
    """A file put where a killed apply removed an empty folder made every recover fail
    midway with `[Errno 17] File exists`, the files the apply wrote already deleted."""
    wheels = tmp_path / "wheels"
    one = build_wheel(WheelSpec("mine", files={"mine/data/x.txt": b"1\n"}), wheels)
    two = build_wheel(
        WheelSpec("mine", version="2.0", files={"mine/__init__.py": b"V = 2\n"}), wheels
    )
    folder = tmp_path / "folder"
    ok("install", one, "--target", folder, "--quiet")
    before = snapshot(folder)
    plan = tmp_path / "plan.json"
    ok("plan", two, "--target", folder, "-o", plan)
    # Killed at the commit point: every file is written, and the emptied folder gone.
    options = ("--target", str(folder), "--no-cache")
    at = checkpoints(folder, plan, *options).index("commit") + 1
    killed = run_cli("apply", plan, *options, env={"WHEELPLAN_FAULT": f"kill:{at}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (folder / "mine/data").exists()
    (folder / "mine/data").write_text("put here since\n")
    message = (
        f"error: {folder / 'mine/data'}: a folder the interrupted apply removed is a file"
        " now, where the rollback puts the folder back; move the file away, then run"
        " recover again\n"
    )
    assert refused_unchanged(folder, "recover", "--target", folder) == message
    (folder / "mine/data").unlink()
    assert ok("recover", "--target", folder) == f"{folder}: rolled back\n"
    assert snapshot(folder) == before
