"""Fault injection over a whole upgrade: an error or a kill at every file operation.

The fault hook (applier/faults.py) counts the checkpoints that precede every file
operation of an apply and of a recovery. A trace run learns how many an upgrade
passes and proves that every kind of operation has one; then hypothesis picks the
N-th and makes it fail (the apply must roll itself back) or kill the process
(recovery must restore the prior tree exactly, even when it is killed itself and run
again). A fault after the commit point rolls forward instead: the tree is then
exactly that of a fresh install of the new version.

Two upgrades: PyJWT 2.8.0 to 2.15.1, and one that turns a file into a folder and a
folder into a file (whose removals must make room before the writes, and whose
rollback must put each back in the other's place).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applier.journal import CHECKPOINTS_AFTER_COMMIT
from tests.conftest import exact_snapshot, run_cli, snapshot
from tests.realwheels import JWT_VERSIONS
from tests.txsupport import (
    FAULT_OPTIONS,
    RECOVER_HINT,
    REPRODUCIBLE,
    checkpoints,
    diff,
    folder_mtimes,
    fresh_tree,
    has_journal,
    install,
    prefer_wheels,
    rebuild_env,
    save_plan,
    swap_wheels,
    trace,
)
from tests.txsupport import FaultCase as Case

KINDS = {"journal", "move", "rmdir", "mkdir", "create", "pyc", "record", "commit", "cleanup"}
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["pyjwt", "swap", "prefer"])
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, real_wheels
) -> Case:
    folder = tmp_path_factory.mktemp("faults")
    others: list[Path] = []  # installed, and kept
    preferring: tuple[str, ...] = ()
    if request.param == "pyjwt":
        old, new = real_wheels(JWT_VERSIONS)
    elif request.param == "swap":
        old, new = swap_wheels(folder / "wheels")
    else:
        # The upgrade takes a file from an installed distribution, whose RECORD it rewrites:
        # the end state is the one-step install of both with the same --prefer.
        old, new, rival = prefer_wheels(folder / "wheels")
        others, preferring = [rival], ("--prefer", "pkg")
    env_dir = folder / "env"
    after = fresh_tree(env_dir, [*others, new], "--compile-bytecode", *preferring, env=REPRODUCIBLE)
    python = rebuild_env(env_dir)
    install(python, [*others, old], "--compile-bytecode", env=REPRODUCIBLE)
    site = next(env_dir.glob("lib/python*/site-packages"))
    if request.param == "pyjwt":
        # What a user's environment also has: bytecode cached at another optimisation
        # level (in no RECORD) and files made read-only, whose modes must come back.
        (site / "jwt" / "__pycache__" / "utils.cpython-311.opt-1.pyc").write_bytes(b"cached")
        (site / "jwt" / "api_jws.py").chmod(0o444)
        (site / "PyJWT-2.8.0.dist-info" / "METADATA").chmod(0o444)
    elif request.param == "swap":
        # The folder that becomes a file, with a mode of its own to come back.
        (site / "swap" / "tree" / "deep").chmod(0o700)
    plan = folder / "upgrade.json"
    save_plan(python, plan, [new], *preferring)
    pristine = folder / "pristine"
    shutil.copytree(env_dir, pristine, symlinks=True)
    kinds = checkpoints(env_dir, plan, *FAULT_OPTIONS, env=REPRODUCIBLE)
    return Case(env_dir, python, pristine, plan, snapshot(env_dir), after, tuple(kinds))


def test_every_kind_of_file_operation_has_a_checkpoint(case: Case) -> None:
    plan = json.loads(case.plan.read_text())
    files = plan["files"]
    moved = [entry for entry in files if entry["action"] != "write"]
    created = [path for unit in plan["units"] for path in unit["paths"]]
    installed = [dist for dist in plan["distributions"] if dist["action"] != "remove"]
    sources = [
        entry for entry in files if entry["action"] != "remove" and entry["path"][-3:] == ".py"
    ]
    kinds = list(case.kinds)
    assert set(kinds) == KINDS
    assert kinds[:2] == ["journal", "journal"]
    assert kinds[-3:] == ["commit", "cleanup", "cleanup"]
    assert CHECKPOINTS_AFTER_COMMIT == 2
    assert kinds.count("move") == len(moved)
    assert kinds.count("create") == len(created)
    assert kinds.count("pyc") == len(sources)
    assert kinds.count("record") == len(installed)
    # The old dist-info folder is emptied and removed; the new one (and its licenses/) made.
    assert kinds.count("rmdir") >= 1 and kinds.count("mkdir") >= 2
    # Phases in order: nothing is created before everything is moved aside.
    assert max(i for i, kind in enumerate(kinds) if kind == "move") < kinds.index("create")


def test_the_case_upgrades_to_a_fresh_tree(case: Case) -> None:
    case.reset()
    result = case.apply("error:0")  # a fault that never fires
    assert result.returncode == 0, result.stderr
    assert diff(snapshot(case.env_dir), case.after) == []


def _fault_numbers(case: Case) -> st.SearchStrategy[int]:
    """Any checkpoint, with the edges (first, last before and after the commit) favoured."""
    edges = [1, 2, case.total - CHECKPOINTS_AFTER_COMMIT, case.total - 1, case.total]
    return st.one_of(st.sampled_from(edges), st.integers(1, case.total))


@SETTINGS
@given(data=st.data())
def test_an_error_at_any_file_operation_rolls_the_apply_back(
    case: Case, data: st.DataObject
) -> None:
    n = data.draw(_fault_numbers(case), label="n")
    case.reset()
    times, untouched = folder_mtimes(case.env_dir), exact_snapshot(case.env_dir)
    result = case.apply(f"error:{n}")
    assert not has_journal(case.env_dir)
    if case.rolls_back(n):
        assert result.returncode == 1
        # One line; a fault in a file's write names that file (in the target or the cache).
        assert re.fullmatch(
            rf"error: {re.escape(str(case.env_dir))}: (apply failed and was rolled back"
            rf"|cannot start the transaction, nothing changed):"
            rf" \[Errno 5\] injected fault at file operation {n}(: '/[^'\n]+')?\n",
            result.stderr,
        ), result.stderr
        assert diff(snapshot(case.env_dir), case.before) == []
        # Every folder's time too, and each file's inode and time: a rolled-back apply
        # leaves no trace, and puts back the very files it moved aside.
        assert folder_mtimes(case.env_dir) == times
        assert diff(exact_snapshot(case.env_dir), untouched) == []
    else:
        assert result.returncode == 0, result.stderr
        assert diff(snapshot(case.env_dir), case.after) == []


@SETTINGS
@given(data=st.data())
def test_a_kill_at_any_file_operation_is_recovered_exactly(case: Case, data: st.DataObject) -> None:
    n = data.draw(_fault_numbers(case), label="n")
    # 0: recovery runs undisturbed; otherwise it is killed at its m-th file operation
    # (if it has that many) and run again.
    m = data.draw(st.integers(0, 3 * case.total), label="m")
    case.reset()
    times, untouched = folder_mtimes(case.env_dir), exact_snapshot(case.env_dir)
    killed = case.apply(f"kill:{n}")
    assert killed.returncode == -signal.SIGKILL
    assert has_journal(case.env_dir)
    for command in (
        ["plan", case.plan.parent / "none.whl", "--python", case.python],
        ["apply", case.plan],
    ):
        result = run_cli(*command)
        assert result.returncode == 1 and RECOVER_HINT in result.stderr, result.stderr
    expected = case.before if case.rolls_back(n) else case.after
    if m:
        first = run_cli("recover", "--python", case.python, env={"WHEELPLAN_FAULT": f"kill:{m}"})
        assert first.returncode in (0, -signal.SIGKILL), first.stderr
        if first.returncode == -signal.SIGKILL:
            assert has_journal(case.env_dir)
    result = run_cli("recover", "--python", case.python)
    assert result.returncode == 0, result.stderr
    outcome = result.stdout.strip().rpartition(": ")[2]
    if not m:
        # Killed while the journal was being started: there is nothing to undo yet.
        starting = n <= case.kinds.count("journal")
        assert outcome == (
            "clean" if starting else "rolled back" if case.rolls_back(n) else "rolled forward"
        )
    assert not has_journal(case.env_dir)
    assert diff(snapshot(case.env_dir), expected) == []
    if case.rolls_back(n):
        assert diff(exact_snapshot(case.env_dir), untouched) == []
    if case.rolls_back(n) and n > case.kinds.count("journal"):
        # Folders' times are set back too; the prefix's own only when the recovery that
        # set them back was not killed after it removed the journal's intent.
        del times[""]
        after = folder_mtimes(case.env_dir)
        del after[""]
        assert after == times


def test_recovery_has_a_checkpoint_before_every_change(case: Case) -> None:
    """So that killing recovery at its m-th checkpoint sweeps all of it."""
    case.reset()
    untouched = exact_snapshot(case.env_dir)
    moves = case.kinds.count("move")
    killed = case.apply(f"kill:{case.kinds.index('create') + 3}")  # moved, and created some
    assert killed.returncode == -signal.SIGKILL
    result = run_cli("recover", "--python", case.python, env={"WHEELPLAN_FAULT": "trace"})
    assert result.returncode == 0, result.stderr
    kinds = trace(result.stderr)
    assert kinds[-2:] == ["cleanup", "cleanup"]
    # Three files created, every moved file put back, the removed folder recreated.
    assert kinds.count("restore") >= 3 + moves + 1
    assert diff(snapshot(case.env_dir), case.before) == []
    assert diff(exact_snapshot(case.env_dir), untouched) == []
