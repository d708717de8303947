"""`wheelplan plan --lock pylock.toml`: selection by the spec's rules, wheels checked
against the lock before planning, and a refusal that writes nothing otherwise."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.markers import default_environment
from packaging.tags import sys_tags

from planner import lockfile
from planner.errors import Problem, Refused
from planner.lockfile import LockedWheel
from planner.redaction import redacted
from tests.conftest import REPO, run_in_pty, snapshot
from tests.foldertools import FOLDERS, Folder
from tests.imagetools import Answer, LockPackage, serve, sha256_of, wheel_entry, write_pylock
from tests.wheelfactory import WheelSpec, build_wheel
from wheelplan import fetch, urlopener

Cli = Callable[..., subprocess.CompletedProcess[str]]

ALPHA = WheelSpec(
    "alpha",
    files={"alpha/__init__.py": b"def main():\n    print('alpha says hi')\n"},
    entry_points="[console_scripts]\nalpha-cli = alpha:main\n",
)
BETA = WheelSpec("beta", version="2.0", files={"beta/__init__.py": b"VALUE = 2\n"})
# A download's retries with no wait between them, so that no test sleeps.
NO_PAUSES = (0.0, 0.0, 0.0)


def site_packages(target: Path) -> Path:
    (found,) = (target.parent.parent / "lib").glob("python3.*/site-packages")
    return found


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = result.stderr.splitlines()
    assert lines, "expected error lines on stderr"
    assert all(line.startswith("error: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    return lines


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    build_wheel(ALPHA, folder)
    build_wheel(BETA, folder)
    return folder


def test_a_lock_with_path_and_file_url_wheels_installs(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [
            # `path` is relative to the lock file, POSIX separators, as the spec says.
            LockPackage("alpha", wheels=(wheel_entry(alpha, path="wheels/" + alpha.name),)),
            LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=beta.as_uri()),)),
        ],
    )
    downloads = tmp_path / "downloads"
    plan_file = tmp_path / "plan.json"
    result = cli(
        "plan", "--lock", lock, "--python", target, "--wheel-dir", downloads, "-o", plan_file
    )
    assert result.returncode == 0, result.stderr
    assert f"From lock file {lock}" in result.stdout
    plan = json.loads(plan_file.read_text())
    assert plan["lock"] == {"path": str(lock), "sha256": sha256_of(lock)}
    by_name = {dist["name"]: dist for dist in plan["distributions"]}
    # --wheel-dir holds every wheel the plan needs, by file name.
    for name, wheel in (("alpha", alpha), ("beta", beta)):
        assert by_name[name]["wheel_path"] == str(downloads / wheel.name)
        assert (downloads / wheel.name).read_bytes() == wheel.read_bytes()

    result = cli("apply", plan_file)
    assert result.returncode == 0, result.stderr
    site = site_packages(target)
    for dist_info in ("alpha-1.0.dist-info", "beta-2.0.dist-info"):
        assert (site / dist_info / "REQUESTED").exists()
        assert (site / dist_info / "INSTALLER").read_text() == "wheelplan\n"
        # A lock install is not a direct URL install.
        assert not (site / dist_info / "direct_url.json").exists()
    run = subprocess.run([target.parent / "alpha-cli"], capture_output=True, text=True, check=True)
    assert run.stdout == "alpha says hi\n"


@pytest.mark.parametrize("beside", [False, True], ids=["elsewhere", "wheel-dir-is-lock-dir"])
def test_a_wheel_dir_holds_every_wheel_a_plan_shipped_with_it_needs(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, beside: bool
) -> None:
    """The README's promise: plan with `--lock L --wheel-dir DIR`, ship DIR and the plan,
    `apply --wheel-dir`. A `path` wheel was read in place and never put in DIR, so the
    shipped plan could not be applied; one already in DIR (a lock beside its wheels) is
    checked there and left as it is."""
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    lock_dir = wheels if beside else tmp_path
    entries = {}
    with serve(wheels) as base:
        entries["alpha"] = wheel_entry(alpha, path=os.path.relpath(alpha, lock_dir))
        entries["beta"] = wheel_entry(beta, url=f"{base}/{beta.name}")
        lock = write_pylock(
            lock_dir / "pylock.toml",
            [
                LockPackage("alpha", wheels=(entries["alpha"],)),
                LockPackage("beta", "2.0", wheels=(entries["beta"],)),
            ],
        )
        folder = wheels if beside else tmp_path / "ship"
        plan = tmp_path / "plan.json"
        result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", folder, "-o", plan)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in folder.glob("*.whl")) == [alpha.name, beta.name]
    assert sha256_of(folder / alpha.name) == entries["alpha"]["hashes"]["sha256"]
    shipped = tmp_path / "elsewhere"
    shutil.copytree(folder, shipped)
    shutil.rmtree(folder)
    if not beside:
        shutil.rmtree(wheels)
    result = cli("apply", plan, "--wheel-dir", shipped)
    assert result.returncode == 0, result.stderr
    assert (site_packages(target) / "alpha" / "__init__.py").is_file()


@pytest.mark.parametrize("command", ["plan", "install"])
def test_a_dry_run_applies_nothing_to_the_target_and_says_where_the_wheels_are(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, command: str
) -> None:
    """Planning a lock needs its wheels, so a dry run fetches them, as pip's and uv's
    dry runs fill their caches: what it leaves alone is the target, and it says so, and
    where the wheels are, and how many of them this run fetched: it said "2 wheels
    fetched" of wheels already there (a second run, a `path` wheel in --wheel-dir), then
    no more than where they were, and named a relative --cache-dir as given."""
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    alpha_entry = wheel_entry(alpha, path=f"wheels/{alpha.name}")
    local = write_pylock(
        tmp_path / "pylock.local.toml", [LockPackage("alpha", wheels=(alpha_entry,))]
    )
    env = target.parent.parent
    before = snapshot(env)
    dry, then = (
        (["--dry-run"], "without --dry-run, this plan is applied")
        if command == "install"
        else ([], "use -o PLAN.json to save the plan")
    )

    def last_line(*args: str | Path) -> str:
        result = cli(command, "--python", target, *dry, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()[-1]

    shipped, cache = tmp_path / "ship", tmp_path / "cache"
    with serve(wheels) as base:
        beta_entry = wheel_entry(beta, url=f"{base}/{beta.name}")
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage("alpha", wheels=(alpha_entry,)),
                LockPackage("beta", "2.0", wheels=(beta_entry,)),
            ],
        )
        # --wheel-dir holds every wheel: the `path` one is copied there too; a second
        # run finds them there, and a third the one of them that is left.
        for fetched in ("2", "none", "1"):
            assert last_line("--lock", lock, "--wheel-dir", "ship") == (
                f"dry run: nothing applied to {env}; the lock's 2 wheels are in {shipped},"
                f" {fetched} fetched now ({then})"
            )
            if fetched == "none":
                (shipped / beta.name).unlink()
        # Otherwise only downloads are stored, in the cache; a `path` wheel is read in place.
        assert last_line("--lock", lock, "--cache-dir", "cache") == (
            f"dry run: nothing applied to {env}; 1 of the lock's 2 wheels is in"
            f" {cache / 'downloads'}, 1 fetched now ({then})"
        )
    # A `path` wheel already in --wheel-dir stays as it is.
    assert last_line("--lock", local, "--wheel-dir", "wheels") == (
        f"dry run: nothing applied to {env}; the lock's 1 wheel is in {wheels}, none fetched"
        f" now ({then})"
    )
    assert last_line("--lock", local, "--cache-dir", cache) == (
        f"dry run: nothing applied to {env} ({then})"
    )
    # Wheels given, not a lock's, are no lock's wheels, wherever they are.
    (downloaded,) = (cache / "downloads").rglob("*.whl")
    assert (
        last_line(downloaded, "--cache-dir", cache) == f"dry run: nothing applied to {env} ({then})"
    )
    assert snapshot(env) == before


@FOLDERS
def test_a_lock_installs_into_a_folder_of_its_own(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, folder: Folder
) -> None:
    alpha = wheels / ALPHA.filename
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [LockPackage("alpha", wheels=(wheel_entry(alpha, path="wheels/" + alpha.name),))],
    )
    env = target.parent.parent
    before = snapshot(env)
    ours = tmp_path / "ours"
    result = cli("install", "--lock", lock, "--python", target, folder.option, ours, "--quiet")
    assert result.returncode == 0, result.stderr
    assert (ours / folder.library / "alpha" / "__init__.py").is_file()
    assert (ours / "bin" / "alpha-cli").is_file()
    assert snapshot(env) == before


def test_url_wheels_are_downloaded_over_http_into_the_user_cache(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    cache = tmp_path / "cache"
    with serve(wheels) as base:
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage("alpha", wheels=(wheel_entry(alpha, url=f"{base}/{alpha.name}"),)),
                LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=f"{base}/{beta.name}"),)),
            ],
        )
        result = cli(
            "install", "--lock", lock, "--python", target, env={"XDG_CACHE_HOME": str(cache)}
        )
    assert result.returncode == 0, result.stderr
    for wheel in (alpha, beta):
        cached = cache / "wheelplan" / "downloads" / sha256_of(wheel) / wheel.name
        assert cached.read_bytes() == wheel.read_bytes()
    assert (site_packages(target) / "beta" / "__init__.py").read_bytes() == b"VALUE = 2\n"
    # Nothing but the checked wheels is left in the downloads (no partial downloads); the
    # unpacked-wheel cache beside them is applier/cache.py's.
    downloads = cache / "wheelplan" / "downloads"
    assert sorted(p.name for p in downloads.rglob("*") if p.is_file()) == sorted(
        [alpha.name, beta.name]
    )
    # `cache clean` knows the download layout: the downloads go with the rest.
    result = cli("cache", "clean", env={"XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stderr
    assert not downloads.exists()


@pytest.mark.parametrize("command", [("plan",), ("install",), ("install", "--quiet")])
def test_a_lock_on_a_terminal_shows_the_download_progress_unless_quiet(
    tmp_path: Path, target: Path, wheels: Path, command: tuple[str, ...]
) -> None:
    """`plan`, which has no --quiet, asked for it to decide on the progress line: every
    `plan --lock` run on a terminal ended in a traceback."""
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    with serve(wheels) as base:
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage("alpha", wheels=(wheel_entry(alpha, path=str(alpha)),)),
                LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=f"{base}/{beta.name}"),)),
            ],
        )
        code, screen = run_in_pty([*command, "--lock", lock, "--python", target])
    assert code == 0, screen
    assert "Traceback" not in screen
    shown = "downloading wheels: 2/2, " in screen
    assert shown == ("--quiet" not in command), screen


def test_a_lock_on_a_terminal_draws_no_progress_line_for_nothing(
    tmp_path: Path, target: Path, wheels: Path
) -> None:
    """The progress line was ended whether or not one was drawn: a lock refused before
    any download put an empty line above its error, and one that selects no wheel showed
    'downloading wheels: 0/0'."""
    alpha = wheels / ALPHA.filename
    entry = wheel_entry(alpha, path=str(alpha))
    marked = LockPackage("alpha", marker="python_version < '3'", wheels=(entry,))
    lock = write_pylock(tmp_path / "pylock.toml", [marked])
    code, screen = run_in_pty(["plan", "--lock", lock, "--python", target, "--extra", "nope"])
    assert (code, screen) == (1, f"error: {lock}: Undeclared extras: nope\r\n")
    code, screen = run_in_pty(["plan", "--lock", lock, "--python", target])
    assert code == 0, screen
    assert screen.startswith("Plan for "), screen


@pytest.mark.parametrize("no_cache", [(), ("--no-cache",)])
def test_url_wheels_follow_cache_dir(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, no_cache: tuple[str, ...]
) -> None:
    """`--cache-dir` moves the downloads with the rest of the cache; under `--no-cache`
    they still need a home, since the plan points at them."""
    beta = wheels / BETA.filename
    moved = tmp_path / "moved"
    xdg = tmp_path / "xdg"
    with serve(wheels) as base:
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=f"{base}/{beta.name}"),))],
        )
        result = cli(
            "install",
            "--lock",
            lock,
            "--python",
            target,
            "--cache-dir",
            moved,
            *no_cache,
            env={"XDG_CACHE_HOME": str(xdg)},
        )
    assert result.returncode == 0, result.stderr
    cached = moved / "downloads" / sha256_of(beta) / beta.name
    assert cached.read_bytes() == beta.read_bytes()
    assert not (xdg / "wheelplan" / "downloads").exists()


@pytest.mark.parametrize("into", ["--wheel-dir", "--cache-dir"])
@pytest.mark.parametrize("how", ["path", "url"])
@pytest.mark.parametrize("wrong", ["hash", "size"])
def test_a_wrong_hash_or_size_is_refused_with_nothing_written(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, how: str, wrong: str, into: str
) -> None:
    beta = wheels / BETA.filename
    overrides = {"sha256": "0" * 64} if wrong == "hash" else {"size": beta.stat().st_size + 1}
    env = target.parent.parent
    before = snapshot(env)
    folder = tmp_path / "downloads"
    plan_file = tmp_path / "plan.json"
    with serve(wheels) as base:
        location = {"path": str(beta)} if how == "path" else {"url": f"{base}/{beta.name}"}
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage(
                    "alpha",
                    wheels=(
                        wheel_entry(wheels / ALPHA.filename, path=str(wheels / ALPHA.filename)),
                    ),
                ),
                LockPackage("beta", "2.0", wheels=(wheel_entry(beta, **location, **overrides),)),  # type: ignore[arg-type]
            ],
        )
        result = cli("install", "--lock", lock, "--python", target, into, folder)
    assert result.returncode == 1
    (line,) = errors(result)
    assert beta.name in line
    assert ("sha256" in line) if wrong == "hash" else ("bytes" in line)
    assert snapshot(env) == before
    assert not plan_file.exists()
    # A download or copy that fails its check is not kept, nor the folders made for it;
    # a path wheel is copied into --wheel-dir (alpha, checked, which keeps the folder),
    # read in place otherwise (so the cache folder made for the download goes too).
    if into == "--wheel-dir":
        assert [path.name for path in folder.iterdir()] == [ALPHA.filename]
    else:
        assert not folder.exists()


@pytest.mark.parametrize("good", [True, False], ids=["good", "refused"])
def test_a_download_folder_another_refused_fetch_removed_is_made_again(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, good: bool
) -> None:
    """Two fetches of one wheel share its folder in the cache; the one refused removes
    the folder it made, empty, which may fall between the other's making it and its
    first file there. Made again, it is this fetch's to remove if refused in turn."""
    beta = wheels / BETA.filename
    sha256 = sha256_of(beta) if good else "0" * 64
    real = tempfile.mkstemp
    raced: list[str] = []

    def after_the_other_cleaned_up(*args: Any, **kwargs: Any) -> tuple[int, str]:
        if not raced:
            raced.append(kwargs["dir"])
            os.rmdir(kwargs["dir"])
        return real(*args, **kwargs)

    monkeypatch.setattr(fetch.tempfile, "mkstemp", after_the_other_cleaned_up)
    (tmp_path / "cache" / "downloads" / sha256).mkdir(parents=True)  # the other fetch's
    with serve(wheels) as base:
        wheel = LockedWheel(
            "beta", beta.name, None, f"{base}/{beta.name}", beta.stat().st_size, {"sha256": sha256}
        )
        if good:
            (fetched,) = fetch.fetch([wheel], cache_dir=str(tmp_path / "cache"))
            assert Path(fetched.path).read_bytes() == beta.read_bytes()
        else:
            with pytest.raises(Refused):
                fetch.fetch([wheel], cache_dir=str(tmp_path / "cache"))
            assert not any((tmp_path / "cache" / "downloads").iterdir())
    assert raced


