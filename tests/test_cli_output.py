"""What wheelplan does when its standard output fails or cannot spell a path.

The exit code keeps its meaning: 1 says the target is unchanged, so a command that
changed it does not exit 1 because a print failed afterwards.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from applier import cachedir
from tests.conftest import REPO, snapshot
from tests.wheelfactory import WheelSpec, build_wheel
from wheelplan import planfile

APP = WheelSpec(name="app", files={"app/__init__.py": b"VALUE = 1\n"})


def _wheelplan(*args: str | os.PathLike[str], **popen: object) -> subprocess.Popen[bytes]:
    popen.setdefault("stderr", subprocess.PIPE)
    popen.setdefault("cwd", REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "wheelplan", *map(str, args)],
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
        **popen,  # type: ignore[call-overload]
    )


def _site(target: Path) -> Path:
    return next(target.parent.parent.glob("lib/python*/site-packages"))


def test_a_full_disk_under_the_output_fails_a_plan_but_not_a_done_install(
    tmp_path: Path, target: Path
) -> None:
    wheel = build_wheel(APP, tmp_path / "wheels")
    with open("/dev/full", "wb") as full:
        planning = _wheelplan("plan", wheel, "--python", target, stdout=full)
        assert planning.wait() == 1
        assert planning.stderr is not None
        assert planning.stderr.read() == b"error: standard output: No space left on device\n"
        installing = _wheelplan("install", wheel, "--python", target, stdout=full)
        assert installing.wait() == 0
    assert installing.stderr is not None
    assert installing.stderr.read() == (
        b"warning: standard output: No space left on device"
        b" (the output is lost; the work is done)\n"
    )
    assert (_site(target) / "app" / "__init__.py").read_bytes() == b"VALUE = 1\n"
    # `> build.log 2>&1` on a full disk: the warning is lost too, the install done.
    with open("/dev/full", "wb") as full:
        again = _wheelplan(
            "install", wheel, "--python", target, "--reinstall", stdout=full, stderr=full
        )
        assert again.wait() == 0


def test_a_full_disk_under_the_output_fails_cache_dir_but_not_a_done_clean(
    tmp_path: Path,
) -> None:
    """`cache clean > /dev/full` removed the files and exited 1, which says nothing
    changed: it changed the cache, and warns as a done install does."""
    store = tmp_path / "cache"
    stale = store / cachedir.DOWNLOADS / ("ab" * 32) / "app-1.0-py3-none-any.whl"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"a download a killed fetch left")
    with open("/dev/full", "wb") as full:
        naming = _wheelplan("cache", "dir", "--cache-dir", store, stdout=full)
        assert naming.wait() == 1
        cleaning = _wheelplan("cache", "clean", "--cache-dir", store, stdout=full)
        assert cleaning.wait() == 0
    assert cleaning.stderr is not None
    assert cleaning.stderr.read() == (
        b"warning: standard output: No space left on device"
        b" (the output is lost; the work is done)\n"
    )
    assert not stale.exists()


@pytest.mark.parametrize("asked", [["--version"], ["--help"], ["plan", "--help"]])
def test_a_full_disk_under_the_output_fails_help_and_version(asked: list[str]) -> None:
    """Their output is their result, as a plan's is: they exited 0, saying nothing."""
    with open("/dev/full", "wb") as full:
        process = _wheelplan(*asked, stdout=full)
        assert process.wait() == 1
    assert process.stderr is not None
    assert process.stderr.read() == b"error: standard output: No space left on device\n"
    gone = _wheelplan(*asked, stdout=subprocess.PIPE)
    assert gone.stdout is not None
    gone.stdout.close()
    assert gone.wait() == 0


def test_warnings_that_cannot_be_written_fail_no_install(tmp_path: Path, target: Path) -> None:
    """`> log 2>&1` on a full disk: the plan's warning (an unmet requirement) raised
    before the apply, and refused the install."""
    needy = WheelSpec(name="needy", files={"needy.py": b""}, requires=("absent-dependency",))
    wheel = build_wheel(needy, tmp_path / "wheels")
    with open("/dev/full", "wb") as full:
        process = _wheelplan("install", wheel, "--python", target, stdout=full, stderr=full)
        assert process.wait() == 0
    assert (_site(target) / "needy.py").is_file()


def test_a_reader_that_went_away_is_no_failure(tmp_path: Path, target: Path) -> None:
    wheels = [
        build_wheel(WheelSpec(name=f"many{index}"), tmp_path / "wheels") for index in range(60)
    ]
    for command in ("plan", "install"):
        process = _wheelplan(command, *wheels, "--python", target, stdout=subprocess.PIPE)
        assert process.stdout is not None
        process.stdout.close()
        assert process.wait() == 0
        assert process.stderr is not None
        assert process.stderr.read() == b""
    assert len(list(_site(target).glob("many*.dist-info"))) == 60


