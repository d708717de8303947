"""Image builds: staged roots, portable plans, byte-reproducible trees, and `verify`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applier.apply import apply_plan
from applier.options import Options
from planner import verify
from planner.build import Request, make_plan
from planner.errors import Refused
from planner.hashing import encode_hash
from planner.plan import Plan
from planner.target import TargetInfo, probe
from tests.conftest import REPO, make_env, run_cli, snapshot
from tests.deeptrees import DEPTH, LONG, LONG_DEPTH, DeepTree, refuse_listing
from tests.hostile import recompute_digest
from tests.imagetools import tree_digest
from tests.plannertools import SCHEMES
from tests.txsupport import sigterm_at
from tests.wheelfactory import Member, WheelSpec, build_wheel, record_hash

Cli = Callable[..., subprocess.CompletedProcess[str]]
EPOCH = "1600000000"

SPECS = (
    WheelSpec(
        "alpha",
        files={
            "alpha/__init__.py": b"def main():\n    print('alpha says hi')\n",
            "alpha/sub/mod.py": b"X = 1\n",
            "alpha/data.bin": bytes(range(256)) * 50,
            "alpha-1.0.data/scripts/alpha-tool": Member(
                "alpha-1.0.data/scripts/alpha-tool",
                b"#!python\nimport alpha\nalpha.main()\n",
                mode=0o755,
            ),
            "alpha-1.0.data/data/share/alpha/readme.txt": b"shared data\n",
        },
        entry_points="[console_scripts]\nalpha-cli = alpha:main\n",
    ),
    WheelSpec(
        "beta",
        files={"beta/__init__.py": b"VALUE = 2\n", "shared/__init__.py": b"# shared\n"},
    ),
    WheelSpec("gamma", files={"gamma.py": b"G = 3\n", "shared/__init__.py": b"# shared\n"}),
)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    for spec in SPECS:
        build_wheel(spec, folder)
    return folder


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), result.stderr
    return lines


def plan_into(cli: Cli, wheels: Path, target: Path, plan: Path) -> None:
    result = cli("plan", wheels, "--python", target, "-o", plan)
    assert result.returncode == 0, result.stderr


def staged(root: Path, prefix: Path) -> Path:
    return root / str(prefix).lstrip("/")


@pytest.fixture
def plan(tmp_path: Path, target: Path, wheels: Path, cli: Cli) -> Path:
    """The example wheels planned for the fresh venv, as `tmp_path/plan.json`."""
    path = tmp_path / "plan.json"
    plan_into(cli, wheels, target, path)
    return path


@pytest.fixture
def env(target: Path) -> Path:
    """The target's prefix (the fresh venv folder)."""
    return target.parent.parent


def site(prefix: Path) -> Path:
    (found,) = (prefix / "lib").glob("python3.*/site-packages")
    return found


# --root --------------------------------------------------------------------------


def test_root_stages_files_that_name_the_real_prefix(
    plan: Path, tmp_path: Path, target: Path, env: Path, cli: Cli
) -> None:
    before = snapshot(env)
    root = tmp_path / "root"
    result = cli("apply", plan, "--root", root, "--compile-bytecode")
    assert result.returncode == 0, result.stderr
    assert snapshot(env) == before, "apply --root wrote into the real prefix"

    base = staged(root, env)
    assert sorted(p.name for p in root.iterdir()) == [str(env).lstrip("/").split("/")[0]]
    for script in ("alpha-cli", "alpha-tool"):
        first = (base / "bin" / script).read_bytes().splitlines()[0]
        assert first == b"#!" + str(target).encode(), first
    for record in site(base).glob("*.dist-info/RECORD"):
        text = record.read_text()
        assert str(root) not in text
        assert str(tmp_path) not in text, "RECORD paths must be relative"
    pyc = next(site(base).glob("alpha/__pycache__/__init__.*.pyc"))
    # The bytecode names the source by its real path, where the image will have it.
    assert str(site(env) / "alpha" / "__init__.py").encode() in pyc.read_bytes()
    assert str(root).encode() not in pyc.read_bytes()
    assert not (base / ".wheelplan-journal").exists()

    # Copied into place as is (what `COPY /stage/ /` does), the environment works.
    shutil.copytree(base, env, symlinks=True, dirs_exist_ok=True)
    run = subprocess.run([env / "bin" / "alpha-cli"], capture_output=True, text=True, check=True)
    assert run.stdout == "alpha says hi\n"
    result = cli("verify", "--python", target)
    assert result.returncode == 0, result.stderr


DEBIAN_LIBRARY = "local/lib/python3.11/dist-packages"


def debian_plan(tmp_path: Path) -> tuple[Path, Plan]:
    """A wheel of a module and a header planned for Debian's /usr/bin/python3: prefix
    /usr, data `local`, headers `include/python3.11`, so no scheme is the prefix itself."""
    prefix = tmp_path / "usr"
    prefix.mkdir()
    target = TargetInfo(
        interpreter="/usr/bin/python3",
        prefix=str(prefix),
        python_version="3.11",
        schemes={
            "purelib": DEBIAN_LIBRARY,
            "platlib": DEBIAN_LIBRARY,
            "scripts": "local/bin",
            "data": "local",
            "headers": "include/python3.11",
        },
        tags=("py3-none-any",),
        markers={},
        installed=(),
    )
    spec = WheelSpec("hdr", files={"hdr.py": b"x\n", "hdr-1.0.data/headers/h.h": b"int x;\n"})
    return prefix, make_plan(Request(wheels=(str(build_wheel(spec, tmp_path / "wheels")),)), target)