def _cut_short(handler: http.server.SimpleHTTPRequestHandler) -> bool:
    """/short/NAME: a body that ends before the length its header gives."""
    if not handler.path.startswith("/short/"):
        return False
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"PK" * 10)
    handler.close_connection = True
    return True


@pytest.mark.parametrize("failure", ["wrong hash", "cut short"])
@pytest.mark.parametrize(
    ("into", "there"),
    [
        ("--wheel-dir", ""),
        ("--wheel-dir", "above"),
        ("--wheel-dir", "above/dl"),
        ("--cache-dir", ""),
        ("--cache-dir", "above"),
        ("--cache-dir", "above/cache"),
        ("--cache-dir", "above/cache/downloads"),
    ],
    ids=lambda value: value or "none",
)
def test_a_failed_download_leaves_no_folder_it_made(
    tmp_path: Path, wheels: Path, failure: str, into: str, there: str
) -> None:
    """A refused download removed its part file, and the cache's folder made for its
    hash, but left the `downloads/` folder, the cache and the `--wheel-dir` it made,
    empty. Those that were there before (`there`: how far down) stay as they were."""
    beta = wheels / BETA.filename
    folder = tmp_path / "above" / ("dl" if into == "--wheel-dir" else "cache")
    if there:
        (tmp_path / there).mkdir(parents=True)
    before = snapshot(tmp_path)
    with serve(wheels, _cut_short) as base:
        wheel = _locked(beta, f"{base}/{beta.name}")
        if failure == "wrong hash":
            wheel = attrs.evolve(wheel, hashes={"sha256": "0" * 64})
        else:
            wheel = attrs.evolve(wheel, url=f"{base}/short/{beta.name}")
        with pytest.raises(Refused):
            if into == "--wheel-dir":
                fetch.fetch([wheel], str(folder), pauses=NO_PAUSES)
            else:
                fetch.fetch([wheel], cache_dir=str(folder), pauses=NO_PAUSES)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("hashes", "message"),
    [
        # A digest also names the download's folder in the cache.
        ({"sha256": "../../escaped"}, "sha256 hash '../../escaped' is not 64 hexadecimal digits"),
        ({"sha256": "abc"}, "sha256 hash 'abc' is not 64 hexadecimal digits"),
        # A shake digest's length would be the lock's to choose.
        ({"shake_128": "ab" * 16}, "no hash algorithm wheelplan can check (given: shake_128)"),
    ],
)
def test_a_lock_hash_that_cannot_be_checked_is_refused_before_anything_is_fetched(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, hashes: dict[str, str], message: str
) -> None:
    beta = wheels / BETA.filename
    entry = {**wheel_entry(beta, url=beta.as_uri()), "hashes": hashes}
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
    cache = tmp_path / "cache"
    result = cli("plan", "--lock", lock, "--python", target, "--cache-dir", cache)
    assert result.returncode == 1
    (line,) = errors(result)
    assert line == f"error: {lock}: beta 2.0: {message}"
    assert not (tmp_path / "escaped").exists()
    assert not (cache / "downloads").exists()


@pytest.mark.parametrize(
    "names", [("sha256", "SHA256"), ("SHA256", "sha256"), ("Sha256",)], ids=str
)
def test_a_hash_algorithm_not_in_lower_case_is_refused(
    tmp_path: Path, wheels: Path, names: tuple[str, ...]
) -> None:
    """Read case-blind, two spellings of sha256 were one algorithm given twice, and the
    one last in the lock was checked: a wrong digest before a right one passed."""
    beta = wheels / BETA.filename
    digests = ["0" * 64, sha256_of(beta)][-len(names) :]
    entry = {**wheel_entry(beta, path=str(beta)), "hashes": dict(zip(names, digests, strict=True))}
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
    tags = [str(tag) for tag in sys_tags()]
    with pytest.raises(Refused) as refused:
        lockfile.select(lock.read_bytes(), str(lock), default_environment(), tags)
    (other,) = (name for name in names if name != "sha256")
    message = f"hash algorithm {other!r} is not spelled in lower case, as hashlib names it"
    assert refused.value.problems == (Problem(str(lock), f"beta 2.0: {message}"),)