def test_a_closed_output_fails_a_plan_and_leaves_the_target(tmp_path: Path, target: Path) -> None:
    wheel = build_wheel(APP, tmp_path / "wheels")
    before = snapshot(target.parent.parent)
    process = _wheelplan(
        "plan", wheel, "--python", target, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1)
    )
    assert process.wait() == 1
    assert process.stderr is not None
    assert process.stderr.read() == b"error: standard output: standard output is closed\n"
    assert snapshot(target.parent.parent) == before


def test_a_closed_stderr_keeps_the_exit_code_and_the_errors_off_stdout(
    tmp_path: Path, target: Path
) -> None:
    """`2>&-`: Python leaves sys.stderr None, and the last flush of it raised, so a done
    install exited 1, which says the target is unchanged; an error line, printed to
    None, went to standard output, into the plan `--json` was writing."""
    wheel = build_wheel(APP, tmp_path / "wheels")

    def closed_stderr() -> None:
        os.close(2)

    installing = _wheelplan("install", wheel, "--python", target, preexec_fn=closed_stderr)
    assert installing.wait() == 0
    assert (_site(target) / "app" / "__init__.py").read_bytes() == b"VALUE = 1\n"
    refused = _wheelplan(
        "plan",
        tmp_path / "absent-1.0-py3-none-any.whl",
        "--python",
        target,
        "--json",
        stdout=subprocess.PIPE,
        preexec_fn=closed_stderr,
    )
    assert refused.communicate()[0] == b""
    assert refused.returncode == 1