def test_headers_outside_the_data_folder_are_staged_with_the_folders_above_them(
    tmp_path: Path,
) -> None:
    """`include` is in no scheme, yet the apply must make it: planner and applier agree."""
    prefix, plan = debian_plan(tmp_path)
    assert "include" in plan.directories
    root = tmp_path / "stage"
    apply_plan(plan, "plan.json", Options(jobs=1, root=str(root), confirm_target=False))
    base = staged(root, prefix)
    assert (base / "include" / "python3.11" / "hdr" / "h.h").read_bytes() == b"int x;\n"
    assert (base / DEBIAN_LIBRARY / "hdr.py").read_bytes() == b"x\n"


def test_a_path_beside_a_scheme_folder_is_outside_it(tmp_path: Path) -> None:
    """`local-old/` is beside the data folder `local/`, not in it, though its name
    begins the same: a staged apply (where no interpreter vouches for the plan) refuses
    a plan edited to write there, and stages nothing."""
    _, plan = debian_plan(tmp_path)
    old, new = f"{DEBIAN_LIBRARY}/hdr.py", "local-old/hdr.py"
    edited = attrs.evolve(
        plan,
        files=tuple(attrs.evolve(e, path=new) if e.path == old else e for e in plan.files),
        units=tuple(
            attrs.evolve(unit, paths=tuple(new if path == old else path for path in unit.paths))
            for unit in plan.units
        ),
        directories=(*plan.directories, "local-old"),
    )
    root = tmp_path / "stage"
    with pytest.raises(Refused) as refused:
        apply_plan(edited, "plan.json", Options(jobs=1, root=str(root), confirm_target=False))
    outside = "is outside the environment's scheme directories"
    assert sorted(map(str, refused.value.problems)) == [
        f"plan.json: destination 'local-old/hdr.py' {outside}",
        f"plan.json: directory 'local-old' {outside}",
    ]
    assert not root.exists()


def test_root_refuses_a_symlink_that_leads_out_of_the_staging_folder(
    plan: Path, tmp_path: Path, target: Path, env: Path, cli: Cli
) -> None:
    """ROOT/tmp -> /tmp would stage a plan for /tmp/.../env into that very environment."""
    before = snapshot(env)
    root = tmp_path / "root"
    root.mkdir()
    top = str(env).lstrip("/").split("/")[0]
    (root / top).symlink_to("/" + top)
    staged_env = root / str(env).lstrip("/")
    expected = f"error: {staged_env}: leads out of the staging folder {root} through a symlink\n"
    for command in (
        ("apply", plan, "--root", root),
        ("recover", "--python", target, "--root", root),
        ("verify", "--python", target, "--root", root),
    ):
        result = cli(*command)
        assert (result.returncode, result.stderr) == (1, expected), command
    assert snapshot(env) == before


@pytest.mark.parametrize("below", [False, True], ids=["root", "below"])
@pytest.mark.parametrize("kind", ["file", "link-to-file", "link-to-nothing"])
def test_no_folder_on_the_way_to_the_root_is_named_so_by_every_command(
    plan: Path,
    tmp_path: Path,
    target: Path,
    env: Path,
    wheels: Path,
    cli: Cli,
    kind: str,
    below: bool,
) -> None:
    """apply said 'ROOT/tmp: Not a directory', verify and recover that the staged
    environment 'does not exist', and a dry run that nothing was applied under it, of a
    --root that is a file; of a file or a symlink to nothing above the root, every
    command quoted an errno ('Not a directory', 'No such file or directory'). What is
    there is left as it was."""
    given = tmp_path / "a-file"
    if kind == "file":
        given.write_bytes(b"mine")
    else:
        given.symlink_to(tmp_path / ("mine" if kind == "link-to-file" else "nowhere"))
        if kind == "link-to-file":
            (tmp_path / "mine").write_bytes(b"mine")
    root = given / "sub" if below else given
    what = "a symlink whose target does not exist" if kind == "link-to-nothing" else "a file"
    expected = f"error: {given}: is {what}, not a folder: --root names {root if below else 'it'}"
    before = snapshot(tmp_path)
    for command in (
        ("apply", plan, "--root", root),
        ("install", wheels / "beta-1.0-py3-none-any.whl", "--python", target, "--root", root),
        ("install", wheels, "--python", target, "--root", root, "--dry-run"),
        ("uninstall", "beta", "--python", target, "--root", root),
        ("verify", "--python", target, "--root", root),
        ("recover", "--python", target, "--root", root),
        ("recover", "--prefix", env, "--root", root),
        ("recover", "--python", tmp_path / "gone" / "bin" / "python", "--root", root),
    ):
        result = cli(*command)
        assert (result.returncode, errors(result)) == (1, [expected]), command
    assert snapshot(tmp_path) == before


def test_uninstall_root_removes_only_what_the_environment_holds(
    tmp_path: Path, target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    """As the README says: uninstall --root plans against the real environment, so
    what only the staged tree holds is not installed for it and the staged prefix is
    refused; the staged prefix named as the folder, without --root, is uninstalled."""
    root = tmp_path / "root"
    beta = wheels / "beta-1.0-py3-none-any.whl"
    installed = cli("install", beta, "--python", target, "--root", root, "-q")
    assert installed.returncode == 0, installed.stderr
    before = snapshot(root)
    result = cli("uninstall", "beta", "--python", target, "--root", root)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "warning: beta: not installed in the target; nothing to remove",
            f"error: {staged(root, env)}: the staged prefix holds other distributions than"
            " the environment the plan was made for (not in the planned environment:"
            " beta-1.0.dist-info); to remove what the staged prefix holds, name it"
            f" without --root: --prefix {staged(root, env)} --python {target}",
        ],
    )
    assert snapshot(root) == before
    way_out = shlex.split(result.stderr.rpartition("without --root: ")[2])
    removed = cli("uninstall", "beta", *way_out)
    assert removed.returncode == 0, removed.stderr
    assert [path for path, (kind, _) in snapshot(root).items() if kind != "dir"] == []