def test_a_lock_hash_of_a_kind_wheelplan_does_not_check_is_passed_over(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    beta = wheels / BETA.filename
    entry = wheel_entry(beta, path=str(beta))
    entry["hashes"] |= {"shake_256": "00" * 32, "blake3": "not-hex"}
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
    result = cli("plan", "--lock", lock, "--python", target, "--json")
    assert result.returncode == 0, result.stderr
    (dist,) = json.loads(result.stdout)["distributions"]
    assert dist["wheel_sha256"] == sha256_of(beta)


def test_a_lock_hash_that_hashlib_refuses_here_is_passed_over(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under FIPS, hashlib lists md5 among its algorithms but will not make one.
    make = hashlib.new

    def fips(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "md5":
            raise ValueError("[digital envelope routines] unsupported")
        return make(name, *args, **kwargs)

    monkeypatch.setattr(hashlib, "new", fips)
    beta = wheels / BETA.filename
    markers = dict(default_environment())
    tags = [str(tag) for tag in sys_tags()]
    for hashes, kept in (
        ({"md5": "0" * 32, "sha256": sha256_of(beta)}, {"sha256": sha256_of(beta)}),
        ({"md5": "0" * 32}, None),
    ):
        entry = {**wheel_entry(beta, path=str(beta)), "hashes": hashes}
        lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
        if kept is None:
            with pytest.raises(
                Refused, match=r"no hash algorithm wheelplan can check \(given: md5\)"
            ):
                lockfile.select(lock.read_bytes(), str(lock), markers, tags)
        else:
            (locked,) = lockfile.select(lock.read_bytes(), str(lock), markers, tags).wheels
            assert locked.hashes == kept


@pytest.mark.parametrize("char", ["\x01", "\x85", "\x9f"], ids=["C0", "NEL", "C1"])
def test_a_wheel_name_with_a_control_character_is_refused_naming_the_lock(
    tmp_path: Path, char: str
) -> None:
    """The applier refuses every control character paths.has_control knows, C1 ones
    included: a lock that planned with one made a plan no apply took."""
    name = f"alpha-1.0-1{char}x-py3-none-any.whl"
    entry = {"name": name, "url": "https://example.invalid/a.whl", "hashes": {"sha256": "0" * 64}}
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    tags = [str(tag) for tag in sys_tags()]
    with pytest.raises(Refused) as refused:
        lockfile.select(lock.read_bytes(), str(lock), default_environment(), tags)
    message = f"alpha 1.0: wheel file name {name!r} contains a control character"
    assert refused.value.problems == (Problem(str(lock), message),)


def test_a_missing_wheel_is_refused(tmp_path: Path, target: Path, wheels: Path, cli: Cli) -> None:
    beta = wheels / BETA.filename
    entry = wheel_entry(beta, path="elsewhere/" + beta.name)
    gone = tmp_path / "gone"
    gone.mkdir()
    url_entry = wheel_entry(wheels / ALPHA.filename, url=(gone / ALPHA.filename).as_uri())
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [LockPackage("alpha", wheels=(url_entry,)), LockPackage("beta", "2.0", wheels=(entry,))],
    )
    before = snapshot(target.parent.parent)
    result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert result.returncode == 1
    lines = errors(result)
    assert len(lines) == 2
    assert any(str(tmp_path / "elsewhere" / beta.name) in line for line in lines)
    # A file URL names a path, refused as one.
    assert f"error: {gone / ALPHA.filename}: wheel file named by the lock does not exist" in lines
    assert snapshot(target.parent.parent) == before


@pytest.mark.parametrize(
    ("folder", "problem"),
    [
        (b"not-utf8-\xff", "the path is not valid UTF-8, and a plan holds paths as text"),
        (b"c0-\x01", "the path has a control character"),
        ("c1-\x85".encode(), "the path has a control character"),
    ],
)
def test_a_lock_wheel_path_no_plan_can_hold_is_refused_naming_the_lock(
    tmp_path: Path, target: Path, cli: Cli, folder: bytes, problem: str
) -> None:
    """A `path` resolved against the lock's folder gets the checks a wheel named on the
    command line gets, before it is read: it was planned (the applier then refused the
    plan) or a traceback."""
    lock_dir = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + folder))
    alpha = build_wheel(ALPHA, lock_dir)
    entry = wheel_entry(alpha, path=alpha.name)
    lock = write_pylock(lock_dir / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    before = snapshot(target.parent.parent)
    result = cli("install", "--lock", lock, "--python", target, "--cache-dir", tmp_path / "c")
    assert errors(result) == [
        f"error: {Problem(str(lock), f'alpha 1.0: wheel path {str(alpha)!r}: {problem}')}"
    ]
    assert snapshot(target.parent.parent) == before


def test_a_download_folder_no_plan_can_hold_is_refused_unwritten(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    beta = wheels / BETA.filename
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/downloads-\xff"))
    with serve(wheels) as base:
        entry = wheel_entry(beta, url=f"{base}/{beta.name}")
        lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
        result = cli("install", "--lock", lock, "--python", target, "--wheel-dir", folder)
    problem = Problem(str(folder), "the path is not valid UTF-8, and a plan holds paths as text")
    assert errors(result) == [f"error: {problem}"]
    assert not folder.exists()


@pytest.mark.parametrize(
    "options", [("--wheel-dir",), ("--cache-dir",), ("--no-cache", "--cache-dir")]
)
@pytest.mark.parametrize("below", [False, True])
@pytest.mark.parametrize(
    "kind", ["a file", "a symlink to a file", "a symlink whose target does not exist"]
)
def test_a_download_folder_that_is_a_file_is_refused_once(
    tmp_path: Path,
    target: Path,
    wheels: Path,
    cli: Cli,
    options: tuple[str, ...],
    below: bool,
    kind: str,
) -> None:
    """Each wheel to store was refused for it, naming the wheel and quoting an errno
    ('cannot fetch wheel: [Errno 17] File exists: ...'): one problem, the folder's. A
    symlink to nothing was called a file, and a symlink to a file one to nothing. A
    cache in use is refused as every command refuses it, before the lock is read; under
    --no-cache only its downloads/ is, as the store of the lock's wheels."""
    *_, option = options
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    given = tmp_path / "a-file"
    if kind == "a file":
        given.write_bytes(b"mine")
    else:
        given.symlink_to(tmp_path / ("mine" if kind == "a symlink to a file" else "nowhere"))
        if kind == "a symlink to a file":  # a file, as os.makedirs meets it
            (tmp_path / "mine").write_bytes(b"mine")
    folder = given / "sub" if below else given
    store = folder if option == "--wheel-dir" else folder / "downloads"
    with serve(wheels) as base:
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage("alpha", wheels=(wheel_entry(alpha, url=f"{base}/{alpha.name}"),)),
                LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=f"{base}/{beta.name}"),)),
            ],
        )
        result = cli("plan", "--lock", lock, "--python", target, *options, folder)
    what = "a file" if kind == "a symlink to a file" else kind
    if options == ("--cache-dir",):
        problem = f"is {what}, not a folder: --cache-dir names {folder if below else 'it'}"
    else:
        inside = "it" if store == given else str(store)
        problem = f"is {what}, not a folder: the lock's wheels cannot be stored in {inside}"
    assert (result.returncode, errors(result)) == (1, [f"error: {given}: {problem}"])
    if what == "a file":
        assert given.read_bytes() == b"mine"
    else:
        assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("into", ["--wheel-dir", "--cache-dir"])
def test_a_wheel_whose_file_name_is_near_the_longest_a_folder_holds_is_fetched(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, into: str
) -> None:
    """Its part file was named for it with more around it, past 255 bytes: such a wheel
    installs by name (and uv installs it from a lock), and its download or copy failed
    with 'File name too long'."""
    platforms = ".".join(f"manylinux_2_{minor}_x86_64" for minor in range(5, 15))
    spec = WheelSpec(
        "longname", files={"longname/__init__.py": b"L = 1\n"}, tag=f"py3-none-{platforms}.any"
    )
    wheel = build_wheel(spec, tmp_path / "long")
    assert len(wheel.name) == 244
    folder = tmp_path / "into"
    with serve(wheel.parent) as base:
        entry = wheel_entry(wheel, url=f"{base}/{wheel.name}")
        lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("longname", wheels=(entry,))])
        result = cli("install", "--lock", lock, "--python", target, into, folder)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in folder.rglob("*.whl")] == [wheel.name]
    assert (site_packages(target) / "longname" / "__init__.py").read_bytes() == b"L = 1\n"


def _moved(location: str) -> Answer:
    """A server's answer to /moved/NAME: a 302 to `location` (with `{name}` filled in)."""

    def answer(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        if not handler.path.startswith("/moved/"):
            return False
        handler.send_response(302)
        handler.send_header("Location", location.format(name=handler.path.rsplit("/", 1)[1]))
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True

    return answer


def _locked(wheel: Path, url: str) -> LockedWheel:
    return LockedWheel(
        wheel.name.split("-")[0],
        wheel.name,
        None,
        url,
        wheel.stat().st_size,
        {"sha256": sha256_of(wheel)},
    )


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1:1/{name}", "file:///etc/{name}", "data:,x", "/{name}"]
)
def test_a_redirect_is_followed_to_http_and_https_only(
    tmp_path: Path, wheels: Path, location: str
) -> None:
    """urllib follows a redirect to ftp too: the lock's URL must be http or https, and
    so must every one it leads to."""
    beta = wheels / BETA.filename
    folder = tmp_path / "dl"
    with serve(wheels, _moved(location)) as base:
        wheel = _locked(beta, f"{base}/moved/{beta.name}")
        if location.startswith("/"):
            (fetched,) = fetch.fetch([wheel], str(folder))
            assert Path(fetched.path).read_bytes() == beta.read_bytes()
            return
        with pytest.raises(Refused) as refused:
            fetch.fetch([wheel], str(folder))
    target = location.format(name=beta.name)
    problem = (
        f"download failed: HTTP 302 redirect to {target!r} not followed: only http and https are"
    )
    assert refused.value.problems == (Problem(wheel.url or "", problem),)
    assert not folder.exists()


def test_a_redirect_loop_is_refused_in_one_line(tmp_path: Path, wheels: Path) -> None:
    """urllib's message for it holds line breaks, which the error line showed as '\\n'."""
    beta = wheels / BETA.filename
    with serve(wheels, _moved("/moved/{name}")) as base:
        wheel = _locked(beta, f"{base}/moved/{beta.name}")
        with pytest.raises(Refused) as refused:
            fetch.fetch([wheel], str(tmp_path / "dl"))
    problem = (
        "download failed: HTTP 302 redirected in a loop or more than 10 times; the last"
        " answer: Found"
    )
    assert refused.value.problems == (Problem(wheel.url or "", problem),)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file://{wheel}", "file"),
        ("data:application/octet-stream;base64,{data}", "data"),
        ("ftp://user:s3cret@127.0.0.1:1/{name}", "ftp"),
    ],
)
def test_the_downloader_takes_http_and_https_urls_only(
    tmp_path: Path, wheels: Path, url: str, scheme: str
) -> None:
    """Only planner/lockfile.py's URL checks kept these out: urllib's default opener
    read a `file:` path, a `data:` URL's bytes and an `ftp:` server as readily."""
    beta = wheels / BETA.filename
    data = base64.b64encode(beta.read_bytes()).decode()
    wheel = _locked(beta, url.format(wheel=beta, data=data, name=beta.name))
    folder = tmp_path / "dl"
    with pytest.raises(Refused) as refused:
        fetch.fetch([wheel], str(folder))
    problem = (
        f"download failed: URL scheme {scheme!r} is not supported:"
        " wheels are downloaded over http and https only"
    )
    assert refused.value.problems == (Problem(redacted(wheel.url or ""), problem),)
    assert "s3cret" not in str(refused.value)
    assert not folder.exists()


_PROXY_VARIABLES = ("http", "https", "ftp", "no", "all")


@contextlib.contextmanager
def _proxy(wheel: Path) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """An HTTP proxy on 127.0.0.1 that serves `wheel` for any GET and refuses to tunnel
    (CONNECT, as for https); yields its URL and each request it got (method, target)."""
    seen: list[tuple[str, str]] = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(("GET", self.path))
            body = wheel.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_CONNECT(self) -> None:
            seen.append(("CONNECT", self.path))
            self.send_error(502)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _proxy_environment(monkeypatch: pytest.MonkeyPatch, **proxies: str) -> None:
    """Only `proxies` (`http="..."` for HTTP_PROXY) in the environment, and a downloader
    that read them, as one started under them does."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(f"{name}_proxy", raising=False)
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
    for name, value in proxies.items():
        monkeypatch.setenv(f"{name.upper()}_PROXY", value)
    monkeypatch.setattr(urlopener, "OPENER", urlopener.opener())


def test_a_proxy_for_another_scheme_lets_no_such_url_through(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib's proxy handler opens a URL of any scheme it has a proxy for through that
    proxy: with ftp_proxy set, an `ftp:` URL was downloaded over http."""
    beta = wheels / BETA.filename
    with _proxy(beta) as (proxy, seen):
        _proxy_environment(monkeypatch, ftp=proxy, file=proxy)
        for url in (f"ftp://wheels.invalid/{beta.name}", beta.as_uri()):
            with pytest.raises(Refused, match=r"URL scheme .* is not supported"):
                fetch.fetch([_locked(beta, url)], str(tmp_path / "dl"))
    assert seen == []