def _strict(*args: str | bytes | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    """wheelplan with a UTF-8 standard output that refuses what UTF-8 cannot spell."""
    return subprocess.run(
        [sys.executable, "-m", "wheelplan", *args],
        capture_output=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"},
    )


def test_a_path_the_locale_cannot_spell_ends_no_command(tmp_path: Path, target: Path) -> None:
    """Under a UTF-8 locale every line naming such a folder ended in a
    UnicodeEncodeError traceback, after the install was done."""
    wheel = build_wheel(APP, tmp_path / "wheels")
    folder = os.fsencode(tmp_path) + b"/t\xffrget"
    result = _strict("install", wheel, "--python", target, "-t", folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    # Named escaped, as every unprintable character (its raw byte may be a C1 control).
    shown = os.fsencode(tmp_path) + b"/t\\udcffrget"
    assert result.stdout.startswith(b"applied 1 distribution to " + shown + b": ")
    assert os.path.isfile(folder + b"/app/__init__.py")
    # For scripts, as the bytes they are.
    listed = _strict("cache", "dir", "--cache-dir", folder)
    assert (listed.returncode, listed.stdout) == (0, folder + b"\n")
    ascii_only = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "ascii"}
    accented = tmp_path / "tgé"
    result = subprocess.run(
        [sys.executable, "-m", "wheelplan", "install", wheel, "--python", target, "-t", accented],
        capture_output=True,
        check=False,
        cwd=REPO,
        env=ascii_only,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    # Under an ASCII locale, an accented name is escaped, as Python escapes it on stderr.
    named = os.fsencode(tmp_path) + b"/tg\\xe9: "
    assert result.stdout.startswith(b"applied 1 distribution to " + named)


def test_a_plan_file_that_cannot_be_written_whole_leaves_the_old_one(
    tmp_path: Path, target: Path
) -> None:
    """It was opened for writing and truncated first: a file size limit left half a
    plan, and the error line named no file."""
    wheel = build_wheel(APP, tmp_path / "wheels")
    saved = tmp_path / "plan.json"
    saved.write_bytes(b"the plan reviewed yesterday")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (500, 500))

    process = _wheelplan("plan", wheel, "--python", target, "-o", saved, preexec_fn=small_files)
    assert process.wait() == 1
    assert process.stderr is not None
    assert (
        process.stderr.read() == f"error: {saved}: cannot write the plan: File too large\n".encode()
    )
    assert saved.read_bytes() == b"the plan reviewed yesterday"
    # No temporary file is left beside it.
    assert set(os.listdir(tmp_path)) == {"plan.json", "wheels", "env"}


@pytest.mark.parametrize("given", ["folder", "folder/", "a-file/plan.json", "missing/plan.json"])
def test_a_plan_file_that_cannot_be_made_is_named_as_the_plan_written_there(
    tmp_path: Path, target: Path, given: str
) -> None:
    """`-o` naming a folder said `error: folder: Is a directory`, naming neither the plan
    nor what was being done with the folder. What is there is left as it was."""
    wheel = build_wheel(APP, tmp_path / "wheels")
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_bytes(b"mine")
    before = snapshot(tmp_path)
    process = _wheelplan("plan", wheel, "--python", target, "-o", given, cwd=tmp_path)
    assert process.wait() == 1
    assert process.stderr is not None
    why = {
        "folder": "Is a directory",
        "folder/": "Is a directory",
        "a-file/plan.json": "Not a directory",
        "missing/plan.json": "No such file or directory",
    }[given]
    assert process.stderr.read().decode() == f"error: {given}: cannot write the plan: {why}\n"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("stem", ["p" * 250, "é" * 124 + "e"])
def test_a_plan_file_may_have_the_longest_name_its_folder_takes(
    tmp_path: Path, target: Path, stem: str
) -> None:
    """The new plan is written under a temporary name beside it first, the name with a
    suffix: a name near the folder's 255 bytes was refused as too long."""
    wheel = build_wheel(APP, tmp_path / "wheels")
    saved = tmp_path / "out" / f"{stem}.json"
    assert len(os.fsencode(saved.name)) in (254, 255)
    saved.parent.mkdir()
    saved.write_bytes(b"the plan reviewed yesterday")
    process = _wheelplan("plan", wheel, "--python", target, "-o", saved, "--no-cache")
    assert process.wait() == 0
    assert json.loads(saved.read_bytes())["distributions"][0]["name"] == "app"
    assert os.listdir(saved.parent) == [saved.name]  # and no temporary one


def test_a_plan_file_on_a_device_is_written_in_place_or_named(tmp_path: Path, target: Path) -> None:
    wheel = build_wheel(APP, tmp_path / "wheels")
    process = _wheelplan("plan", wheel, "--python", target, "-o", "/dev/full")
    assert process.wait() == 1
    assert process.stderr is not None
    expected = b"error: /dev/full: cannot write the plan: No space left on device\n"
    assert process.stderr.read() == expected
    process = _wheelplan(
        "plan", wheel, "--python", target, "-o", "/dev/stdout", stdout=subprocess.PIPE
    )
    out, err = process.communicate()
    assert (process.returncode, err) == (0, b"")
    assert out.startswith(b'{"conflicts":[],\n"digest":"sha256:')
    # A file behind the descriptor gets the plan, then the review after it: replaced, it
    # lost the review; opened again, the review overwrote the plan from offset 0.
    with open(tmp_path / "out.txt", "wb") as stream:
        process = _wheelplan("plan", wheel, "--python", target, "-o", "/dev/stdout", stdout=stream)
        assert process.wait() == 0
    plan, review = (tmp_path / "out.txt").read_bytes().split(b"Plan for ", 1)
    assert json.loads(plan)["digest"].startswith("sha256:")
    assert review.endswith(
        b"plan written to /dev/stdout; apply it with: wheelplan apply /dev/stdout\n"
    )
    # A failure is named by the path given, not by a temporary file's.
    process = _wheelplan("plan", wheel, "--python", target, "-o", "no/such/folder/plan.json")
    assert process.wait() == 1
    assert process.stderr is not None
    assert process.stderr.read() == (
        b"error: no/such/folder/plan.json: cannot write the plan: No such file or directory\n"
    )


def test_only_a_descriptor_s_file_is_written_in_place() -> None:
    """A plan file on tmpfs (/dev/shm) is a file like any other: replaced whole."""
    assert not planfile._in_place("/dev/shm/plans/plan.json")
    assert planfile._in_place("/dev/fd/3")
    assert planfile._in_place("/proc/self/fd/3")
    assert planfile._in_place("/dev/null")


def _planned_into(output: str, wheel: Path, target: Path, **streams: object) -> None:
    """`plan -o output`, with the standard streams given; it must succeed."""
    process = _wheelplan("plan", wheel, "--python", target, "-o", output, **streams)
    assert process.wait() == 0


def test_a_descriptor_given_as_the_plan_file_is_written_once_as_its_holder_writes(
    tmp_path: Path, target: Path
) -> None:
    """`--json -o /dev/stdout` wrote the plan twice; `-o /dev/stderr 2>>log`, opened
    again by name, truncated the log."""
    wheel = build_wheel(APP, tmp_path / "wheels")
    saved = tmp_path / "plan.json"
    with open(saved, "wb") as stream:
        process = _wheelplan(
            "plan", wheel, "--python", target, "--json", "-o", "/dev/stdout", stdout=stream
        )
        assert process.wait() == 0
    assert json.loads(saved.read_bytes())["digest"].startswith("sha256:")
    log = tmp_path / "log"
    log.write_bytes(b"an earlier line\n")
    with open(log, "ab") as stream:
        _planned_into("/dev/stderr", wheel, target, stdout=subprocess.DEVNULL, stderr=stream)
    earlier, plan = log.read_bytes().split(b"\n", 1)
    assert earlier == b"an earlier line"
    assert json.loads(plan)["digest"] == json.loads(saved.read_bytes())["digest"]


def test_a_read_only_descriptor_given_as_the_plan_file_is_opened_by_name(
    tmp_path: Path, target: Path
) -> None:
    """`-o /dev/stdin < file` wrote to a descriptor open for reading: Bad file descriptor."""
    wheel = build_wheel(APP, tmp_path / "wheels")
    given = tmp_path / "given.json"
    given.write_bytes(b"")
    with open(given, "rb") as stream:
        _planned_into("/dev/stdin", wheel, target, stdin=stream, stdout=subprocess.DEVNULL)
    assert json.loads(given.read_bytes())["digest"].startswith("sha256:")