def test_uninstall_root_of_a_target_folder_names_the_staged_folder_as_one(
    tmp_path: Path, wheels: Path, cli: Cli
) -> None:
    """A staged --target folder is laid out as one, flat: the way out of its refused
    uninstall names it with --target, as the folder it is, not as a --prefix, and
    quotes what a shell would split."""
    root, folder = tmp_path / "root", tmp_path / "my lib"
    target = make_env(tmp_path / "my env")
    beta = wheels / "beta-1.0-py3-none-any.whl"
    given = ["--python", target, "--target", folder, "--root", root]
    installed = cli("install", beta, *given, "-q")
    assert installed.returncode == 0, installed.stderr
    before = snapshot(root)
    result = cli("uninstall", "beta", *given)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "warning: beta: not installed in the target; nothing to remove",
            f"error: {staged(root, folder)}: the staged prefix holds other distributions than"
            " the environment the plan was made for (not in the planned environment:"
            " beta-1.0.dist-info); to remove what the staged prefix holds, name it"
            " without --root: "
            + shlex.join(["--target", str(staged(root, folder)), "--python", str(target)]),
        ],
    )
    assert snapshot(root) == before
    way_out = shlex.split(result.stderr.rpartition("without --root: ")[2])
    removed = cli("uninstall", "beta", *way_out)
    assert removed.returncode == 0, removed.stderr
    assert [path for path, (kind, _) in snapshot(root).items() if kind != "dir"] == []


@pytest.mark.parametrize("quiet", [[], ["-q"]], ids=["review", "quiet"])
@pytest.mark.parametrize(
    "command",
    [["uninstall", "beta"], ["install", "gamma-1.0-py3-none-any.whl"]],
    ids=["uninstall", "install"],
)
def test_a_root_dry_run_is_refused_as_its_real_run_is(
    tmp_path: Path,
    target: Path,
    wheels: Path,
    cli: Cli,
    command: list[str],
    quiet: list[str],
) -> None:
    """A dry run tells what the real run would: into a staged prefix that holds what
    the planned environment does not, both are refused alike, the dry run reading the
    staged tree only."""
    root = tmp_path / "root"
    beta = wheels / "beta-1.0-py3-none-any.whl"
    installed = cli("install", beta, "--python", target, "--root", root, "-q")
    assert installed.returncode == 0, installed.stderr
    before = snapshot(root)
    given = [str(wheels / part) if part.endswith(".whl") else part for part in command]
    arguments = [*given, "--python", target, "--root", root, *quiet]
    real = cli(*arguments)
    dry = cli(*arguments, "--dry-run")
    assert real.returncode == 1
    assert "the staged prefix holds other distributions" in real.stderr
    assert (dry.returncode, dry.stderr, dry.stdout) == (real.returncode, real.stderr, "")
    assert snapshot(root) == before