@pytest.mark.parametrize("how", ["http proxy", "all proxy", "https proxy", "no proxy"])
def test_proxies_from_the_environment_are_used(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The downloader takes HTTP_PROXY, HTTPS_PROXY and NO_PROXY as urllib takes them,
    and ALL_PROXY for a scheme with none of its own, as pip and uv take it: urllib has
    no use for it, and the download went around the proxy."""
    beta = wheels / BETA.filename
    folder = tmp_path / "dl"
    with _proxy(beta) as (proxy, seen), serve(wheels) as base:
        port = base.rsplit(":", 1)[1]
        if how == "https proxy":
            _proxy_environment(monkeypatch, https=proxy)
            url = f"https://127.0.0.1:{port}/{beta.name}"
            assert _refusal(_locked(beta, url), folder) == (
                f"download failed: cannot connect through the proxy {proxy!r} set for https:"
                f" Tunnel connection failed: 502 Bad Gateway; tried {len(NO_PAUSES) + 1} times"
            )
            # A 502 may pass: tried again after each pause.
            assert seen == [("CONNECT", f"127.0.0.1:{port}")] * (len(NO_PAUSES) + 1)
            return
        bypass = {"no": "127.0.0.1"} if how == "no proxy" else {}
        _proxy_environment(
            monkeypatch, **{"all" if how == "all proxy" else "http": proxy}, **bypass
        )
        url = f"{base}/{beta.name}"
        (fetched,) = fetch.fetch([_locked(beta, url)], str(folder))
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert seen == ([] if how == "no proxy" else [("GET", url)])


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a connection to it is refused."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return int(listener.getsockname()[1])


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_that_refuses_the_connection_is_named_as_the_one_that_failed(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """A proxy that takes no connection was refused in the server's words, '[Errno 111]
    Connection refused', naming no proxy, where pip 26.3 says 'Failed to connect to
    proxy http://user:****@...'. A host NO_PROXY names fails as its own."""
    beta = wheels / BETA.filename
    port = _closed_port()
    proxy = f"http://user:s3cret@127.0.0.1:{port}"
    _proxy_environment(monkeypatch, **{scheme: proxy}, no="localhost")
    assert _refusal(_locked(beta, f"{scheme}://wheels.invalid/{beta.name}"), tmp_path / "dl") == (
        f"download failed: cannot connect through the proxy 'http://user:****@127.0.0.1:{port}'"
        f" set for {scheme}: [Errno 111] Connection refused; tried {len(NO_PAUSES) + 1} times"
    )
    bypassed = _locked(beta, f"{scheme}://localhost:{port}/{beta.name}")
    assert _refusal(bypassed, tmp_path / "dl") == (
        f"download failed: [Errno 111] Connection refused; tried {len(NO_PAUSES) + 1} times"
    )


@pytest.mark.parametrize("to", ["bypassed", "proxied"])
def test_a_proxy_s_login_goes_to_the_proxy_alone(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, to: str
) -> None:
    """urllib adds a proxy's login to a request's own headers, which a redirect carries:
    one to a host NO_PROXY names sent the proxy's password to that host, where uv
    0.13.9 sends it to the proxy alone. A redirect the proxy takes again sends it again."""
    beta = wheels / BETA.filename
    logins: list[tuple[str, str | None]] = []

    def origin(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        logins.append(("origin", handler.headers.get("Proxy-Authorization")))
        return False

    with serve(wheels, origin) as base:
        moved = _moved(f"{base}/{{name}}" if to == "bypassed" else "http://other.invalid/{name}")

        def proxy(handler: http.server.SimpleHTTPRequestHandler) -> bool:
            logins.append(("proxy", handler.headers.get("Proxy-Authorization")))
            handler.path = urlsplit(handler.path).path
            return moved(handler)

        with serve(wheels, proxy) as proxy_url:
            login = proxy_url.replace("://", "://user:s3cret@")
            _proxy_environment(monkeypatch, http=login, no="127.0.0.1")
            wheel = _locked(beta, f"http://wheels.invalid/moved/{beta.name}")
            (fetched,) = fetch.fetch([wheel], str(tmp_path / "dl"))
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    sent = _basic("user:s3cret")
    assert logins == [("proxy", sent), ("origin", None) if to == "bypassed" else ("proxy", sent)]


@pytest.mark.parametrize("password", ["s3cret", "s3/cret", "s3?c#ret"])
@pytest.mark.parametrize("variable", ["all", "http", "https"])
def test_a_socks_proxy_is_refused_as_one(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, variable: str, password: str
) -> None:
    """urllib takes a `socks5://` proxy for a scheme to switch to: an http download was
    refused as 'URL scheme 'socks5' is not supported', which names no proxy, and an
    https one sent the SOCKS server an HTTP CONNECT. uv goes through SOCKS proxies;
    pip refuses one without PySocks, as wheelplan must without a SOCKS client. A
    password's `/`, `?` or `#` not percent-encoded showed the password from there on."""
    beta = wheels / BETA.filename
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, seen=seen) as base:
        port = base.rpartition(":")[2]
        proxy = f"socks5://user:{password}@127.0.0.1:{port}"
        _proxy_environment(monkeypatch, **{variable: proxy})
        for scheme in ("http", "https") if variable == "all" else (variable,):
            wheel = _locked(beta, f"{scheme}://wheels.invalid/{beta.name}")
            assert _refusal(wheel, tmp_path / "dl") == (
                f"download failed: the proxy 'socks5://user:****@127.0.0.1:{port}' set for"
                f" {scheme} is not an http or https proxy, the only kinds wheelplan goes through"
            )
    assert seen == []


def _refusal(wheel: LockedWheel, folder: Path) -> str:
    """The one problem fetching `wheel` into `folder` (with no pauses) meets, of it."""
    with pytest.raises(Refused) as refused:
        fetch.fetch([wheel], str(folder), pauses=NO_PAUSES)
    (problem,) = refused.value.problems
    assert problem.subject == redacted(wheel.url or "")
    return problem.message


_BASIC = "Basic " + base64.b64encode(b"user:s3 cret").decode()


def _private(handler: http.server.SimpleHTTPRequestHandler) -> bool:
    """/private/NAME serves NAME to user `user`, password `s3 cret`, only."""
    if not handler.path.startswith("/private/"):
        return False
    if handler.headers.get("Authorization") != _BASIC:
        handler.send_error(401)
        return True
    handler.path = handler.path.removeprefix("/private")
    return False


def _private_or_moved(location: str) -> Answer:
    moved = _moved(location)
    return lambda handler: _private(handler) or moved(handler)


@pytest.mark.parametrize("to", ["same origin", "other origin"])
def test_url_credentials_are_sent_as_basic_auth_to_their_origin_only(
    tmp_path: Path, wheels: Path, to: str
) -> None:
    """urllib took `user:pass@host` for the host's name ("Name or service not known").
    pip and uv send Basic auth; a redirect to another host must not get it."""
    beta = wheels / BETA.filename
    elsewhere: list[tuple[str, str | None]] = []
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, seen=elsewhere) as other:
        location = "/private/{name}" if to == "same origin" else f"{other}/{{name}}"
        with serve(wheels, _private_or_moved(location), seen) as base:
            where = base.replace("://", "://user:s3%20cret@")
            for path in (f"/private/{beta.name}", f"/moved/{beta.name}"):
                (fetched,) = fetch.fetch([_locked(beta, where + path)], str(tmp_path / "dl"))
                assert Path(fetched.path).read_bytes() == beta.read_bytes()
                Path(fetched.path).unlink()
    assert seen[0] == (f"/private/{beta.name}", _BASIC)
    assert seen[1] == (f"/moved/{beta.name}", _BASIC)
    if to == "same origin":
        assert seen[2:] == [(f"/private/{beta.name}", _BASIC)]
    else:
        assert (seen[2:], elsewhere) == ([], [(f"/{beta.name}", None)])


def _basic(login: str) -> str:
    return "Basic " + base64.b64encode(login.encode()).decode()


def test_a_netrc_login_for_the_host_is_sent_as_pip_and_uv_send_it(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private index's login kept in ~/.netrc (or the file NETRC names), which pip
    sends unasked and uv after a 401, was never sent: the download was refused 401.
    A URL's own credentials come first, and a redirect to another host gets that
    host's login, as pip's requests gives it."""
    beta = wheels / BETA.filename
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine elsewhere.invalid login other password no\n"
        "machine 127.0.0.1 login user password s3cret\n"
    )
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[tuple[str, str | None]] = []
    served: list[str] = []  # the server's own URL, where /moved/NAME leads from localhost

    def moved(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        return _moved(served[0] + "/{name}")(handler)

    with serve(wheels, moved, seen) as base:
        served.append(base)
        for index, url in enumerate(
            (
                f"{base}/{beta.name}",
                base.replace("://", "://own:word@") + f"/{beta.name}",
                base.replace("127.0.0.1", "localhost") + f"/moved/{beta.name}",
            )
        ):
            (fetched,) = fetch.fetch([_locked(beta, url)], str(tmp_path / f"dl{index}"))
            assert Path(fetched.path).read_bytes() == beta.read_bytes()
    netrc_login = _basic("user:s3cret")
    assert [auth for _, auth in seen] == [netrc_login, _basic("own:word"), None, netrc_login]


@pytest.mark.parametrize(
    ("entry", "sent"),
    [
        ("machine 127.0.0.1 login user password s3cret", "user:s3cret"),
        ("default login user password s3cret", "user:s3cret"),
        ("machine 127.0.0.1 login other password 0ther", "user:"),
        ("machine elsewhere.invalid login user password no", "user:"),
    ],
)
def test_a_url_naming_a_user_and_no_password_gets_the_user_s_netrc_password(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, entry: str, sent: str
) -> None:
    """`https://user@host/...`, a token's place or a user whose password the netrc
    file keeps: it was sent with an empty password, the netrc file unread, where pip
    26.3 and uv 0.13.9 send the password its entry for the host gives. An entry for
    another user is not sent, as uv sends none (pip sends it in the URL user's place)."""
    beta = wheels / BETA.filename
    netrc = tmp_path / "netrc"
    netrc.write_text(entry + "\n")
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, seen=seen) as base:
        url = base.replace("://", "://user@") + f"/{beta.name}"
        (fetched,) = fetch.fetch([_locked(beta, url)], str(tmp_path / "dl"))
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert [auth for _, auth in seen] == [_basic(sent)]


@pytest.mark.parametrize("netrc", ["~/my-netrc", "~/.netrc", None])
def test_a_netrc_file_under_the_home_folder_is_read(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, netrc: str | None
) -> None:
    """NETRC=~/my-netrc, set where no shell expands it (a CI file, an env file), is
    the file in the home folder to pip 26.3 and uv 0.13.9: its login was not sent."""
    beta = wheels / BETA.filename
    monkeypatch.setenv("HOME", str(tmp_path))
    if netrc is None:
        monkeypatch.delenv("NETRC", raising=False)
    else:
        monkeypatch.setenv("NETRC", netrc)
    (tmp_path / (netrc or "~/.netrc").removeprefix("~/")).write_text(
        "machine 127.0.0.1 login user password s3cret\n"
    )
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, seen=seen) as base:
        (fetched,) = fetch.fetch([_locked(beta, f"{base}/{beta.name}")], str(tmp_path / "dl"))
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert [auth for _, auth in seen] == [_basic("user:s3cret")]


@pytest.mark.parametrize(
    ("given", "sent"), [(" account user password s3cret", _basic("user:s3cret")), ("", None)]
)
def test_a_netrc_entry_without_a_login_is_sent_as_pip_sends_it(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, given: str, sent: str | None
) -> None:
    """An entry giving `account` and no `login`, whose account pip's requests sends as
    the user name, was sent with an empty one, and an entry giving nothing, for which
    it sends no login, as the login ':'."""
    beta = wheels / BETA.filename
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1{given}\n")
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, seen=seen) as base:
        (fetched,) = fetch.fetch([_locked(beta, f"{base}/{beta.name}")], str(tmp_path / "dl"))
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert [auth for _, auth in seen] == [sent]


@pytest.mark.parametrize("login", ["none", "netrc", "url"])
def test_a_401_says_whether_a_login_was_sent(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    """'HTTP 401 Unauthorized' alone said nothing of where a login goes, nor whether
    the one sent was refused."""
    beta = wheels / BETA.filename
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password wrong\n")
    if login == "netrc":
        monkeypatch.setenv("NETRC", str(netrc))
    with serve(wheels, _private) as base:
        where = base.replace("://", "://user:wrong@") if login == "url" else base
        message = _refusal(_locked(beta, f"{where}/private/{beta.name}"), tmp_path / "dl")
    assert message == "download failed: HTTP 401 Unauthorized" + (
        ": no login was sent; give one in the URL (https://user:password@host/...) or in"
        " ~/.netrc (or the file NETRC names)"
        if login == "none"
        else ": the login sent was refused"
    )


@pytest.mark.parametrize(("userinfo", "shown"), [("user:s3cret", "user:****"), ("s3cret", "****")])
def test_url_credentials_are_never_shown(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, userinfo: str, shown: str
) -> None:
    beta = wheels / BETA.filename
    with serve(wheels, _moved("http://again:s3cret@127.0.0.1:1/{name}")) as base:
        host = base.removeprefix("http://")
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage(
                    name, version, wheels=(wheel_entry(wheel, url=f"http://{userinfo}@{where}"),)
                )
                for name, version, wheel, where in (
                    ("alpha", "1.0", wheels / ALPHA.filename, f"{host}/gone/{ALPHA.filename}"),
                    ("beta", "2.0", beta, f"{host}/moved/{beta.name}"),
                )
            ],
        )
        result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert "s3cret" not in result.stdout + result.stderr
    assert errors(result) == [
        f"error: http://{shown}@{host}/gone/{ALPHA.filename}: download failed: HTTP 404"
        " File not found",
        f"error: http://{shown}@{host}/moved/{beta.name}: download failed: HTTP 302 redirect to"
        f" 'http://again:****@127.0.0.1:1/{beta.name}' not followed: it carries credentials",
    ]


@pytest.mark.parametrize("cut", ["/", "?", "#"])
def test_a_password_that_ends_the_host_early_is_refused_unshown_before_any_download(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, cut: str
) -> None:
    """`user:pass/word@host`: a `/`, `?` or `#` in a password not percent-encoded ends
    the host there, so `user` was the host and `pass` its port: the download was
    refused as `nonnumeric port: 'pass'`, under the URL as written, the password
    shown twice. uv refuses such a URL on reading it ('invalid port number')."""
    beta = wheels / BETA.filename
    url = f"http://user:s3cr{cut}et@127.0.0.1:1/{beta.name}"
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=url),))],
    )
    result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert "s3cr" not in result.stdout + result.stderr
    assert errors(result) == [
        f"error: {lock}: beta 2.0: URL's port is not a number from 0 to 65535: a '/', '?',"
        " '#' or '@' in its user name or password must be percent-encoded (%2F, %3F, %23,"
        " %40)"
    ]
    assert not (tmp_path / "dl").exists()


def test_a_file_url_s_credentials_are_not_shown(tmp_path: Path, wheels: Path) -> None:
    beta = wheels / BETA.filename
    entry = wheel_entry(beta, url=f"file://user:s3cret@elsewhere/{beta.name}")
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
    tags = [str(tag) for tag in sys_tags()]
    with pytest.raises(Refused, match=r"file://user:\*\*\*\*@elsewhere/") as refused:
        lockfile.select(lock.read_bytes(), str(lock), default_environment(), tags)
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize("into", ["--cache-dir", "--wheel-dir"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_download_leaves_no_part_file(
    tmp_path: Path, target: Path, wheels: Path, into: str, stop: signal.Signals
) -> None:
    """Only the workers removed their part files, and the process ends on an interrupt
    without waiting for them: a download stalled on a slow server was left behind, in
    the cache (with its folder) or in --wheel-dir."""
    beta = wheels / BETA.filename
    started, release = threading.Event(), threading.Event()

    def stall(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        handler.send_response(200)
        handler.send_header("Content-Length", str(beta.stat().st_size))
        handler.end_headers()
        handler.wfile.write(beta.read_bytes()[:100])
        handler.wfile.flush()
        started.set()
        release.wait(120)
        return True

    folder = tmp_path / "into"
    downloads = folder / "downloads" if into == "--cache-dir" else folder
    with serve(wheels, stall) as base:
        entry = wheel_entry(beta, url=f"{base}/{beta.name}")
        lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wheelplan",
                "plan",
                "--lock",
                lock,
                "--python",
                target,
                into,
                folder,
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert started.wait(120)
            for _ in range(60_000):  # a bound against a hang, not a timing assumption
                if process.poll() is not None or list(downloads.rglob("*.part")):
                    break
                time.sleep(0.005)
            assert list(downloads.rglob("*.part")), process.communicate()
            process.send_signal(stop)
            err = process.communicate(timeout=120)[1]
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
                process.wait()
    assert (process.returncode, err) == (1, "error: interrupted\n")
    # Nor the folders made for it, which were not there before (downloads/ and the
    # cache, or the --wheel-dir).
    assert not folder.exists()


@pytest.mark.parametrize("encoding", [None, "gzip"])
@pytest.mark.parametrize("sized", [True, False])
def test_a_download_cut_short_is_refused_as_cut_short(
    tmp_path: Path, wheels: Path, sized: bool, encoding: str | None
) -> None:
    """A server that closes the connection before the length it announced: http.client
    returns what came, and the refusal said the wheel had another sha256 (or size) than
    the lock's, as if the wheel or the lock were wrong; uv says the download broke off.
    Gzipped, the end of the stream that never came was refused as a body that is not
    gzip, and not tried again."""
    beta = wheels / BETA.filename
    whole = beta.read_bytes() if encoding is None else gzip.compress(beta.read_bytes())

    def cut(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        handler.send_response(200)
        if encoding is not None:
            handler.send_header("Content-Encoding", encoding)
        handler.send_header("Content-Length", str(len(whole)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(whole[:100])
        handler.close_connection = True
        return True

    with serve(wheels, cut) as base:
        wheel = _locked(beta, f"{base}/{beta.name}")
        if not sized:
            wheel = attrs.evolve(wheel, size=None)
        message = _refusal(wheel, tmp_path / "dl")
    assert message == (
        f"download failed: the connection closed after 100 of the {len(whole)} bytes the"
        f" server announced; tried {len(NO_PAUSES) + 1} times"
    )
    assert not (tmp_path / "dl").exists()


def _encoded(encoding: str | tuple[str, ...], body: bytes, asked: list[str | None]) -> Answer:
    """An answer sending `body` with `Content-Encoding: encoding` (a header field for
    each of a tuple's), unasked; `asked` gets each request's Accept-Encoding."""

    def answer(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        asked.append(handler.headers.get("Accept-Encoding"))
        handler.send_response(200)
        for field in (encoding,) if isinstance(encoding, str) else encoding:
            handler.send_header("Content-Encoding", field)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    return answer


@pytest.mark.parametrize("level", [9, 0], ids=["deflated", "stored"])
@pytest.mark.parametrize(
    ("encoding", "times"),
    [
        ("gzip", 1),
        ("x-gzip", 1),
        ("GZIP", 1),
        ("identity, gzip", 1),
        (("gzip", "gzip"), 2),
        (("gzip, identity", "x-gzip"), 2),
    ],
)
def test_a_gzip_encoded_download_is_checked_decoded(
    tmp_path: Path, wheels: Path, encoding: str | tuple[str, ...], times: int, level: int
) -> None:
    """A server that gzips a wheel though asked for the identity encoding, as pip and
    uv ask: its hash was checked on the gzip stream and refused as another sha256 than
    the lock's; uv decodes it, and so does wheelplan now (pip says the hash differs).
    Stored, the gzip stream is larger than the wheel: its length is not the wheel's.
    Codings are undone in the reverse of the order listed (RFC 9110), in one header
    field or several, identity a no-op: 'identity, gzip' was refused as not decoded,
    and two 'gzip' fields were decoded once, the hash then wrong (pip 26.3 refuses
    each as an invalid wheel; uv 0.13.9 decodes a lone 'gzip' field alone, the first
    of two once)."""
    beta = wheels / BETA.filename
    asked: list[str | None] = []
    # mtime=0: the same bytes each time, so that the size checked is the wheel's alone.
    body = beta.read_bytes()
    for _ in range(times):
        body = gzip.compress(body, compresslevel=level, mtime=0)
    assert level or len(body) > beta.stat().st_size
    with serve(wheels, _encoded(encoding, body, asked)) as base:
        wheel = _locked(beta, f"{base}/{beta.name}")
        (fetched,) = fetch.fetch([wheel], str(tmp_path / "dl"), pauses=NO_PAUSES)
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert asked == ["identity"]


@pytest.mark.parametrize(
    ("encoding", "body", "problem"),
    [
        (
            "br",
            b"PK",
            "download failed: the server sent it with Content-Encoding 'br', which"
            " wheelplan does not decode (it asked for the identity encoding)",
        ),
        # A wheel sent as it is, but said to be gzipped: pip's second case.
        (
            "gzip",
            b"PK\x03\x04 not gzip",
            "download failed: the server sent it with Content-Encoding 'gzip', and it is"
            " not gzip: Error -3 while decompressing data: incorrect header check",
        ),
        (
            "gzip",
            gzip.compress(b"PK" * 1000, mtime=0)[:-30],
            "download failed: the server sent it with Content-Encoding 'gzip', and it is"
            " not gzip: the gzip stream ends before its end",
        ),
    ],
    ids=["br", "not gzip", "gzip cut"],
)
def test_an_encoded_download_that_cannot_be_decoded_is_refused_naming_the_encoding(
    tmp_path: Path, wheels: Path, encoding: str, body: bytes, problem: str
) -> None:
    """Another try gets the same bytes: the download is not tried again."""
    beta = wheels / BETA.filename
    asked: list[str | None] = []
    with serve(wheels, _encoded(encoding, body, asked)) as base:
        assert _refusal(_locked(beta, f"{base}/{beta.name}"), tmp_path / "dl") == problem
    assert asked == ["identity"]
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("where", ["before the answer", "in the body"])
def test_a_stalled_download_is_refused_as_timed_out_after_its_tries(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A server that stops sending: each try waits the timeout for the next byte (pip
    waits 15 s, uv 30 s), and the refusal said 'cannot fetch wheel: timed out' of a
    body, as if the disk had failed, with no word of how long it waited."""
    beta = wheels / BETA.filename
    release = threading.Event()
    seen: list[tuple[str, str | None]] = []

    def stall(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        if where == "in the body":
            handler.send_response(200)
            handler.send_header("Content-Length", str(beta.stat().st_size))
            handler.end_headers()
            handler.wfile.write(beta.read_bytes()[:100])
            handler.wfile.flush()
        release.wait(60)
        handler.close_connection = True
        return True

    monkeypatch.setattr(fetch, "TIMEOUT", 0.2)
    try:
        with serve(wheels, stall, seen) as base:
            wheel = _locked(beta, f"{base}/{beta.name}")
            message = _refusal(wheel, tmp_path / "dl")
            release.set()
    finally:
        release.set()
    assert message == (
        "download failed: timed out: nothing came from the server in 0.2 seconds;"
        f" tried {len(NO_PAUSES) + 1} times"
    )
    assert len(seen) == len(NO_PAUSES) + 1
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("command", ["plan", "install"])
def test_timeout_sets_how_long_a_download_waits_for_a_stalled_server(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, command: str
) -> None:
    """pip takes --timeout and uv UV_HTTP_TIMEOUT: wheelplan waited 30 s, told or not."""
    beta = wheels / BETA.filename
    release = threading.Event()

    def stall(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        release.wait(60)
        handler.close_connection = True
        return True

    try:
        with serve(wheels, stall) as base:
            url = f"{base}/{beta.name}"
            lock = write_pylock(
                tmp_path / "pylock.toml",
                [LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=url),))],
            )
            before = snapshot(target.parent.parent)
            # A cache of its own: the session's holds this wheel, downloaded before.
            result = cli(
                command,
                *("--lock", lock, "--python", target, "--timeout", "0.2"),
                *("--cache-dir", tmp_path / "cache"),
            )
            release.set()
    finally:
        release.set()
    assert result.returncode == 1, result.stderr
    assert errors(result) == [
        f"error: {url}: download failed: timed out: nothing came from the server in 0.2"
        f" seconds; tried {len(fetch.RETRY_PAUSES) + 1} times"
    ]
    assert snapshot(target.parent.parent) == before


@pytest.mark.parametrize("command", ["plan", "install"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_a_usage_error(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, command: str
) -> None:
    lock = write_pylock(tmp_path / "pylock.toml", [])
    for value in ("0", "-1", "lots", "nan", "inf", ""):
        result = cli(command, "--lock", lock, "--python", target, "--timeout", value)
        assert result.returncode == 2, (value, result.stderr)
        assert result.stderr.splitlines()[-1].endswith(
            f"argument --timeout: expected a positive number of seconds, got {value!r}"
        ), result.stderr


def test_a_server_that_takes_no_connection_is_refused_as_timed_out(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listener whose queue is full never completes a connection: urllib's refusal
    said 'timed out' alone."""
    beta = wheels / BETA.filename
    monkeypatch.setattr(fetch, "TIMEOUT", 0.2)
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=0))
        port = listener.getsockname()[1]
        for _ in range(3):  # fill the queue, which takes more than backlog=0 says
            waiting = stack.enter_context(socket.socket())
            waiting.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                waiting.connect(("127.0.0.1", port))
        message = _refusal(_locked(beta, f"http://127.0.0.1:{port}/{beta.name}"), tmp_path / "dl")
    assert message == (
        "download failed: timed out: nothing came from the server in 0.2 seconds;"
        f" tried {len(NO_PAUSES) + 1} times"
    )


def _failing(kind: str, times: int) -> Answer:
    """An answer that fails the first `times` requests as `kind` says, then serves."""
    failed: list[str] = []

    def answer(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        if len(failed) >= times:
            return False
        failed.append(handler.path)
        if kind == "closed":  # no answer at all, as a reset connection gives
            handler.close_connection = True
            return True
        if kind.isdigit():
            handler.send_error(int(kind))
            return True
        handler.send_response(200)
        if kind == "chunked":  # one whole chunk of 16 bytes, then 100 of 4096
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.write(b"10\r\n" + b"P" * 16 + b"\r\n1000\r\n" + b"K" * 100)
        else:  # "between chunks": the connection closes where a chunk would begin
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.write(b"10\r\n" + b"P" * 16 + b"\r\n")
        handler.close_connection = True
        return True

    return answer


@pytest.mark.parametrize("kind", ["closed", "503", "429", "408", "chunked", "between chunks"])
def test_a_download_is_tried_again_after_an_error_that_can_pass(
    tmp_path: Path, wheels: Path, kind: str
) -> None:
    """A connection closed without an answer or cut short, or a 5xx, failed the fetch at
    once, where pip tries 5 more times and uv 3; so did a 429 Too Many Requests and a
    408 Request Timeout, which uv tries again as it tries a 5xx (pip does not)."""
    beta = wheels / BETA.filename
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, _failing(kind, len(NO_PAUSES)), seen) as base:
        wheel = _locked(beta, f"{base}/{beta.name}")
        (fetched,) = fetch.fetch([wheel], str(tmp_path / "dl"), pauses=NO_PAUSES)
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert len(seen) == len(NO_PAUSES) + 1
    assert [path.name for path in (tmp_path / "dl").iterdir()] == [beta.name]


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("503", "download failed: HTTP 503 Service Unavailable; tried 4 times"),
        (
            "chunked",
            "download failed: the connection closed after 116 bytes, 3996 bytes short of the"
            " end of the chunk the server was sending (it announced no length); tried 4 times",
        ),
        (
            "between chunks",
            "download failed: the connection closed after 16 bytes, before the last of the"
            " chunks the server was sending (it announced no length); tried 4 times",
        ),
        ("404", "download failed: HTTP 404 Not Found"),
    ],
)
def test_a_download_gives_up_after_its_tries_and_never_tries_a_4xx_again(
    tmp_path: Path, wheels: Path, kind: str, problem: str
) -> None:
    """A chunked download cut short was refused as `IncompleteRead(0 bytes read)`."""
    beta = wheels / BETA.filename
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, _failing(kind, 100), seen) as base:
        assert _refusal(_locked(beta, f"{base}/{beta.name}"), tmp_path / "dl") == problem
    assert len(seen) == (1 if kind == "404" else len(NO_PAUSES) + 1)
    assert not (tmp_path / "dl").exists()


def test_a_wheel_with_another_hash_is_not_downloaded_again(tmp_path: Path, wheels: Path) -> None:
    beta = wheels / BETA.filename
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, seen=seen) as base:
        wheel = attrs.evolve(_locked(beta, f"{base}/{beta.name}"), hashes={"sha256": "0" * 64})
        with pytest.raises(Refused, match=r"has sha256 [0-9a-f]{64}, the lock says 0{64}\Z"):
            fetch.fetch([wheel], str(tmp_path / "dl"), pauses=NO_PAUSES)
    assert len(seen) == 1


def _announcing(offset: int, wheel: Path) -> Answer:
    """/announced/NAME: a Content-Length `offset` bytes off the wheel's size, and as
    much of the wheel as that says, but never more than it holds."""

    def answer(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        if not handler.path.startswith("/announced/"):
            return False
        body = wheel.read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body) + offset))
        handler.end_headers()
        handler.wfile.write(body[: len(body) + offset])
        handler.close_connection = True
        return True

    return answer