def test_a_root_dry_run_names_the_staged_prefix(
    tmp_path: Path, target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    """A dry run under --root says it applied nothing where the real run writes: the
    staged prefix, not the environment the plan is for."""
    root = tmp_path / "root"
    beta = wheels / "beta-1.0-py3-none-any.whl"
    result = cli("install", beta, "--python", target, "--root", root, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"dry run: nothing applied to {staged(root, env)} (without --dry-run, this plan is applied)"
    )
    assert not root.exists()


@pytest.mark.parametrize("interpreter", ["/bin/false", "/bin/true", "/nonexistent/bin/python"])
def test_root_refuses_bytecode_when_the_interpreter_gives_no_cache_tag(
    interpreter: str, plan: Path, tmp_path: Path, cli: Cli
) -> None:
    """With --root the plan's interpreter is not confirmed: bytecode needs its cache tag,
    and one that gives none (or cannot run) is refused before anything is staged."""
    data = json.loads(plan.read_text())
    data["target"]["interpreter"] = interpreter
    recompute_digest(data)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n")
    root = tmp_path / "root"
    result = cli("apply", edited, "--root", root, "--compile-bytecode")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: {interpreter}: cannot compile bytecode: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert not root.exists()


def test_a_staged_apply_rolled_back_leaves_no_folders_behind(
    plan: Path, tmp_path: Path, cli: Cli
) -> None:
    """As a refused one leaves none: a failed write or an interrupt rolls the apply
    back, and the staging folders it made, empty again, go too."""
    root = tmp_path / "root"
    failed = cli("apply", plan, "--root", root, env={"WHEELPLAN_FAULT": "error:6"})
    assert failed.returncode == 1, failed.stderr
    assert "rolled back" in failed.stderr, failed.stderr
    assert not root.exists()

    assert sigterm_at(plan, 6, "--root", str(root), "--jobs", "1") == (1, "error: interrupted\n")
    assert not root.exists()


def test_root_keeps_the_journal_and_lock_under_the_staged_prefix(
    plan: Path, tmp_path: Path, target: Path, env: Path, cli: Cli
) -> None:
    root = tmp_path / "staged root"  # a space, for the hint the refusal gives
    base = staged(root, env)
    before = snapshot(env)

    # Killed mid-transaction: the journal is in the staged prefix, not the real one.
    killed = cli("apply", plan, "--root", root, "--jobs", "1", env={"WHEELPLAN_FAULT": "kill:6"})
    assert killed.returncode != 0
    assert (base / ".wheelplan-journal").is_dir()
    assert snapshot(env) == before
    # The command the refusal gives (and verify's), pasted into a shell anywhere, is the
    # one that recovers: the root given relative to the working folder is named whole.
    relative = os.path.relpath(root, REPO)
    refused = cli("apply", plan, "--root", relative)
    assert refused.returncode == 1
    assert "journal" in errors(refused)[0]
    hint = shlex.split(errors(refused)[0].split("`")[1])
    assert hint == ["wheelplan", "recover", "--prefix", str(env), "--root", str(root)]
    verified = cli("verify", "--python", target, "--root", relative)
    assert errors(verified)[0].split("`")[1] == errors(refused)[0].split("`")[1]
    result = cli(*hint[1:])
    assert result.returncode == 0, result.stderr
    # The staged prefix is the one recovered, and the one named.
    assert result.stdout.startswith(f"{base}: rolled back")
    assert not root.exists()  # the folders the apply made for the staged prefix went too

    # The one lock is on the staged prefix: held there, it stops the apply; held on
    # the real prefix, it does not.
    base.mkdir(parents=True)
    for locked, expected in ((base, 1), (env, 0)):
        fd = os.open(locked, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            result = cli("apply", plan, "--root", root, "--quiet")
        finally:
            os.close(fd)
        assert result.returncode == expected, result.stderr
        if expected:
            assert "another wheelplan apply" in errors(result)[0]
    assert snapshot(env) == before


def test_a_killed_staging_apply_is_recovered_once_its_interpreter_is_gone(
    tmp_path: Path, wheels: Path, cli: Cli
) -> None:
    """`apply --root` does not run the plan's interpreter, which need not exist on the
    machine that stages: neither does the recovery it asks for."""
    folder = tmp_path / "venv"
    python = make_env(folder)
    plan = tmp_path / "plan.json"
    plan_into(cli, wheels, python, plan)
    shutil.rmtree(folder)
    root = tmp_path / "root"
    base = staged(root, folder)
    kill = {"WHEELPLAN_FAULT": "kill:6"}
    assert cli("apply", plan, "--root", root, "--jobs", "1", env=kill).returncode != 0
    refused = cli("apply", plan, "--root", root)
    assert refused.returncode == 1
    hint = shlex.split(errors(refused)[0].split("`")[1])
    assert hint == ["wheelplan", "recover", "--prefix", str(folder), "--root", str(root)]
    # No Python on PATH, none active, no .venv near: the folder is all it needs.
    alone = run_cli(*hint[1:], env={"PATH": "", "VIRTUAL_ENV": ""}, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout == f"{base}: rolled back\n"
    assert not any(path.is_file() for path in base.rglob("*"))

    # Named by the interpreter that is gone, the staged journal on its path says where.
    assert cli("apply", plan, "--root", root, "--jobs", "1", env=kill).returncode != 0
    recovered = cli("recover", "--python", python, "--root", root)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout == f"{base}: rolled back\n"
    stray = cli("recover", "--python", python, "--root", tmp_path / "elsewhere")
    assert errors(stray) == [
        f"error: {python}: the target interpreter does not exist, and no interrupted apply"
        f" staged for it under {tmp_path / 'elsewhere'} was found on its path; name its"
        " prefix with --prefix DIR"
    ]
    assert not (tmp_path / "elsewhere").exists()
    # Verifying needs its scheme paths: the error says how to give them.
    assert cli("apply", plan, "--root", root, "--quiet").returncode == 0
    unchecked = cli("verify", "--python", folder, "--root", root)
    assert errors(unchecked) == [
        f"error: {folder}: the target interpreter does not exist; to check a tree staged"
        f" for it under {root}, name the staged prefix with --prefix DIR (and --python, a"
        " Python of its version)"
    ]
    checked = cli("verify", "--prefix", folder, "--python", sys.executable, "--root", root)
    assert checked.returncode == 0, checked.stderr


def test_recovering_a_killed_apply_removes_the_folders_it_made(
    plan: Path, tmp_path: Path, target: Path, wheels: Path, cli: Cli
) -> None:
    """As a rolled back apply leaves none behind, so does the recovery of a killed one:
    the folders it made for the prefix, and only those, left empty."""
    kill = {"WHEELPLAN_FAULT": "kill:6"}
    root = tmp_path / "root"
    assert cli("apply", plan, "--root", root, "--jobs", "1", env=kill).returncode != 0
    refused = cli("apply", plan, "--root", root)
    recovered = cli(*shlex.split(errors(refused)[0].split("`")[1])[1:])
    assert recovered.returncode == 0, recovered.stderr
    assert not root.exists()
    # A staging folder that was there stays, and so does what was put in it by hand.
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "note").write_text("mine\n")
    before = snapshot(root)
    assert cli("apply", plan, "--root", root, "--jobs", "1", env=kill).returncode != 0
    assert cli("recover", "--python", target, "--root", root).returncode == 0
    assert snapshot(root) == before
    # A --target folder the apply made goes too.
    folder = tmp_path / "folder"
    folder_plan = tmp_path / "folder.json"
    planned = cli("plan", wheels, "--python", target, "-t", folder, "-o", folder_plan)
    assert planned.returncode == 0, planned.stderr
    killed = cli("apply", folder_plan, "-t", folder, "--jobs", "1", env=kill)
    assert killed.returncode != 0
    assert (folder / ".wheelplan-journal").is_dir()
    assert cli("recover", "-t", folder).returncode == 0
    assert not folder.exists()


def test_a_refused_staging_apply_leaves_no_folders(
    plan: Path, tmp_path: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    # A staged root that does not match the plan (a file where a new one goes) is refused.
    root = tmp_path / "root"
    base = staged(root, env)
    stray = site(env).relative_to(env) / "gamma.py"
    (base / stray).parent.mkdir(parents=True)
    (base / stray).write_text("not gamma\n")
    before = snapshot(root)
    result = cli("apply", plan, "--root", root)
    assert result.returncode == 1
    assert snapshot(root) == before
    shutil.rmtree(root)
    # Missing wheels are found before any folder is made.
    os.rename(wheels, tmp_path / "moved")
    result = cli("apply", plan, "--root", root)
    assert result.returncode == 1
    assert not root.exists()


def test_staging_a_plan_for_an_environment_with_distributions_says_why(
    tmp_path: Path, target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    """A staged prefix holds only what was staged into it. A plan made where something
    is installed expects that too: the target did not change, and the error says what
    differs instead of asking to plan again."""
    installed = cli("install", "--python", target, "--quiet", wheels / "gamma-1.0-py3-none-any.whl")
    assert installed.returncode == 0, installed.stderr
    before = snapshot(env)
    root = tmp_path / "root"
    result = cli(
        "install", "--python", target, "--root", root, wheels / "beta-1.0-py3-none-any.whl"
    )
    assert result.returncode == 1
    assert errors(result) == [
        f"error: {staged(root, env)}: the staged prefix holds other distributions than the"
        " environment the plan was made for (not in the staged prefix: gamma-1.0.dist-info);"
        " stage a plan made for an environment with nothing installed, or into a folder"
        " that holds what that environment holds"
    ]
    assert not root.exists()
    assert snapshot(env) == before


# portable plans ------------------------------------------------------------------


def test_apply_wheel_dir_finds_wheels_by_name_and_sha256(
    plan: Path, tmp_path: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    elsewhere = tmp_path / "elsewhere"
    os.rename(wheels, elsewhere)
    before = snapshot(env)

    result = cli("apply", plan)
    assert result.returncode == 1
    assert snapshot(env) == before

    # A wheel of the same name but other bytes is not the planned one.
    impostor_dir = tmp_path / "impostors"
    shutil.copytree(elsewhere, impostor_dir)
    build_wheel(
        WheelSpec("gamma", files={"gamma.py": b"G = 4\n", "shared/__init__.py": b"# shared\n"}),
        impostor_dir,
    )
    result = cli("apply", plan, "--wheel-dir", impostor_dir)
    assert result.returncode == 1
    (line,) = errors(result)
    assert line.startswith(f"error: {impostor_dir / SPECS[2].filename}: ")
    assert "wheel changed since the plan was made" in line
    assert snapshot(env) == before

    result = cli("apply", plan, "--wheel-dir", elsewhere)
    assert result.returncode == 0, result.stderr
    assert (site(env) / "gamma.py").read_text() == "G = 3\n"


def test_apply_wheel_dir_that_is_no_folder_is_refused_once(
    plan: Path, tmp_path: Path, env: Path, cli: Cli
) -> None:
    """Each planned wheel was refused for it ('cannot read wheel: Not a directory', or
    'No such file or directory'): one problem, the folder's."""
    given = tmp_path / "a-file"
    given.write_bytes(b"mine")
    before = snapshot(env)
    for folder, subject, problem in (
        (given, given, "is a file, not a folder: --wheel-dir names it"),
        (given / "sub", given, f"is a file, not a folder: --wheel-dir names {given / 'sub'}"),
        (tmp_path / "missing", tmp_path / "missing", "the folder --wheel-dir names does not exist"),
    ):
        result = cli("apply", plan, "--wheel-dir", folder)
        assert (result.returncode, errors(result)) == (1, [f"error: {subject}: {problem}"])
    assert snapshot(env) == before
    assert given.read_bytes() == b"mine"


# reproducibility -----------------------------------------------------------------


def _apply_digest(
    cli: Cli, plan: Path, root: Path, jobs: str, compile_bytecode: bool
) -> dict[str, tuple[object, ...]]:
    extra = ["--compile-bytecode"] if compile_bytecode else []
    result = cli(
        "apply", plan, "--root", root, "--jobs", jobs, *extra, env={"SOURCE_DATE_EPOCH": EPOCH}
    )
    assert result.returncode == 0, result.stderr
    digest = tree_digest(root)
    shutil.rmtree(root)
    return digest


@pytest.mark.parametrize("compile_bytecode", [False, True])
def test_two_staged_applies_are_byte_identical(
    plan: Path, tmp_path: Path, cli: Cli, compile_bytecode: bool
) -> None:
    root = tmp_path / "root"
    # One after another into the same path, the first removed; different job counts.
    first = _apply_digest(cli, plan, root, "1", compile_bytecode)
    second = _apply_digest(cli, plan, root, "4", compile_bytecode)
    assert first == second
    # Every file and folder the apply made, the root included, has the epoch's mtime.
    mtimes = {entry[-2] if entry[0] == "file" else entry[2] for entry in first.values()}
    assert mtimes == {int(EPOCH) * 10**9}
    assert any(path.endswith(".pyc") for path in first) == compile_bytecode


def test_hash_based_bytecode_under_source_date_epoch(plan: Path, env: Path, cli: Cli) -> None:
    result = cli("apply", plan, "--compile-bytecode", env={"SOURCE_DATE_EPOCH": EPOCH})
    assert result.returncode == 0, result.stderr
    pycs = sorted(site(env).rglob("*.pyc"))
    assert pycs
    for pyc in pycs:
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b11, f"{pyc} is not checked-hash bytecode"
    record = (site(env) / "alpha-1.0.dist-info" / "RECORD").read_text().splitlines()
    assert record == sorted(record, key=lambda row: row.split(",")[0])
    assert any("__pycache__" in row for row in record)


@pytest.mark.parametrize("value", ["yesterday", "1.6e9", "1600000000 ", "9" * 20])
def test_a_malformed_source_date_epoch_is_refused_before_anything_is_written(
    plan: Path, env: Path, cli: Cli, value: str
) -> None:
    # The reproducible-builds spec asks a build to stop on one, not to go on without it.
    before = snapshot(env)
    result = cli("apply", plan, env={"SOURCE_DATE_EPOCH": value})
    assert result.returncode == 1
    assert result.stderr == (
        f"error: SOURCE_DATE_EPOCH: {value!r} is not a whole number of seconds since 1970\n"
    )
    assert snapshot(env) == before


# The venv's own entries, which `venv` (not the apply) makes, differ between two venvs.
VENV_OWN = frozenset(
    {
        "pyvenv.cfg",
        "lib64",
        "include",
        "bin/activate",
        "bin/activate.csh",
        "bin/activate.fish",
        "bin/Activate.ps1",
        "bin/python",
        "bin/python3",
    }
)


def _venv_own(prefix: Path) -> frozenset[str]:
    names = {p.name for p in (prefix / "bin").iterdir() if p.name.startswith("python")}
    return VENV_OWN | {f"bin/{name}" for name in names}


def test_two_applies_into_venvs_at_the_same_path_are_byte_identical(
    tmp_path: Path, wheels: Path, cli: Cli
) -> None:
    prefix = tmp_path / "env"

    def once() -> dict[str, tuple[object, ...]]:
        interpreter = make_env(prefix)
        plan = tmp_path / "plan.json"
        plan_into(cli, wheels, interpreter, plan)
        result = cli("apply", plan, "--compile-bytecode", env={"SOURCE_DATE_EPOCH": EPOCH})
        assert result.returncode == 0, result.stderr
        digest = tree_digest(prefix, skip=_venv_own(prefix))
        shutil.rmtree(prefix)
        plan.unlink()
        return digest

    first = once()
    second = once()
    assert first == second
    assert len(first) > 20


# verify --------------------------------------------------------------------------


def test_verify_finds_missing_changed_unowned_and_overlapping_files(
    tmp_path: Path, target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    result = cli("install", wheels, "--python", target, "--compile-bytecode", "--quiet")
    assert result.returncode == 0, result.stderr
    result = cli("verify", "--python", target)
    assert result.returncode == 0, result.stderr
    assert "3 distributions" in result.stdout

    lib = site(env)
    (lib / "alpha" / "sub" / "mod.py").unlink()
    (lib / "beta" / "__init__.py").write_text("VALUE = 3\n")
    (lib / "stray.py").write_text("")
    (lib / "__pycache__" / "stray.cpython-311.pyc").parent.mkdir(exist_ok=True)
    (lib / "__pycache__" / "stray.cpython-311.pyc").write_bytes(b"")
    (env / "bin" / "tool").write_text("")
    (lib / "empty-folder").mkdir()
    result = cli("verify", "--python", target)
    assert result.returncode == 1
    lines = errors(result)
    assert sorted(lines) == sorted(
        [
            f"error: {lib / 'alpha' / 'sub' / 'mod.py'}: missing (listed in the RECORD of"
            " alpha 1.0)",
            f"error: {lib / 'beta' / '__init__.py'}: changed since it was installed (its RECORD"
            " hash differs) (listed in the RECORD of beta 1.0)",
            f"error: {lib / 'stray.py'}: unowned: not listed in any RECORD",
            f"error: {lib / '__pycache__' / 'stray.cpython-311.pyc'}: unowned: not listed in"
            " any RECORD",
            f"error: {env / 'bin' / 'tool'}: unowned: not listed in any RECORD",
        ]
    )


@pytest.mark.parametrize(
    ("depth", "name"), [(DEPTH, "d"), (LONG_DEPTH, LONG)], ids=["deep", "past-path-max"]
)
def test_verify_finds_an_unowned_file_however_deep_or_long_its_path(
    target: Path, env: Path, deep_tree: DeepTree, cli: Cli, depth: int, name: str
) -> None:
    """A tree deeper than a recursive walk goes once raised RecursionError (a traceback);
    one whose paths pass PATH_MAX was skipped, and its file went unreported."""
    stray = deep_tree(site(env) / "stray", depth, name)
    result = cli("verify", "--python", target)
    assert result.returncode == 1
    assert errors(result) == [
        f"error: {site(env) / 'stray' / stray}: unowned: not listed in any RECORD"
    ]


def test_verify_reports_a_folder_it_cannot_read_instead_of_passing_over_it(
    target: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its files cannot be checked for an owner: an environment whose folder cannot be
    listed (here as if unreadable: the tests run as root) was reported as verified."""
    locked = site(env) / "locked"
    locked.mkdir()
    (locked / "stray.py").write_bytes(b"")
    refuse_listing(monkeypatch, locked)
    info = probe(str(target))
    report = verify.verify(info.prefix, info.prefix, info.schemes, venv=True, jobs=1)
    assert [(problem.subject, problem.message) for problem in report.problems] == [
        (str(locked), "cannot read this folder (Permission denied); its files are not checked")
    ]


def test_verify_of_a_system_interpreter_reads_a_journal_name_in_site_packages_as_any(
    tmp_path: Path,
) -> None:
    """Outside a venv the journal is at the top of the prefix, which is not walked: a
    `.wheelplan-journal` in site-packages is an ordinary folder, whose files were
    passed over as the journal's."""
    stray = tmp_path / SCHEMES["purelib"] / ".wheelplan-journal" / "stray.py"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"")
    report = verify.verify(str(tmp_path), str(tmp_path), SCHEMES, venv=False, jobs=1)
    assert [(problem.subject, problem.message) for problem in report.problems] == [
        (str(stray), "unowned: not listed in any RECORD")
    ]


@pytest.mark.parametrize("algorithm", ["shake_128", "shake_256"])
def test_verify_reports_a_record_hash_it_cannot_check(
    target: Path, env: Path, wheels: Path, cli: Cli, algorithm: str
) -> None:
    """hashlib has shake_128 and shake_256, but their digest needs a length."""
    result = cli("install", wheels, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    (record,) = site(env).glob("beta-*.dist-info/RECORD")
    lines = record.read_text().splitlines()
    row = next(index for index, line in enumerate(lines) if line.startswith("beta/__init__.py,"))
    lines[row] = f"beta/__init__.py,{algorithm}=abcd,"
    record.write_text("\n".join(lines) + "\n")
    result = cli("verify", "--python", target)
    assert result.returncode == 1
    assert errors(result) == [
        f"error: {site(env) / 'beta' / '__init__.py'}: RECORD gives a hash wheelplan cannot"
        f" check ({algorithm}=abcd) (listed in the RECORD of beta 1.0)"
    ]


def test_verify_reports_a_file_of_another_size_without_reading_it(
    target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    """A file grown to a sparse terabyte would take minutes to hash: its RECORD size
    already says it changed."""
    result = cli("install", wheels, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    grown = site(env) / "beta" / "__init__.py"
    with grown.open("r+b") as stream:
        stream.truncate(1024**4)
    result = subprocess.run(
        [sys.executable, "-m", "wheelplan", "verify", "--python", str(target)],
        capture_output=True,
        text=True,
        timeout=60,  # a bound against reading the whole file, not a timing
        cwd=REPO,
    )
    assert (result.returncode, result.stderr) == (
        1,
        f"error: {grown}: changed since it was installed (its RECORD hash differs)"
        " (listed in the RECORD of beta 1.0)\n",
    )


def test_verify_reports_an_overlap_and_ignores_shared_identical_files(
    tmp_path: Path, target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    result = cli("install", wheels, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    lib = site(env)
    # shared/__init__.py is listed, with one hash, by beta and gamma: not a problem.
    result = cli("verify", "--python", target)
    assert result.returncode == 0, result.stderr
    record = lib / "gamma-1.0.dist-info" / "RECORD"
    rows = record.read_text().splitlines()
    rows = [
        "shared/__init__.py,sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,9"
        if row.startswith("shared/__init__.py,")
        else row
        for row in rows
    ]
    record.write_text("\n".join(rows) + "\n")
    result = cli("verify", "--python", target)
    assert result.returncode == 1
    shared = lib / "shared" / "__init__.py"
    assert errors(result) == [
        f"error: {shared}: overlap: listed with different hashes by the RECORDs of beta 1.0,"
        " gamma 1.0"
    ]


def _relist(record: Path, path: str, hash_text: str) -> None:
    """`record` with `path`'s row giving `hash_text`, and no size."""
    rows = record.read_text().splitlines()
    rows = [f"{path},{hash_text}," if row.startswith(f"{path},") else row for row in rows]
    record.write_text("\n".join(rows) + "\n")


def test_verify_compares_what_owners_hashes_mean_not_how_they_are_written(
    target: Path, env: Path, wheels: Path, cli: Cli
) -> None:
    """pip and uv keep a wheel's own hash algorithm: one file may be listed as sha256 by
    one RECORD and sha512 (here in hex) by another. It overlaps only when the hashes
    cannot all match it."""
    result = cli("install", wheels, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    lib = site(env)
    shared = lib / "shared" / "__init__.py"
    gamma = lib / "gamma-1.0.dist-info" / "RECORD"
    _relist(gamma, "shared/__init__.py", "sha512=" + hashlib.sha512(b"# shared\n").hexdigest())
    result = cli("verify", "--python", target)
    assert (result.returncode, result.stderr) == (0, "")
    # Changed since: each hash differs, which says nothing about the owners disagreeing.
    shared.write_bytes(b"# changed\n")
    assert errors(cli("verify", "--python", target)) == [
        f"error: {shared}: changed since it was installed (its RECORD hash differs) (listed"
        " in the RECORD of beta 1.0, gamma 1.0)"
    ]
    # It has gamma's bytes, not beta's: the owners' hashes cannot all match it.
    _relist(
        gamma, "shared/__init__.py", encode_hash("sha512", hashlib.sha512(b"# changed\n").digest())
    )
    assert errors(cli("verify", "--python", target)) == [
        f"error: {shared}: overlap: listed with different hashes by the RECORDs of beta 1.0,"
        " gamma 1.0"
    ]


def test_verify_of_a_fresh_venv_and_a_staged_root(
    plan: Path, tmp_path: Path, target: Path, env: Path, cli: Cli
) -> None:
    # A venv's own files (interpreter links, activate scripts, pyvenv.cfg) are not unowned.
    venv.create(tmp_path / "with-pip-free", with_pip=False, symlinks=True)
    result = cli("verify", "--python", tmp_path / "with-pip-free")
    assert result.returncode == 0, result.stderr
    # A folder named with a line break is still named on one line.
    (tmp_path / "a\nb").mkdir()
    result = cli("verify", "--target", tmp_path / "a\nb")
    assert result.stdout == f"verified {tmp_path}/a\\nb: 0 distributions, 0 files; no problems\n"
    root = tmp_path / "root"
    assert cli("apply", plan, "--root", root, "--quiet").returncode == 0
    result = cli("verify", "--python", target, "--root", root)
    assert result.returncode == 0, result.stderr
    (staged(root, env) / "bin" / "alpha-cli").unlink()
    result = cli("verify", "--python", target, "--root", root)
    assert result.returncode == 1
    (line,) = errors(result)
    assert line.startswith(f"error: {staged(root, env) / 'bin' / 'alpha-cli'}: missing")
    assert result.stdout.rstrip().endswith("; 1 problem")


# verify, as a property -----------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(min_value=1, max_value=8),
    choices=st.data(),
    in_venv=st.booleans(),
)
def test_verify_reports_exactly_what_was_done_to_the_tree(
    tmp_path_factory: pytest.TempPathFactory, count: int, choices: st.DataObject, in_venv: bool
) -> None:
    prefix = tmp_path_factory.mktemp("prefix")
    purelib = prefix / SCHEMES["purelib"]
    names = [f"pkg/mod{index}.py" for index in range(count)]
    # Any algorithm RECORD allows; some files big enough to be hashed from a mapping.
    algorithm = choices.draw(st.sampled_from(["sha256", "sha512", "blake2b"]))
    big = choices.draw(st.sets(st.sampled_from(names), max_size=2))
    content = {
        name: name.encode().ljust(2 * 1024 * 1024 if name in big else 0, b"#") for name in names
    }
    for name in names:
        (purelib / name).parent.mkdir(parents=True, exist_ok=True)
        (purelib / name).write_bytes(content[name])
    dist_info = purelib / "pkg-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    rows = [
        f"{name},{encode_hash(algorithm, hashlib.new(algorithm, content[name]).digest())},"
        for name in names
    ]
    meta = (dist_info / "METADATA").read_bytes()
    rows += [f"pkg-1.0.dist-info/METADATA,{record_hash(meta)},{len(meta)}"]
    (dist_info / "RECORD").write_text("\n".join([*rows, "pkg-1.0.dist-info/RECORD,,"]) + "\n")
    # Never problems: bytecode of listed sources, and the environment's own files.
    (purelib / "pkg" / "__pycache__").mkdir()
    (purelib / "pkg" / "__pycache__" / "mod0.cpython-311.pyc").write_bytes(b"")
    (prefix / "bin").mkdir()
    if in_venv:
        (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")
        # What venv (3.13), uv and virtualenv add around the interpreter.
        (prefix / ".gitignore").write_text("*\n")
        (prefix / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
        (prefix / ".lock").write_text("")  # what `uv pip` locks the environment with
        (prefix / "bin" / "python3").write_text("")
        (prefix / "bin" / "Activate.ps1").write_text("")
        (prefix / "bin" / "deactivate.bat").write_text("")
        (prefix / "bin" / "pydoc.bat").write_text("")
    else:
        (purelib / "README.txt").write_text("")
        (prefix / "bin" / "not-scanned").write_text("")  # a system bin is not ours to judge

    deleted = set(choices.draw(st.sets(st.sampled_from(names))))
    edited = set(choices.draw(st.sets(st.sampled_from(names)))) - deleted
    # A listed file replaced by what cannot be hashed: a folder, or a FIFO that a
    # plain open() would wait on forever.
    replaced = set(choices.draw(st.sets(st.sampled_from(names)))) - deleted - edited
    extra = choices.draw(st.sets(st.sampled_from(["a.txt", "pkg/b.py", "pkg/__pycache__/c.pyc"])))
    expected = set()
    for name in deleted:
        (purelib / name).unlink()
        expected.add((str(purelib / name), "missing"))
    for name in edited:
        # The last byte only: a big file must be hashed to its end.
        (purelib / name).write_bytes(content[name][:-1] + b"!")
        expected.add((str(purelib / name), "changed"))
    for index, name in enumerate(sorted(replaced)):
        (purelib / name).unlink()
        if index % 2:
            (purelib / name).mkdir()
            expected.add((str(purelib / name), "is"))
        else:
            os.mkfifo(purelib / name)
            expected.add((str(purelib / name), "cannot"))
    for name in extra:
        (purelib / name).write_bytes(b"")
        expected.add((str(purelib / name), "unowned"))

    report = verify.verify(str(prefix), str(prefix), SCHEMES, venv=in_venv, jobs=2)
    # One thread, or two processes: the same report.
    assert verify.verify(str(prefix), str(prefix), SCHEMES, venv=in_venv, jobs=1) == report
    found = {
        (problem.subject, problem.message.split(" ")[0].rstrip(":")) for problem in report.problems
    }
    assert found == expected
    assert report.distributions == 1
    shutil.rmtree(prefix)


_TEST_PROCESS = os.getpid()
_CHECK = verify._check


def _dies_in_a_worker(batch: list[tuple[str, list[str]]]) -> list[str | None]:
    """verify's batch check, but a worker process exits instead (a module function:
    the pool sends it by name)."""
    if os.getpid() != _TEST_PROCESS:
        os._exit(9)
    return _CHECK(batch)


def test_verify_checks_here_what_a_killed_worker_did_not(
    tmp_path: Path, target: Path, env: Path, wheels: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("install", wheels, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    (site(env) / "beta" / "__init__.py").write_text("VALUE = 3\n")
    info = probe(str(target), planning=False)
    expected = verify.verify(info.prefix, info.prefix, info.schemes, venv=True, jobs=1)
    assert [problem.message.split(" ")[0] for problem in expected.problems] == ["changed"]
    monkeypatch.setattr(verify, "_check", _dies_in_a_worker)
    assert verify.verify(info.prefix, info.prefix, info.schemes, venv=True, jobs=2) == expected