@pytest.mark.parametrize(
    ("offset", "problem"),
    [
        (1, "{name} is larger than the {size} bytes the lock says"),
        (10**9, "{name} is larger than the {size} bytes the lock says"),
        (-1, "{name} has {short} bytes, the lock says {size}"),
    ],
)
def test_a_download_announcing_a_length_the_lock_does_not_give_is_refused(
    tmp_path: Path, wheels: Path, offset: int, problem: str
) -> None:
    """A length larger than the lock's is refused from the header, unread and not tried
    again: the body was read up to the lock's size first, and one that ended there was
    taken for cut short and tried 4 times. A smaller one is read and refused as short."""
    beta = wheels / BETA.filename
    size = beta.stat().st_size
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, _announcing(offset, beta), seen) as base:
        message = _refusal(_locked(beta, f"{base}/announced/{beta.name}"), tmp_path / "dl")
    assert message == problem.format(name=beta.name, size=size, short=size - 1)
    assert len(seen) == 1
    assert not (tmp_path / "dl").exists()


def _chunked_or_twice(wheel: Path, lengths: tuple[int, ...]) -> Answer:
    """An answer announcing each of `lengths` (offsets from the wheel's size) in a
    Content-Length header: with one, a body sent in chunks; with more, the wheel as it is."""

    def answer(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        body = wheel.read_bytes()
        handler.send_response(200)
        for offset in lengths:
            handler.send_header("Content-Length", str(len(body) + offset))
        if len(lengths) == 1:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        if len(lengths) == 1:
            for start in range(0, len(body), 100):
                block = body[start : start + 100]
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.wfile.write(body)
        handler.close_connection = True
        return True

    return answer


@pytest.mark.parametrize("sized", [True, False], ids=["sized", "unsized"])
@pytest.mark.parametrize("offset", [1, 10**9, -1])
def test_a_chunked_download_s_content_length_is_passed_over(
    tmp_path: Path, wheels: Path, offset: int, sized: bool
) -> None:
    """RFC 9112: a body's chunks override its Content-Length, and http.client reads the
    chunks; uv 0.13.9 installs such an answer (pip 26.3 calls it incomplete). One larger
    than the lock's size was refused as a wheel larger than it, and without a size in the
    lock as cut short, tried 4 times."""
    beta = wheels / BETA.filename
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, _chunked_or_twice(beta, (offset,)), seen) as base:
        wheel = _locked(beta, f"{base}/{beta.name}")
        wheel = wheel if sized else attrs.evolve(wheel, size=None)
        (fetched,) = fetch.fetch([wheel], str(tmp_path / "dl"), pauses=NO_PAUSES)
    assert Path(fetched.path).read_bytes() == beta.read_bytes()
    assert len(seen) == 1


@pytest.mark.parametrize("lengths", [(0, 100), (100, 0), (0, 0, -1)])
def test_a_download_announcing_two_lengths_is_refused_naming_them(
    tmp_path: Path, wheels: Path, lengths: tuple[int, ...]
) -> None:
    """http.client reads the first Content-Length and passes over the others: the wheel
    was taken, or refused as cut short and tried 4 times, by which came first. pip 26.3
    and uv 0.13.9 refuse such an answer; another try gets the same."""
    beta = wheels / BETA.filename
    size = beta.stat().st_size
    seen: list[tuple[str, str | None]] = []
    with serve(wheels, _chunked_or_twice(beta, lengths), seen) as base:
        message = _refusal(_locked(beta, f"{base}/{beta.name}"), tmp_path / "dl")
    shown = ", ".join(repr(str(size + offset)) for offset in dict.fromkeys(lengths))
    assert message == f"download failed: the server announced more than one length: {shown}"
    assert len(seen) == 1
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("length", ["0" * 5000 + "{size}", "9" * 5000, "-1", "{size}.0"])
def test_a_content_length_is_read_as_http_client_reads_the_body(
    tmp_path: Path, wheels: Path, length: str
) -> None:
    """A length int() takes not, which http.client reads the body without, is none:
    one of 5,000 digits was refused as 'Exceeds the limit (4300 digits) for integer
    string conversion', telling the user to call sys.set_int_max_str_digits(), where
    pip 26.3 installs the wheel (and uv 0.13.9 one with the zeros)."""
    beta = wheels / BETA.filename
    body = beta.read_bytes()

    def answer(handler: http.server.SimpleHTTPRequestHandler) -> bool:
        handler.send_response(200)
        handler.send_header("Content-Length", length.format(size=len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True
        return True

    with serve(wheels, answer) as base:
        wheel = _locked(beta, f"{base}/{beta.name}")
        (fetched,) = fetch.fetch([wheel], str(tmp_path / "dl"), pauses=NO_PAUSES)
    assert Path(fetched.path).read_bytes() == body


@contextlib.contextmanager
def _no_http_server() -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request with a line that is not HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    connection.sendall(b"GARBAGE\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("where", "problem"),
    [("garbage", "download failed: BadStatusLine: "), ("space", "download failed: InvalidURL: ")],
)
def test_a_url_http_cannot_fetch_is_refused_not_a_traceback(
    where: str, problem: str, tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    beta = wheels / BETA.filename
    with _no_http_server() as base:
        url = f"{base}/{beta.name}" if where == "garbage" else f"http://a b/{beta.name}"
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=url),))],
        )
        before = snapshot(target.parent.parent)
        result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert result.returncode == 1, result.stderr
    (line,) = errors(result)
    assert line.startswith(f"error: {url}: {problem}"), line
    assert snapshot(target.parent.parent) == before


def test_a_url_with_a_space_or_a_non_ascii_character_is_fetched_percent_encoded(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """uv (and pip) send such a URL percent-encoded, as a browser does; http.client
    refused the space and could not encode the 'ä', so the lock uv installs was refused.
    What is encoded already is sent as it is, not encoded again."""
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    served = tmp_path / "served"
    for folder in ("a b", "ä", "c d"):
        (served / folder).mkdir(parents=True)
    shutil.copy(alpha, served / "a b")
    shutil.copy(beta, served / "ä")
    shutil.copy(beta, served / "c d")
    seen: list[tuple[str, str | None]] = []
    with serve(served, seen=seen) as base:
        urls = {
            "alpha": f"{base}/a b/{alpha.name}?from=a b&to=ü",
            "beta": f"{base}/ä/{beta.name}",
        }
        lock = write_pylock(
            tmp_path / "pylock.toml",
            [
                LockPackage("alpha", wheels=(wheel_entry(alpha, url=urls["alpha"]),)),
                LockPackage("beta", "2.0", wheels=(wheel_entry(beta, url=urls["beta"]),)),
            ],
        )
        result = cli("install", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
        fetch.fetch([_locked(beta, f"{base}/c%20d/{beta.name}")], str(tmp_path / "dl2"))
    assert result.returncode == 0, result.stderr
    assert sorted(path for path, _ in seen) == [
        f"/%C3%A4/{beta.name}",
        f"/a%20b/{alpha.name}?from=a%20b&to=%C3%BC",
        f"/c%20d/{beta.name}",
    ]
    assert (site_packages(target) / "beta" / "__init__.py").read_bytes() == b"VALUE = 2\n"


def test_a_lock_entry_whose_path_is_another_wheel_is_refused(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """What is installed is the wheel file's own project and version: a lock entry whose
    name is alpha's wheel but whose path is beta's would install what it does not say.
    (A name of another project or version is refused by `packaging` itself.)"""
    alpha, beta = wheels / ALPHA.filename, wheels / BETA.filename
    entry = {**wheel_entry(beta, path="wheels/" + beta.name), "name": alpha.name}
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    before = snapshot(target.parent.parent)
    result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert result.returncode == 1, result.stdout
    (line,) = errors(result)
    problem = f"its path 'wheels/{beta.name}' names another file than {alpha.name}"
    assert line == f"error: {lock}: alpha 1.0: {problem}", line
    assert snapshot(target.parent.parent) == before


@pytest.mark.parametrize(
    ("name", "version", "problem"),
    [
        ("beta", "2.0", "is a wheel of alpha, not of beta"),
        ("alpha", "9.9", "is version 1.0, not 9.9"),
    ],
)
def test_an_archive_wheel_of_another_project_or_version_is_refused(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, name: str, version: str, problem: str
) -> None:
    """packaging checks a `wheels` entry's file name against its package, not an
    `archive`'s: a lock naming beta 2.0 installed alpha 1.0 (uv refuses it)."""
    alpha = wheels / ALPHA.filename
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "hand"\n\n[[packages]]\n'
        f'name = "{name}"\nversion = "{version}"\n'
        f'archive = {{ path = "wheels/{alpha.name}", size = {alpha.stat().st_size},'
        f' hashes = {{ sha256 = "{sha256_of(alpha)}" }} }}\n'
    )
    before = snapshot(target.parent.parent)
    result = cli("install", "--lock", lock, "--python", target)
    assert errors(result) == [
        f"error: {lock}: {name} {version}: its archive {alpha.name} {problem}"
    ]
    assert snapshot(target.parent.parent) == before


def test_a_newer_minor_lock_version_is_a_warning_of_the_plan(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """packaging logs it: it reached stderr as a bare line naming no file."""
    alpha = wheels / ALPHA.filename
    entry = wheel_entry(alpha, path="wheels/" + alpha.name)
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    lock.write_text(lock.read_text().replace('lock-version = "1.0"', 'lock-version = "1.5"'))
    result = cli("plan", "--lock", lock, "--python", target)
    assert (result.returncode, result.stderr) == (0, "")
    assert f"Warnings:\n  {lock}: pylock minor version 1.5 is not supported\n" in result.stdout


def test_a_lock_size_below_zero_is_refused_as_the_lock_s_mistake(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    alpha = wheels / ALPHA.filename
    entry = wheel_entry(alpha, path="wheels/" + alpha.name, size=-5)
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert errors(result) == [f"error: {lock}: alpha 1.0: size -5 is negative"]


@pytest.mark.parametrize("how", ["path", "file URL"])
@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("folder", "cannot read wheel: it is a folder, not a file"),
        ("fifo", "cannot read wheel: it is a named pipe (FIFO), not a file"),
        ("device", "cannot read wheel: it is a device or socket, not a regular file"),
    ],
)
def test_a_lock_path_that_is_no_file_is_refused_for_what_it_is(
    kind: str, problem: str, how: str, tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """A file URL is read as the path it names is: through urllib, a FIFO was waited on
    forever and /dev/zero copied into the download folder up to the size limit."""
    beta = wheels / BETA.filename
    held = tmp_path / "held" / beta.name
    held.parent.mkdir()
    if kind == "folder":
        held.mkdir()
    elif kind == "fifo":
        os.mkfifo(held)  # read without a writer, it would never end
    else:
        held.symlink_to("/dev/zero")
    where = {"path": f"held/{beta.name}"} if how == "path" else {"url": held.as_uri()}
    entry = wheel_entry(beta, **where)  # type: ignore[arg-type]
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
    result = cli("plan", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert errors(result) == [f"error: {held}: {problem}"]


@pytest.mark.parametrize("url", ["file://elsewhere/w/{}", "file:w/{}"])
def test_a_file_url_of_no_local_absolute_path_is_refused_naming_the_lock(
    tmp_path: Path, wheels: Path, url: str
) -> None:
    beta = wheels / BETA.filename
    entry = wheel_entry(beta, url=url.format(beta.name))
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("beta", "2.0", wheels=(entry,))])
    tags = [str(tag) for tag in sys_tags()]
    with pytest.raises(Refused) as refused:
        lockfile.select(lock.read_bytes(), str(lock), default_environment(), tags)
    message = f"beta 2.0: file URL {entry['url']!r} names no absolute path on this machine"
    assert refused.value.problems == (Problem(str(lock), message),)


def test_an_sdist_only_package_is_refused(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    sdist = tmp_path / "gamma-1.0.tar.gz"
    sdist.write_bytes(b"not really a tarball")
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [
            LockPackage(
                "alpha",
                wheels=(wheel_entry(wheels / ALPHA.filename, path="wheels/" + ALPHA.filename),),
            ),
            LockPackage(
                "gamma",
                sdist={"path": sdist.name, "hashes": {"sha256": sha256_of(sdist)}},
            ),
        ],
    )
    before = snapshot(target.parent.parent)
    result = cli("install", "--lock", lock, "--python", target)
    assert result.returncode == 1
    (line,) = errors(result)
    assert line.startswith(f"error: {lock}: gamma 1.0 has only a source distribution")
    assert "wheels only" in line
    assert snapshot(target.parent.parent) == before


def test_markers_extras_and_tags_are_the_targets(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """A marker that excludes a package skips it; an extra selects one; of two wheels the
    one the target's tags accept is chosen."""
    alpha = wheels / ALPHA.filename
    beta = wheels / BETA.filename
    foreign = build_wheel(
        WheelSpec("beta", version="2.0", tag="cp27-cp27m-win32", files={"beta/x.py": b""}), wheels
    )
    delta = build_wheel(WheelSpec("delta", files={"delta.py": b""}), wheels)
    lock = write_pylock(
        tmp_path / "pylock.toml",
        [
            LockPackage(
                "alpha",
                marker="sys_platform == 'no-such-platform'",
                wheels=(wheel_entry(alpha, path=str(alpha)),),
            ),
            LockPackage(
                "beta",
                "2.0",
                marker="python_version >= '3'",
                wheels=(wheel_entry(foreign, path=str(foreign)), wheel_entry(beta, path=str(beta))),
            ),
            LockPackage(
                "delta", marker="'tools' in extras", wheels=(wheel_entry(delta, path=str(delta)),)
            ),
        ],
        extras=["tools"],
    )
    result = cli("plan", "--lock", lock, "--python", target, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(d["name"], d["wheel"]) for d in plan["distributions"]] == [("beta", beta.name)]

    result = cli("plan", "--lock", lock, "--python", target, "--json", "--extra", "tools")
    assert result.returncode == 0, result.stderr
    assert [d["name"] for d in json.loads(result.stdout)["distributions"]] == ["beta", "delta"]


@pytest.mark.parametrize(
    ("lock_text", "message"),
    [
        ('lock-version = "1.0"\ncreated-by = "x"\npackages = [\n', "invalid TOML"),
        (
            f'lock-version = "1.0"\ncreated-by = "x"\npackages = []\nsize = {"1" * 5000}\n',
            "invalid TOML: a number has more digits than can be read",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\npackages = []\nx = '
            + "[" * 50_000
            + "]" * 50_000
            + "\n",
            "invalid TOML: nested too deeply",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "only"\n'
            f'version = "{"1" * 5000}"\n',
            "invalid lock file: a number of 5000 digits, too long to read",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "only"\n'
            f'archive = {{ path = "only-{"1" * 5000}-py3-none-any.whl",'
            ' hashes = { sha256 = "00" } }\n',
            "has a version too long to read",
        ),
        ('lock-version = "2.0"\ncreated-by = "x"\npackages = []\n', "not supported"),
        (
            'lock-version = "1.0"\ncreated-by = "x"\nrequires-python = "<3"\npackages = []\n',
            "does not satisfy the Python version requirement",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "only"\n'
            'wheels = [{ name = "only-1.0-cp27-cp27m-win32.whl", path = "x.whl",'
            ' hashes = { sha256 = "00" } }]\n',
            "No wheel found matching the provided tags",
        ),
        # A package marker sees `extras` (a set); `extra` has no value in a lock file.
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "only"\n'
            "marker = \"extra == 'tools'\"\n"
            'wheels = [{ name = "only-1.0-py3-none-any.whl", path = "x.whl",'
            ' hashes = { sha256 = "00" } }]\n',
            "invalid lock file: a marker uses 'extra', which has no value there",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n'
            "environments = [\"'tools' in extras\"]\npackages = []\n",
            "invalid lock file: a marker uses 'extras', which has no value there",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "only"\n'
            "marker = \"extras == 'tools'\"\n"
            'wheels = [{ name = "only-1.0-py3-none-any.whl", path = "x.whl",'
            ' hashes = { sha256 = "00" } }]\n',
            "invalid lock file: a marker cannot be evaluated: Set-valued marker 'extras'",
        ),
        # packaging reads a version's numbers only to compare them, with int().
        (
            'lock-version = "1.0"\ncreated-by = "x"\n'
            f'requires-python = "=={"1" * 5000}"\npackages = []\n',
            "invalid lock file: a marker or requires-python compares a version too long",
        ),
        (
            'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "only"\n'
            f"marker = \"python_version > '{'1' * 5000}'\"\n"
            'wheels = [{ name = "only-1.0-py3-none-any.whl", path = "x.whl",'
            ' hashes = { sha256 = "00" } }]\n',
            "invalid lock file: a marker or requires-python compares a version too long",
        ),
    ],
)
def test_a_lock_the_target_cannot_use_is_refused(
    tmp_path: Path, target: Path, cli: Cli, lock_text: str, message: str
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(lock_text)
    result = cli("plan", "--lock", lock, "--python", target)
    assert result.returncode == 1
    (line,) = errors(result)
    assert line.startswith(f"error: {lock}: ")
    assert message in line


@pytest.mark.parametrize(
    "name", ["lock.toml", "pylock.a.b.toml", "pylock..toml", "pylock.toml.bak"]
)
def test_a_lock_named_outside_the_spec_is_refused(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, name: str
) -> None:
    entry = wheel_entry(wheels / ALPHA.filename, path=str(wheels / ALPHA.filename))
    lock = write_pylock(tmp_path / name, [LockPackage("alpha", wheels=(entry,))])
    result = cli("plan", "--lock", lock, "--python", target)
    assert result.returncode == 1
    assert errors(result) == [
        f"error: {lock}: not a lock file name: PEP 751 names one pylock.toml or pylock.NAME.toml"
    ]


@pytest.mark.parametrize("named", ["/dev/stdin", "/dev/fd/{}", "/proc/self/fd/{}"])
def test_a_lock_through_a_pipe_is_read_whatever_the_pipe_is_called(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli, named: str
) -> None:
    """`plan --lock <(cat pylock.toml)` and `cat pylock.toml | plan --lock /dev/stdin`,
    as README promises: a pipe has no name the user chose, so PEP 751's are not asked
    of it (a file is still held to them, above)."""
    entry = wheel_entry(wheels / ALPHA.filename, path=str(wheels / ALPHA.filename))
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    read_end, write_end = os.pipe()
    os.write(write_end, lock.read_bytes())  # far below a pipe's buffer: nothing blocks
    os.close(write_end)
    try:
        result = cli("plan", "--lock", named.format(read_end), "--python", target, stdin=read_end)
    finally:
        os.close(read_end)
    assert result.returncode == 0, result.stderr
    assert "alpha 1.0" in result.stdout


def test_a_piped_lock_s_relative_path_is_refused_for_want_of_a_folder(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """A relative `path` is relative to the lock's folder; read through a pipe, the
    lock has none (/dev/fd is not where its wheels are), and the refusal says so."""
    shutil.copy(wheels / ALPHA.filename, tmp_path / ALPHA.filename)
    entry = wheel_entry(wheels / ALPHA.filename, path=ALPHA.filename)
    lock = write_pylock(tmp_path / "pylock.toml", [LockPackage("alpha", wheels=(entry,))])
    assert cli("plan", "--lock", lock, "--python", target).returncode == 0  # as a file
    read_end, write_end = os.pipe()
    os.write(write_end, lock.read_bytes())
    os.close(write_end)
    try:
        result = cli("plan", "--lock", "/dev/stdin", "--python", target, stdin=read_end)
    finally:
        os.close(read_end)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: /dev/stdin: alpha 1.0: path {ALPHA.filename!r} is relative to the lock's"
        " folder, and a lock read through a pipe has none; give the lock as a file"
    ]


def test_a_lock_named_for_its_purpose_is_read(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    entry = wheel_entry(wheels / ALPHA.filename, path=str(wheels / ALPHA.filename))
    lock = write_pylock(tmp_path / "pylock.dev-1.toml", [LockPackage("alpha", wheels=(entry,))])
    result = cli("plan", "--lock", lock, "--python", target)
    assert result.returncode == 0, result.stderr


def test_wheels_and_a_lock_together_are_a_usage_error(
    tmp_path: Path, wheels: Path, cli: Cli
) -> None:
    result = cli("plan", "--lock", tmp_path / "pylock.toml", wheels / ALPHA.filename)
    assert result.returncode == 2
    result = cli("plan", wheels / ALPHA.filename, "--extra", "x")
    assert result.returncode == 2


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(min_size=1, max_size=200),
    change=st.one_of(
        st.none(),
        st.tuples(st.just("flip"), st.integers(min_value=0), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.integers(min_value=0), st.just(0)),
        st.tuples(st.just("grow"), st.integers(min_value=1, max_value=5), st.just(0)),
    ),
    give_size=st.booleans(),
)
def test_the_lock_check_accepts_exactly_the_locked_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
    change: tuple[str, int, int] | None,
    give_size: bool,
) -> None:
    folder = tmp_path_factory.mktemp("check")
    wheel = folder / "pkg-1.0-py3-none-any.whl"
    actual = bytearray(data)
    if change is not None:
        kind, where, value = change
        if kind == "flip":
            actual[where % len(actual)] ^= value
        elif kind == "cut":
            del actual[where % len(actual) :]
        else:
            actual += b"\0" * where
    wheel.write_bytes(bytes(actual))
    # Copied into a --wheel-dir, as a download is stored: checked as it is written.
    locked = LockedWheel(
        package="pkg",
        filename=wheel.name,
        path=str(wheel),
        url=None,
        size=len(data) if give_size else None,
        hashes={"sha256": hashlib.sha256(data).hexdigest()},
    )
    downloads = folder / "downloads"
    if change is None:
        (fetched,) = fetch.fetch([locked], str(downloads))
        assert Path(fetched.path).read_bytes() == data
        assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    else:
        with pytest.raises(Refused):
            fetch.fetch([locked], str(downloads))
        assert not downloads.exists()
    shutil.rmtree(folder)


def test_pip_lock_output_plans_and_applies(
    tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """A lock made by pip itself (offline, from the test's own wheels) is accepted."""
    alpha_needs_beta = WheelSpec(
        "alpha", version="1.1", files={"alpha/__init__.py": b"import beta\n"}, requires=("beta",)
    )
    build_wheel(alpha_needs_beta, wheels)
    lock = tmp_path / "pylock.toml"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "lock",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheels),
            "alpha==1.1",
            "-o",
            str(lock),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    result = cli("install", "--lock", lock, "--python", target, "--wheel-dir", tmp_path / "dl")
    assert result.returncode == 0, result.stderr
    imported = subprocess.run(
        [target, "-c", "import alpha, beta; print(beta.VALUE)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout == "2\n"


# What a lock's fields are made of here: values that have broken a parser (numbers past
# int()'s 4,300 digits, comparisons packaging cannot make, names that are paths) among
# ordinary ones, each field ordinary half the time so that most locks get past the
# first refusal. A string is written quoted, a number as it is.
def _ordinary_or(ordinary: str, *odd: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(ordinary), st.sampled_from(odd))


_LOCK_NAMES = _ordinary_or("pkg", "pkg-two", "Pkg_Two", "a/b", "")
_LOCK_VERSIONS = _ordinary_or("1.0", "0.1.post2", "1" * 5000, "\u0661", "x", "")
_LOCK_MARKERS = _ordinary_or(
    "python_version >= '3'",
    "python_version ~= '3'",
    f"python_version > '{'1' * 5000}'",
    "extra == 'x'",
    "'x' in extras",
    "'dev' in dependency_groups",
    "os_name == 'nt'",
    "no_such_name == '1'",
)
_LOCK_SPECIFIERS = _ordinary_or(">=3", "~=3", f"=={'1' * 5000}", "<3", "nonsense")
_LOCK_SIZES = _ordinary_or("12", "0", "-1", str(10**30), "1" * 5000, "1.5", '"12"')


@st.composite
def _lock_texts(draw: st.DrawFn) -> str:
    lines = ['lock-version = "1.0"', 'created-by = "x"']
    if draw(st.booleans()):
        lines.append(f"requires-python = {json.dumps(draw(_LOCK_SPECIFIERS))}")
    if draw(st.booleans()):
        lines.append(f"environments = {json.dumps([draw(_LOCK_MARKERS)])}")
    if draw(st.booleans()):
        lines += ['extras = ["x"]', 'dependency-groups = ["dev"]', 'default-groups = ["dev"]']
    for _ in range(draw(st.integers(0, 2))):
        name, version = draw(_LOCK_NAMES), draw(_LOCK_VERSIONS)
        filename = draw(
            _ordinary_or(f"{name}-{version}-py3-none-any.whl", "x.whl", "..", f"{name}.tar.gz")
        )
        lines += ["[[packages]]", f"name = {json.dumps(name)}"]
        if draw(st.booleans()):
            lines.append(f"version = {json.dumps(version)}")
        if draw(st.booleans()):
            lines.append(f"marker = {json.dumps(draw(_LOCK_MARKERS))}")
        if draw(st.booleans()):
            lines.append(f"requires-python = {json.dumps(draw(_LOCK_SPECIFIERS))}")
        where = draw(st.sampled_from(["path", "url"]))
        place = filename if where == "path" else f"https://example.invalid/{filename}"
        source = f"{where} = {json.dumps(place)}, hashes = {{ sha256 = {json.dumps('0' * 64)} }}"
        if draw(st.booleans()):
            source += f", size = {draw(_LOCK_SIZES)}"
        if draw(st.booleans()):
            lines.append(f"wheels = [{{ name = {json.dumps(filename)}, {source} }}]")
        else:
            lines.append(f"archive = {{ {source} }}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(
    text=_lock_texts(),
    extras=st.sampled_from([(), ("x",)]),
    groups=st.sampled_from([None, ("dev",)]),
)
def test_any_lock_selects_or_is_refused_and_never_crashes(
    text: str, extras: tuple[str, ...], groups: tuple[str, ...] | None
) -> None:
    """Whatever a lock holds, selecting from it gives wheels or a refusal naming the lock."""
    lock = "/locks/pylock.toml"
    try:
        selection = lockfile.select(
            text.encode(), lock, default_environment(), ["py3-none-any"], extras, groups
        )
    except Refused as refused:
        assert refused.problems
        assert all(problem.subject == lock for problem in refused.problems)
        return
    assert all(wheel.filename.endswith(".whl") for wheel in selection.wheels)
