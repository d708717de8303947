"""The `plan` and `show` command lines as a user meets them, against real fresh venvs.

Each test runs `python -m wheelplan` in its own process and checks what the
README promises: dry runs write nothing, saved plans are canonical JSON, errors are
one line each with no traceback, exit codes 0/1/2, and refusals leave the target
byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile
from packaging.tags import sys_tags

from planner.inputfiles import MAX_LOCK_BYTES, MAX_PLAN_BYTES
from planner.plan import Plan
from planner.planjson import digest_of, dumps, loads
from tests.conftest import REPO, make_env, make_system_python, run_cli, snapshot
from tests.deeptrees import LONG, LONG_DEPTH, DeepTree
from tests.test_externally_managed import mark
from tests.wheelfactory import Member, WheelSpec, build_wheel, record_hash
from wheelplan.arguments import build_parser

Cli = Callable[..., subprocess.CompletedProcess[str]]
SHARED = b"# shared namespace\n"


def built(tmp_path: Path, *specs: WheelSpec) -> list[Path]:
    return [build_wheel(spec, tmp_path / "wheels") for spec in specs]


def planned(result: subprocess.CompletedProcess[str]) -> Plan:
    assert result.returncode == 0, result.stderr
    return loads(result.stdout, "stdout")


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The error lines of a refusal, after checking it is a clean one."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
    return [line[len("error: ") :] for line in lines]


def venv_of(interpreter: Path) -> Path:
    return interpreter.parent.parent


def install_with_installer(spec: WheelSpec, tmp_path: Path, interpreter: Path) -> None:
    """Install `spec` with the `installer` library, as another tool would have."""
    wheel = build_wheel(spec, tmp_path / "installed")
    code = (
        "import json, sysconfig; print(json.dumps({k: sysconfig.get_paths()[k]"
        " for k in ('purelib', 'platlib', 'scripts', 'data', 'include')}))"
    )
    paths = json.loads(subprocess.check_output([str(interpreter), "-c", code], text=True))
    paths["headers"] = paths.pop("include")
    destination = SchemeDictionaryDestination(paths, str(interpreter), "posix", "sha256")
    with WheelFile.open(wheel) as source:
        install(source, destination, {"INSTALLER": b"installer\n"})


APP = WheelSpec(
    name="app",
    files={"app/__init__.py": b"def main():\n    return 0\n", "ns/__init__.py": SHARED},
    entry_points="[console_scripts]\napp = app:main\n",
)
PLUGIN = WheelSpec(name="plugin", files={"ns/__init__.py": SHARED, "ns/plugin.py": b""})


# --- dry run, saved plans, show --------------------------------------------------------


def test_plan_without_output_is_a_dry_run_that_writes_nothing(tmp_path: Path, target: Path) -> None:
    wheels = built(tmp_path, APP, PLUGIN)
    before = snapshot(tmp_path)
    result = run_cli("plan", *wheels, "--python", target, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Plan for {venv_of(target)} ")
    assert result.stdout.endswith(
        f"\ndry run: nothing applied to {venv_of(target)} (use -o PLAN.json to save the plan)\n"
    )
    # Neither the target, the wheels' folder nor the working folder gained a byte.
    assert snapshot(tmp_path) == before


def test_a_pth_file_importing_a_module_leaves_no_bytecode_behind(
    tmp_path: Path, target: Path
) -> None:
    """A .pth file runs whenever the target's interpreter starts (setuptools' imports
    `_distutils_hack`); planning, applying and compiling must not write its .pyc."""
    site = next(venv_of(target).glob("lib/python*/site-packages"))
    (site / "hook.pth").write_text("import hooked\n")
    (site / "hooked.py").write_text("VALUE = 1\n")
    wheels = built(tmp_path, APP)
    before = snapshot(venv_of(target))
    result = run_cli("plan", *wheels, "--python", target)
    assert result.returncode == 0, result.stderr
    assert snapshot(venv_of(target)) == before
    result = run_cli("install", *wheels, "--python", target, "--compile-bytecode")
    assert result.returncode == 0, result.stderr
    assert not (site / "__pycache__").exists()
    assert (site / "app" / "__pycache__").is_dir()


def test_output_is_canonical_json_with_a_digest(tmp_path: Path, target: Path) -> None:
    wheels = built(tmp_path, APP, PLUGIN)
    env_before = snapshot(venv_of(target))
    output = tmp_path / "plan.json"
    result = run_cli("plan", *wheels, "--python", target, "-o", output, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(
        f"\nplan written to {output}; apply it with: wheelplan apply {output}\n"
    )
    text = output.read_bytes().decode("utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    key_orders: list[list[str]] = []

    def remember_order(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        key_orders.append([key for key, _ in pairs])
        return dict(pairs)

    data = json.loads(text, object_pairs_hook=remember_order)
    assert len(key_orders) > 10
    assert all(keys == sorted(keys) for keys in key_orders)
    assert data["digest"] == digest_of(data) and data["digest"].startswith("sha256:")
    assert data["format"] == 7
    plan = loads(text, str(output))
    assert plan.target.prefix == str(venv_of(target))
    # Canonical: the same plan always serialises to these very bytes.
    assert dumps(plan) == text
    assert snapshot(venv_of(target)) == env_before


def test_a_plan_is_the_same_bytes_whatever_the_hash_seed(tmp_path: Path, target: Path) -> None:
    """Sets and dicts of strings iterate in an order PYTHONHASHSEED picks for each
    process: the same inputs, planned in processes of other seeds, must still give the
    same file byte for byte. An upgrade, for removals, folders made and folders emptied."""
    old = WheelSpec(
        "tree", files={f"tree/old{i}/leaf{j}.py": b"" for i in range(4) for j in range(2)}
    )
    new = WheelSpec(
        "tree",
        version="2.0",
        files={
            **{f"tree/new{i}/sub{j}/leaf.py": b"" for i in range(4) for j in range(3)},
            "tree-2.0.data/data/share/tree/a/b.txt": b"",
            "tree-2.0.data/scripts/tree-tool": b"#!python\n",
        },
        entry_points="[console_scripts]\ntree = tree:main\n",
    )
    old_wheel, new_wheel, *others = built(tmp_path, old, new, APP, PLUGIN)
    assert run_cli("install", old_wheel, "--python", target, "--quiet").returncode == 0
    plans = []
    for seed in ("1", "2", "3"):
        output = tmp_path / f"plan-{seed}.json"
        command = ("plan", new_wheel, *others, "--python", target, "-o", output)
        result = run_cli(*command, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        plans.append(output.read_bytes())
    assert plans[1:] == plans[:1] * 2
    data = json.loads(plans[0])
    assert len(data["directories"]) > 12
    assert {entry["action"] for entry in data["files"]} == {"write", "remove"}


def test_json_prints_the_plan_and_show_reviews_it(tmp_path: Path, target: Path, cli: Cli) -> None:
    wheels = built(tmp_path, APP, PLUGIN)
    output = tmp_path / "plan.json"
    saved = cli("plan", *wheels, "--python", target, "-o", output)
    printed = cli("plan", *wheels, "--python", target, "--json")
    assert printed.returncode == 0
    assert printed.stdout == output.read_text(encoding="utf-8")

    review = saved.stdout.rsplit("\nplan written to ", 1)[0]
    shown = cli("show", output)
    assert (shown.returncode, shown.stdout) == (0, review)
    assert "ns/__init__.py: app, plugin -> shared" in shown.stdout
    shown_json = cli("show", output, "--json")
    assert (shown_json.returncode, shown_json.stdout) == (0, printed.stdout)


def test_a_plan_of_no_distribution_reviews_without_an_empty_section(target: Path, cli: Cli) -> None:
    env = target.parent.parent
    dry = cli("plan", "--remove", "nosuch", "--python", target)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(
        f"Plan for {env} (Python {sys.version_info.major}.{sys.version_info.minor}, {target})\n"
        "\nFiles: 0 new, 0 replaced, 0 removed; 0 work units; 0 directories\n"
    ), dry.stdout


def test_show_refuses_an_edited_plan(tmp_path: Path, target: Path, cli: Cli) -> None:
    output = tmp_path / "plan.json"
    assert cli("plan", *built(tmp_path, APP), "--python", target, "-o", output).returncode == 0
    output.write_text(output.read_text().replace('"install"', '"remove"'))
    assert errors(cli("show", output)) == [
        f"{output}: plan digest does not match its contents (the file was edited or damaged)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="no-command"),
        pytest.param(("plan",), id="no-wheels"),
        pytest.param(("plan", "x.whl", "--no-such-option"), id="unknown-option"),
        pytest.param(("show",), id="show-without-plan"),
        pytest.param(("plan", "x.whl", "--max-entries", "many"), id="bad-number"),
        # An unset shell variable would otherwise mean the current folder.
        pytest.param(("plan", "x.whl", "--target", ""), id="empty-target"),
        pytest.param(("apply", "plan.json", "--root", ""), id="empty-root"),
        pytest.param(("apply", "plan.json", "--wheel-dir", ""), id="empty-wheel-dir"),
        pytest.param(("verify", "--root", ""), id="empty-verify-root"),
        pytest.param(("plan", "x.whl", "--python", ""), id="empty-python"),
        pytest.param(("plan", "x.whl", "-o", ""), id="empty-output"),
        pytest.param(("plan", "x.whl", ""), id="empty-wheel"),
        pytest.param(("plan", "x.whl", "--cache-dir", ""), id="empty-cache-dir"),
        pytest.param(("cache", "clean", "--cache-dir", ""), id="empty-cache-clean-dir"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], cli: Cli) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "usage: wheelplan" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan",), "give wheels, --lock PYLOCK.toml or --remove NAME"),
        (("install",), "give wheels, --lock PYLOCK.toml or --remove NAME"),
        (("plan", "x.whl", "--lock", "pylock.toml"), "give either wheels or --lock PYLOCK.toml"),
        (("install", "x.whl", "--extra", "x"), "--extra, --group and --wheel-dir need --lock"),
    ],
    ids=["plan-nothing", "install-nothing", "wheels-and-lock", "extra-without-lock"],
)
def test_a_usage_error_of_a_command_gives_its_usage(
    args: tuple[str, ...], message: str, cli: Cli
) -> None:
    """These were reported with the top-level usage (`wheelplan [-h] [-V] {plan,...}`),
    which does not say what the command takes."""
    result = cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: wheelplan {args[0]} [-h]"), result.stderr
    assert result.stderr.endswith(f"\nwheelplan {args[0]}: error: {message}\n"), result.stderr


@pytest.mark.parametrize(
    ("args", "command", "leftovers"),
    [
        (("uninstall", "--compile-bytecode", "six"), "uninstall", "--compile-bytecode"),
        (("plan", "x.whl", "--bogus"), "plan", "--bogus"),
        (("cache", "clean", "--bogus", "extra"), "cache clean", "--bogus extra"),
    ],
    ids=["uninstall-removed-option", "plan-unknown-option", "cache-clean-extras"],
)
def test_an_unrecognized_argument_gives_the_commands_usage(
    args: tuple[str, ...], command: str, leftovers: str, cli: Cli
) -> None:
    """Arguments no command takes were reported with the top-level usage, also an
    option uninstall no longer offers, so the usage did not show what it does take."""
    result = cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: wheelplan {command} [-h]"), result.stderr
    assert result.stderr.endswith(
        f"\nwheelplan {command}: error: unrecognized arguments: {leftovers}\n"
    ), result.stderr


@pytest.mark.parametrize(
    ("args", "prog", "choices"),
    [
        ((), "wheelplan", "{plan,show,apply,install,uninstall,verify,recover,cache}"),
        (("cache",), "wheelplan cache", "{dir,clean}"),
    ],
    ids=["no-command", "cache-no-action"],
)
def test_a_missing_command_is_named_by_its_choices(
    args: tuple[str, ...], prog: str, choices: str, cli: Cli
) -> None:
    """A missing command was named by the attribute argparse keeps it in, 'command' or
    'cache_command', which is nothing a user types; the choices are."""
    result = cli(*args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"usage: {prog} [-h]"), result.stderr
    assert result.stderr.endswith(
        f"\n{prog}: error: the following arguments are required: {choices}\n"
    ), result.stderr


def _help(cli: Cli, command: str) -> str:
    """`command --help`, its whitespace collapsed (argparse wraps it to the terminal)."""
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


def test_wheels_and_names_are_taken_between_options(tmp_path: Path, target: Path, cli: Cli) -> None:
    """`plan a.whl --python PY b.whl` left `b.whl` unrecognized: argparse takes a list
    positional at its first place only, where pip and uv take names anywhere."""
    app, plugin = built(tmp_path, APP, PLUGIN)

    def installed_names(target: Path) -> set[str]:
        folders = venv_of(target).glob("lib/python3*/site-packages/*.dist-info")
        return {folder.name.partition("-")[0] for folder in folders}

    result = cli("install", app, "--python", target, "--quiet", plugin)
    assert result.returncode == 0, result.stderr
    assert installed_names(target) == {"app", "plugin"}
    # Checked as in the first place: an empty one is a usage error.
    result = cli("plan", app, "--python", target, "")
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2,
        "wheelplan plan: error: argument WHEEL_OR_DIR: expected a wheel file or folder, got ''",
    )
    result = cli("uninstall", "app", "--python", target, "--quiet", "Plugin")
    assert result.returncode == 0, result.stderr
    assert installed_names(target) == set()


def test_uninstall_offers_no_option_that_a_removal_does_not_use(cli: Cli) -> None:
    """It offered install's --compile-bytecode, --link-mode and --cache-dir, which a
    removal never uses, and described --root as "install under this staging folder"."""
    text = _help(cli, "uninstall")
    for option in ("--compile-bytecode", "--link-mode", "--cache-dir", "install under"):
        assert option not in text, option
    # It plans against the environment itself: the staged copy must match it, and is
    # not a staged install to undo.
    assert (
        "--root DIR apply the removal to the environment's copy staged under this folder,"
        " which must hold what the environment holds"
    ) in text
    assert "install --root" not in text
    assert "--no-cache, --no-cache-dir accepted as uv and pip take it" in text
    for option in ("--jobs N", "-q, --quiet", "--fsync", "--dry-run", "-y, --yes"):
        assert option in text, option


def test_help_names_every_folder_dir(cli: Cli) -> None:
    """`apply --help` said WHEEL_DIR and ROOT, where the README and other options say DIR."""
    for command in ("apply", "install", "uninstall", "verify", "recover"):
        text = _help(cli, command)
        assert "WHEEL_DIR" not in text and "ROOT" not in text, (command, text)
        assert "--root DIR" in text, command
    assert "--wheel-dir DIR" in _help(cli, "apply")


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every (sub)command below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield from _commands(command)


def test_help_says_which_options_may_be_given_again() -> None:
    """`--help` of `--prefer NAME`, `--remove NAME`, `--extra` and `--group` said nothing
    of taking more than one, which only the README's usage (`[--prefer NAME]...`) showed;
    an append option added later must say it too."""
    repeatable = {
        (command.prog, action.option_strings[-1]): action.help
        for command in _commands(build_parser())
        for action in command._actions
        if isinstance(action, argparse._AppendAction)
    }
    assert ("wheelplan plan", "--prefer") in repeatable
    assert ("wheelplan install", "--remove") in repeatable
    unsaid = [option for option, text in repeatable.items() if "repeatable" not in (text or "")]
    assert unsaid == []


def test_help_says_what_each_positional_argument_is() -> None:
    """`show --help` and `apply --help` listed PLAN.json and nothing about it."""
    positionals = {
        (command.prog, action.metavar or action.dest): action.help
        for command in _commands(build_parser())
        for action in command._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    }
    assert ("wheelplan apply", "PLAN.json") in positionals
    assert ("wheelplan show", "PLAN.json") in positionals
    unsaid = [name for name, text in positionals.items() if text in (None, "", argparse.SUPPRESS)]
    assert unsaid == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # pip's uninstall takes a requirement; normalized, it named nobody and was skipped.
        (("uninstall", "app==1.0"), "argument NAME: 'app==1.0' is not a distribution name"),
        (("uninstall", "app", ""), "argument NAME: expected a distribution name, got ''"),
        (("plan", "--remove", "app b"), "argument --remove: 'app b' is not a distribution"),
        (("plan", "x.whl", "--prefer", "_app"), "argument --prefer: '_app' is not a"),
    ],
    ids=["requirement", "empty", "space", "underscore"],
)
def test_a_name_that_is_no_distribution_name_is_a_usage_error(
    args: tuple[str, ...], message: str, tmp_path: Path, target: Path, cli: Cli
) -> None:
    before = snapshot(venv_of(target))
    result = cli(*args, "--python", target)
    assert result.returncode == 2
    assert f"error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(venv_of(target)) == before


def test_pip_s_spellings_are_taken_or_answered(tmp_path: Path, target: Path, cli: Cli) -> None:
    """`--no-deps` and `-U` are what wheelplan does anyway; `-r` gets the way to do it
    rather than a bare 'unrecognized arguments'."""
    wheels = built(tmp_path, APP)
    plain = cli("install", *wheels, "--python", target, "--dry-run")
    spelled = cli("install", "--no-deps", "-U", *wheels, "--python", target, "--dry-run")
    assert (spelled.returncode, spelled.stdout) == (0, plain.stdout)
    for flag in ("-r", "--requirement", "--requirements"):  # pip's, and uv's
        result = cli("install", flag, "requirements.txt", "--python", target)
        assert result.returncode == 2
        assert "error: -r: wheelplan installs wheel files and lock files" in result.stderr
        assert "`pip lock -r FILE`" in result.stderr


def _installed_names(target: Path) -> set[str]:
    folders = venv_of(target).glob("lib/python3*/site-packages/*.dist-info")
    return {folder.name.partition("-")[0] for folder in folders}


def _installed(tmp_path: Path, target: Path, cli: Cli, *names: str) -> None:
    wheels = built(tmp_path, *(WheelSpec(name=name, files={f"{name}.py": b""}) for name in names))
    result = cli("install", *wheels, "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    assert _installed_names(target) == set(names)


@pytest.mark.parametrize("flag", ["-r", "--requirement", "--requirements"])
def test_uninstall_removes_what_a_requirements_file_names_as_pip_and_uv_read_it(
    tmp_path: Path, target: Path, cli: Cli, flag: str
) -> None:
    """pip's and uv's uninstall read the names to remove from `-r FILE` (pip 26.3 and uv
    0.13.9 alike remove a requirement's distribution whatever its version, extras or
    markers say, and a wheel's path names its distribution); wheelplan's answered
    `-r` with 'name each one'."""
    names = ("alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa")
    _installed(tmp_path, target, cli, *names)
    files = tmp_path / "reqs"
    (files / "nested").mkdir(parents=True)
    (files / "requirements.txt").write_text(
        "# what the image no longer needs\n"
        "\n"
        "Alpha==1.0  # a comment after the requirement\n"
        "beta[extra]>=0.1\n"
        'gamma; python_version < "3"\n'
        "delta @ https://example.com/delta-1.0-py3-none-any.whl#sha256=00\n"
        "-r nested/more.txt\n"
        "--index-url https://example.com/simple\n"
        "--extra-index-url=https://example.com/other\n"
        "--no-index\n"
        "-c constraints.txt\n"
        "eps --hash=sha256:" + "0" * 64 + " \\\n"
        "    --hash=sha256:" + "1" * 64 + "\n"
        "./wheels/zeta-1.0-py3-none-any.whl\n",
        encoding="utf-8",
    )
    (files / "nested" / "more.txt").write_text("https://example.com/eta-1.0-py3-none-any.whl\n")
    (files / "constraints.txt").write_text("kappa\n")  # constrains; names nothing removed
    (tmp_path / "second.txt").write_text("theta\n")
    result = cli(
        "uninstall",
        flag,
        "reqs/requirements.txt",
        "iota",
        flag,
        "second.txt",
        "--python",
        target,
        "--quiet",
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert _installed_names(target) == {"kappa"}


def test_uninstall_expands_the_environment_s_variables_in_a_requirements_file(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """`${NAME}` is the variable's value, as pip 26.3 reads it (uv 0.13.9 refuses the
    line), so that one file serves environments whose names differ."""
    _installed(tmp_path, target, cli, "alpha", "beta")
    (tmp_path / "requirements.txt").write_text("${GONE}\n", encoding="utf-8")
    result = cli(
        "uninstall",
        "-r",
        "requirements.txt",
        "--python",
        target,
        "--quiet",
        cwd=tmp_path,
        env={"GONE": "alpha"},
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert _installed_names(target) == {"beta"}


def test_uninstall_refuses_a_requirements_file_line_that_names_no_distribution(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """Every line that names nothing to remove, and every file that cannot be read, in
    one line naming the file and line, with nothing removed; pip and uv refuse such a
    line too (an editable or a folder, which pip passes over and uv skips as not
    installed, names no distribution either)."""
    _installed(tmp_path, target, cli, "alpha")
    (tmp_path / "loop.txt").write_text("-r requirements.txt\n")
    (tmp_path / "requirements.txt").write_text(
        "alpha\n-e ./src\nnot a name!\n--frobnicate\n-r missing.txt\n./src\n-r loop.txt\n"
    )
    before = snapshot(venv_of(target))
    result = cli(
        "uninstall",
        "-r",
        "requirements.txt",
        "alpha",
        "-r",
        "absent.txt",
        "--python",
        target,
        cwd=tmp_path,
    )
    assert errors(result) == [
        "requirements.txt:2: './src' names no distribution; give its name (NAME, or NAME @ URL)",
        "requirements.txt:3: 'not a name!' names no distribution; give its name (NAME, or"
        " NAME @ URL)",
        "requirements.txt:4: '--frobnicate' is no option pip's requirements files take, or lacks"
        " its value",
        "requirements.txt:5: cannot read requirements file missing.txt: No such file or directory",
        "requirements.txt:6: './src' names no distribution; give its name (NAME, or NAME @ URL)",
        "loop.txt:1: reads requirements.txt again, a file that leads back here",
        "absent.txt: cannot read requirements file: No such file or directory",
    ]
    assert snapshot(venv_of(target)) == before


def test_uninstall_needs_a_name_given_or_read(tmp_path: Path, target: Path, cli: Cli) -> None:
    """Neither a name nor a file is a usage error; files that name nothing are refused,
    as pip refuses them ('You must give at least one requirement to uninstall')."""
    result = cli("uninstall", "--python", target)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2,
        "wheelplan uninstall: error: give NAME... or -r FILE",
    )
    (tmp_path / "empty.txt").write_text("# nothing\n\n--no-index\n")
    result = cli(
        "uninstall", "-r", "empty.txt", "-r", "empty.txt", "--python", target, cwd=tmp_path
    )
    assert errors(result) == ["empty.txt: names no distribution to remove"]


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_the_installed_distribution_s(flag: str, cli: Cli) -> None:
    """As `pip --version` and `uv --version`: the version pyproject.toml gives."""
    declared = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert declared is not None
    result = cli(flag)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"wheelplan {declared.group(1)}\n",
        "",
    )


def test_a_folder_s_builds_of_one_release_give_the_one_that_fits_best(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A folder is a wheelhouse, as pip's and uv's --find-links read one: of a release
    built for several Pythons and platforms, the build whose tag the target ranks first
    is planned. Named one by one, the same files are refused, as pip refuses a named
    wheel that does not fit; so is a folder's choice that is no choice (two versions,
    two builds that fit equally, none that fits)."""
    from packaging.tags import sys_tags

    best = str(next(iter(sys_tags())))  # the target is a venv of this interpreter

    def house(name: str, *builds: tuple[str, str]) -> Path:
        folder = tmp_path / name
        for version, tag in builds:
            spec = WheelSpec("plat", version, tag=tag, files={"plat.py": tag.encode()})
            build_wheel(spec, folder)
        return folder

    def chosen(folder: Path) -> list[str | None]:
        plan = planned(cli("plan", folder, "--python", target, "--json"))
        return [dist.wheel for dist in plan.distributions]

    mixed = house("mixed", ("1.0", "py2-none-any"), ("1.0", "py3-none-any"), ("1.0", best))
    assert chosen(mixed) == [f"plat-1.0-{best}.whl"]
    assert chosen(house("generic", ("1.0", "py2-none-any"), ("1.0", "py3-none-any"))) == [
        "plat-1.0-py3-none-any.whl"
    ]
    # A build's best tag is what counts: `pyXY` ranks before `py3`.
    exact = f"py3.py{sys.version_info.major}{sys.version_info.minor}-none-any"
    assert chosen(house("compressed", ("1.0", "py3-none-any"), ("1.0", exact))) == [
        f"plat-1.0-{exact}.whl"
    ]
    named = errors(cli("plan", *sorted(mixed.iterdir()), "--python", target))
    assert sum(": plat is also given as " in line for line in named) == 2
    assert any(line.startswith("plat-1.0-py2-none-any.whl: is not compatible") for line in named)

    versions = house("versions", ("1.0", "py3-none-any"), ("2.0", "py3-none-any"))
    tie = house("tie", ("1.0", "py2.py3-none-any"), ("1.0", "py3-none-any"))
    none_fit = house("none", ("1.0", "py2-none-any"), ("1.0", "cp27-none-any"))
    for folder, first in (
        (versions, "plat-2.0-py3-none-any.whl: plat is also given as plat-1.0-py3-none-any.whl"),
        (tie, "plat-1.0-py3-none-any.whl: plat is also given as plat-1.0-py2.py3-none-any.whl"),
        (none_fit, "plat-1.0-cp27-none-any.whl: is not compatible with the target"),
    ):
        assert errors(cli("plan", folder, "--python", target))[0].startswith(first)
    # Nothing says which of a folder's releases is meant: the refusal says how to choose.
    assert errors(cli("plan", versions, "--python", target)) == [
        "plat-2.0-py3-none-any.whl: plat is also given as"
        f" plat-1.0-py3-none-any.whl (both from {versions}, a folder given: name the wheel"
        " file to install)"
    ]
    # One of them named on its own too: that file was named, the folder brings the other.
    one = versions / "plat-1.0-py3-none-any.whl"
    assert errors(cli("plan", one, versions, "--python", target)) == [
        "plat-2.0-py3-none-any.whl: plat is also given as plat-1.0-py3-none-any.whl (both"
        f" from {versions}, a folder given too: name the wheel file alone, without the folder)"
    ]


# --- refusals ---------------------------------------------------------------------------


_BEST = next(iter(sys_tags()))  # the target is a venv of this interpreter
_NEXT = f"cp{sys.version_info.major}{sys.version_info.minor + 1}"


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        # Built for the next Python: its Python tag and its ABI tag are both that one's.
        (
            f"{_NEXT}-{_NEXT}-{_BEST.platform}",
            {"Python": (_NEXT, _BEST.interpreter), "ABI": (_NEXT, _BEST.abi)},
        ),
        (
            f"{_BEST.interpreter}-{_BEST.abi}-macosx_11_0_arm64",
            {"platform": ("macosx_11_0_arm64", _BEST.platform)},
        ),
        (f"{_BEST.interpreter}-cp27mu-{_BEST.platform}", {"ABI": ("cp27mu", _BEST.abi)}),
    ],
    ids=["python", "platform", "abi"],
)
def test_a_wheel_that_does_not_fit_names_the_tag_that_does_not_and_what_the_target_takes(
    tag: str, named: dict[str, tuple[str, str]], tmp_path: Path, target: Path, cli: Cli
) -> None:
    """It was refused as "not compatible with the target (Python 3.11,
    cp311-cp311-manylinux_2_39_x86_64 and 52 more supported tags)", which left the user
    to work out which of the wheel's tags is the wrong one, and what would fit."""
    (wheel,) = built(tmp_path, WheelSpec(name="native", tag=tag))
    before = snapshot(venv_of(target))
    (line,) = errors(cli("plan", wheel, "--python", target))
    python = "{}.{}".format(*sys.version_info[:2])
    assert line.startswith(f"{wheel.name}: is not compatible with the target, Python {python}: ")
    for part in ("Python", "ABI", "platform"):
        if part in named:
            given, taken = named[part]
            assert f"it takes no {part} tag {given} (but {taken}" in line, (part, line)
        else:
            assert f"{part} tag" not in line, (part, line)
    assert snapshot(venv_of(target)) == before


def test_each_problem_is_one_error_line_naming_the_wheel_and_path(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheels = built(
        tmp_path,
        WheelSpec(name="loose", files={"loose/x.py": Member("loose/x.py", b"", in_record=False)}),
        WheelSpec(name="left", files={"engine.py": b"left\n"}),
        WheelSpec(name="right", files={"engine.py": b"right\n"}),
    )
    missing = tmp_path / "missing.whl"
    before = snapshot(venv_of(target))
    assert errors(cli("plan", *wheels, missing, "--python", target)) == [
        f"{missing}: wheel file does not exist"
    ]
    purelib = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
    url = "https://files.example/six-1.17.0-py2.py3-none-any.whl"
    assert errors(cli("install", "requests", url, "--python", target)) == [
        "requests: wheel file does not exist (wheelplan installs wheel files and lock files;"
        " it does not look names up on an index)",
        f"{url}: not a wheel file: wheelplan reads local files (a pylock.toml's URLs are fetched)",
    ]
    assert errors(cli("plan", *wheels, "--python", target)) == [
        "loose-1.0-py3-none-any.whl: member 'loose/x.py' is not listed in RECORD"
    ]
    assert errors(cli("plan", *wheels[1:], "--python", target)) == [
        f"{purelib}/engine.py: different content from left (left-1.0-py3-none-any.whl),"
        " right (right-1.0-py3-none-any.whl); choose one with --prefer NAME"
    ]
    assert snapshot(venv_of(target)) == before


def test_python_defaults_to_the_active_virtual_environment(
    tmp_path: Path, target: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = built(tmp_path, APP)
    header = f"Plan for {venv_of(target)} "
    active = cli("plan", *wheels, env={"VIRTUAL_ENV": str(venv_of(target))})
    assert active.returncode == 0, active.stderr
    assert active.stdout.startswith(header)
    folder = cli("plan", *wheels, "--python", venv_of(target))
    assert folder.stdout == active.stdout

    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    assert not any((folder / ".venv/pyvenv.cfg").exists() for folder in outside.parents)
    refusal = [
        "--python: no target given, no virtual or conda environment is active and no .venv"
        " is in this folder or its parents"
    ]
    assert errors(cli("plan", *wheels, cwd=outside)) == refusal
    # An activated conda environment is taken as uv takes it; conda's base one is not.
    conda = {"CONDA_PREFIX": str(venv_of(target)), "CONDA_DEFAULT_ENV": "work"}
    assert cli("plan", *wheels, cwd=outside, env=conda).stdout == active.stdout
    for base in ("base", "root"):
        conda["CONDA_DEFAULT_ENV"] = base
        assert errors(cli("plan", *wheels, cwd=outside, env=conda)) == refusal
    conda["VIRTUAL_ENV"] = str(venv_of(target))
    assert cli("plan", *wheels, cwd=outside, env=conda).stdout == active.stdout
    # uv's rule: the .venv of the current folder or of its nearest parent, if a venv.
    project = tmp_path / "project"
    (project / "src/deep/.venv").mkdir(parents=True)  # no pyvenv.cfg: not a venv
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", project / ".venv"], check=True)
    found = cli("plan", *wheels, cwd=project / "src/deep")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(f"Plan for {project / '.venv'} ")
    nowhere = tmp_path / "no-such-env"
    assert errors(cli("plan", *wheels, "--python", nowhere)) == [
        f"{nowhere}: the target interpreter does not exist"
    ]


def test_python_may_be_a_command_or_a_version_on_path(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """As uv takes `--python python3` and `--python 3.12`: both were "does not exist"."""
    wheels = built(tmp_path, APP)
    commands = tmp_path / "commands"
    commands.mkdir()
    for name in ("python3.99", "mypython"):
        (commands / name).write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
        (commands / name).chmod(0o755)
    path = {"PATH": f"{commands}{os.pathsep}{os.environ['PATH']}"}
    for given in ("3.99", "mypython"):
        result = cli("plan", *wheels, "--python", given, env=path, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Plan for {venv_of(target)} ")
    # A file of that name in the current folder is taken first, as a path.
    (tmp_path / "mypython").write_text("not a program\n")
    assert errors(cli("plan", *wheels, "--python", "mypython", env=path, cwd=tmp_path)) == [
        f"{tmp_path / 'mypython'}: cannot run the target interpreter: Permission denied"
    ]
    assert errors(cli("plan", *wheels, "--python", "3.98", env=path, cwd=tmp_path)) == [
        "3.98: the target interpreter does not exist"
    ]
    assert errors(cli("plan", *wheels, "--python", "/etc/hostname/python")) == [
        "/etc/hostname/python: cannot run the target interpreter: Not a directory"
    ]


def test_an_input_given_where_another_kind_goes_says_where_it_goes(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A wheel, a lock file and a plan file given to the wrong command or option are
    refused as ever, with a hint from the file's name."""
    (wheel,) = built(tmp_path, APP)
    lock = tmp_path / "pylock.dev.toml"
    lock.write_text('lock-version = "1.0"\n')
    plan = tmp_path / "plan.json"
    assert cli("plan", wheel, "--python", target, "-o", plan).returncode == 0
    to_plan = "it looks like a wheel: give it to `wheelplan plan` or `wheelplan install`"
    to_lock = (
        "it looks like a lock file: give it to `wheelplan plan --lock` or"
        " `wheelplan install --lock`"
    )
    to_apply = "it looks like a plan file: give it to `wheelplan apply` or `wheelplan show`"
    misplaced = {
        ("apply", wheel): f"{wheel}: not a plan file (not UTF-8 text); {to_plan}",
        ("show", lock): f"{lock}: not a plan file (invalid JSON: ",
        ("plan", "--lock", wheel, "--python", target): f"{wheel}: not a lock file",
        ("plan", lock, "--python", target): "pylock.dev.toml: not a valid wheel file name",
        ("plan", plan, "--python", target): "plan.json: not a valid wheel file name",
    }
    hints = [to_plan, to_lock, to_plan, to_lock, to_apply]
    before = snapshot(venv_of(target))
    for (args, start), hint in zip(misplaced.items(), hints, strict=True):
        (line,) = errors(cli(*args))
        assert line.startswith(start) and line.endswith(f"; {hint}"), line
    assert snapshot(venv_of(target)) == before
    (line,) = errors(cli("apply", tmp_path / "notes.txt"))
    assert "looks like" not in line


@pytest.mark.parametrize("name", ["app-1.0.tar.gz", "app-1.0.zip"])
def test_a_source_distribution_given_says_how_to_make_its_wheel(
    tmp_path: Path, target: Path, cli: Cli, name: str
) -> None:
    """pip and uv build a wheel of an sdist given to `install`; wheelplan builds none,
    and said only that the file name must end in '.whl'."""
    sdist = tmp_path / "my sources" / name
    sdist.parent.mkdir()
    sdist.write_bytes(b"")
    (line,) = errors(cli("install", sdist, "--python", target))
    quoted = shlex.quote(str(sdist))
    assert line == (
        f"{name}: not a valid wheel file name: extension must be '.whl' (expected"
        " NAME-VERSION-PYTHONTAG-ABITAG-PLATFORMTAG.whl); it looks like a source"
        f" distribution: wheelplan builds no wheels; `pip wheel --no-deps {quoted}` or"
        f" `uv build --wheel {quoted}` makes one"
    )


def test_a_plan_or_lock_past_its_ceiling_is_refused_in_one_line(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """`/dev/zero` given as a plan or a lock file is read up to the ceiling and refused;
    read whole, it filled the memory and ended in a MemoryError traceback. A file one
    byte past the ceiling is refused the same way."""
    plan_too_big = "cannot read plan: it is larger than 256 MiB"
    lock_too_big = "cannot read lock file: it is larger than 64 MiB"
    before = snapshot(venv_of(target))
    assert errors(cli("show", "/dev/zero", memory=2 * 1024**3)) == [f"/dev/zero: {plan_too_big}"]
    lock_args = ("plan", "--lock", "/dev/zero", "--python", target)
    assert errors(cli(*lock_args, memory=2 * 1024**3)) == [f"/dev/zero: {lock_too_big}"]
    plan, lock = tmp_path / "plan.json", tmp_path / "pylock.toml"
    for path, size in ((plan, MAX_PLAN_BYTES), (lock, MAX_LOCK_BYTES)):
        with path.open("wb") as stream:
            stream.truncate(size + 1)  # sparse
    assert errors(cli("apply", plan)) == [f"{plan}: {plan_too_big}"]
    assert errors(cli("plan", "--lock", lock, "--python", target)) == [f"{lock}: {lock_too_big}"]
    assert snapshot(venv_of(target)) == before


# --- what the review reports ------------------------------------------------------------


def test_unmet_requirements_warn_and_strict_refuses(tmp_path: Path, target: Path, cli: Cli) -> None:
    wheels = built(
        tmp_path,
        WheelSpec(name="app", requires=("absent>=1", "lib<2", "elsewhere; sys_platform == 'none'")),
        WheelSpec(name="lib", version="2.5"),
    )
    result = cli("plan", *wheels, "--python", target)
    assert result.returncode == 0
    warnings = result.stdout.split("\nWarnings:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert warnings == [
        "  app requires absent>=1, which is not installed or planned",
        "  app requires lib<2, but lib 2.5 is planned or installed",
    ]
    assert sorted(errors(cli("plan", *wheels, "--python", target, "--strict"))) == [
        "--strict: app requires absent>=1, which is not installed or planned",
        "--strict: app requires lib<2, but lib 2.5 is planned or installed",
    ]
    # `install` prints no review, so it gives the review's warnings on stderr.
    result = cli("install", *wheels, "--python", target, "--no-cache", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"warning: {line.strip()}" for line in warnings]


def test_unmet_requirements_are_said_as_pip_says_them_in_one_order(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A requirement was said as METADATA spells it ('zeta (>=2)'), where pip's install
    says 'zeta>=2' (packaging's rendering); --strict refused in METADATA's order, where
    the warnings are sorted."""
    wheels = built(
        tmp_path,
        WheelSpec(
            name="app",
            requires=("zeta (>=2)", "lib (<2)", 'idna (<4,>=2.5) ; python_version >= "3"'),
        ),
        WheelSpec(name="lib", version="2.5"),
    )
    said = [
        'app requires idna<4,>=2.5; python_version >= "3", which is not installed or planned',
        "app requires lib<2, but lib 2.5 is planned or installed",
        "app requires zeta>=2, which is not installed or planned",
    ]
    result = cli("install", *wheels, "--python", target, "--no-cache", "--dry-run", "--quiet")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr.splitlines() == [f"warning: {line}" for line in said]
    strict = cli("plan", *wheels, "--python", target, "--strict")
    assert errors(strict) == [f"--strict: {line}" for line in said]


def test_a_cut_review_says_where_the_whole_list_is(tmp_path: Path, target: Path, cli: Cli) -> None:
    """The review's cut lists pointed at "the plan JSON", which a dry run does not write."""
    (wheel,) = built(
        tmp_path, WheelSpec(name="app", requires=tuple(f"absent{n:02}>=1" for n in range(12)))
    )
    plan = tmp_path / "my plan.json"

    def cut(*args: str | Path) -> str:
        result = cli(*args, "--python", target, "--no-cache")
        assert result.returncode == 0, result.stderr
        return result.stdout.split("\nWarnings:\n", 1)[1].splitlines()[10]

    assert cut("plan", wheel) == "  ... and 2 more warnings (--json prints them all)"
    assert cut("plan", wheel, "-o", plan) == f"  ... and 2 more warnings (see '{plan}')"
    shown = cli("show", plan)
    assert shown.returncode == 0, shown.stderr
    assert f"  ... and 2 more warnings (see '{plan}')\n" in shown.stdout
    assert len(loads(plan.read_bytes(), str(plan)).warnings) == 12


def test_a_cut_install_dry_run_points_at_a_plan_command_that_runs(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """An install's dry run pointed at "`wheelplan plan` with the same arguments and
    --json", which `plan` refuses: it takes no --dry-run, nor an apply's options. The
    command names the plan options given, the cache's too, each once, paths absolute
    and quoted, and no option left at its default."""
    (wheel,) = built(
        tmp_path / "my wheels",
        WheelSpec(name="app", requires=tuple(f"absent{n:02}>=1" for n in range(12))),
    )
    apply_options = ["--compile-bytecode", "--jobs", "2", "--link-mode", "copy", "--fsync"]
    plan_options = ["--prefer", "App", "--cache-dir", "my cache", "--max-ratio", "200"]
    result = cli(
        "install",
        *(wheel.name, "--python", target, *plan_options, "--dry-run", *apply_options),
        cwd=wheel.parent,
    )
    assert result.returncode == 0, result.stderr
    left_out, shown = _pointed(result.stdout.split("\nWarnings:\n", 1)[1], tmp_path)
    assert (left_out, len(shown["warnings"])) == (2, 12)
    assert [dist["name"] for dist in shown["distributions"]] == ["app"]
    command = re.search(r"\(`(.+)` prints them all\)", result.stdout)
    assert command is not None
    assert shlex.split(command[1]) == [
        *("wheelplan", "plan", str(wheel), "--prefer", "app"),
        *(
            "--cache-dir",
            str(wheel.parent / "my cache"),
            "--python",
            shown["target"]["interpreter"],
        ),
        "--json",
    ]


def _pointed(review: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """How many entries of its one cut list a review leaves out, and the plan its
    pointer prints, run as printed: from a folder with no .venv near, with another venv
    active, as a user pasting it into another shell would."""
    (cut,) = [line for line in review.splitlines() if line.startswith("  ... and ")]
    pointed = re.fullmatch(r"  \.\.\. and (\d+) more \w+ \(`(.+)` prints them all\)", cut)
    assert pointed is not None, cut
    command = shlex.split(pointed[2])
    assert command[:2] == ["wheelplan", "plan"], cut
    elsewhere = tmp_path / "elsewhere"
    active = make_env(elsewhere / "active").parent.parent
    shown = run_cli(*command[1:], cwd=elsewhere, env={"VIRTUAL_ENV": str(active)})
    assert shown.returncode == 0, shown.stderr
    return int(pointed[1]), json.loads(shown.stdout)


@pytest.mark.parametrize("where", ["venv", "--target", "--prefix", "managed"])
def test_a_cut_removal_review_says_how_to_see_the_whole_list(
    tmp_path: Path, target: Path, cli: Cli, where: str
) -> None:
    """An uninstall's dry run pointed at `wheelplan plan` with --json, which plans no
    removal without the names given again as --remove; and it named no target, so the
    command printed planned for whatever environment was active where it was run (or
    was refused there, for a Python another package manager owns)."""
    files = {f"app/m{n:02}.py": b"" for n in range(14)}
    (wheel,) = built(tmp_path, WheelSpec(name="app", files=files))
    if where == "managed":
        system = make_system_python(tmp_path / "system")
        mark(system)
        options = ["--python", str(system), "--break-system-packages"]
    elif where == "venv":
        options = ["--python", str(target)]
    else:
        options = [where, str(tmp_path / "my dir")]
    assert cli("install", wheel, *options, "--no-cache").returncode == 0
    result = cli("uninstall", "App", "--dry-run", *options)
    assert result.returncode == 0, result.stderr
    left_out, shown = _pointed(result.stdout, tmp_path)
    # Each option once: the folder and --break-system-packages given are the plan's.
    named = options[:2] if where in ("--target", "--prefix") else []
    python = ["--python", shown["target"]["interpreter"]]
    managed = ["--break-system-packages"] if where == "managed" else []
    (command,) = re.findall(r"\(`(.+)` prints them all\)", result.stdout)
    assert shlex.split(command) == [
        *("wheelplan", "plan", "--remove", "app", "--no-cache", *named, *python, *managed, "--json")
    ]
    removals = [entry for entry in shown["files"] if entry["action"] == "remove"]
    assert len(removals) > 14  # the modules and the metadata
    assert left_out == len(removals) - 10
    assert [(dist["name"], dist["action"]) for dist in shown["distributions"]] == [
        ("app", "remove")
    ]


def test_a_cut_sync_review_with_no_wheels_points_at_a_plan_that_syncs_too(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """`install --sync --remove NAME` with no wheels removes everything installed; its
    dry run pointed at `wheelplan plan --remove NAME --json`, which removes NAME alone."""
    files = {f"app/m{n:02}.py": b"" for n in range(14)}
    wheels = built(tmp_path, WheelSpec(name="app", files=files), WheelSpec(name="other"))
    assert cli("install", *wheels, "--python", target, "--no-cache").returncode == 0
    result = cli("install", "--sync", "--remove", "Other", "--dry-run", "--python", target)
    assert result.returncode == 0, result.stderr
    left_out, shown = _pointed(result.stdout, tmp_path)
    removals = [entry for entry in shown["files"] if entry["action"] == "remove"]
    assert left_out == len(removals) - 10
    assert {dist["name"] for dist in shown["distributions"]} == {"app", "other"}


def test_what_a_venv_imports_from_its_system_site_packages_meets_requirements(
    tmp_path: Path, cli: Cli
) -> None:
    """pip counts a --system-site-packages venv's base distributions as installed."""
    system = make_system_python(tmp_path / "system")
    (dep,) = built(tmp_path / "dep", WheelSpec(name="Dep_Lib", version="2.0"))
    assert cli("install", dep, "--python", system, "--no-cache", "--quiet").returncode == 0
    wheels = built(
        tmp_path,
        WheelSpec(name="app", requires=("dep-lib>=2",)),
        WheelSpec(name="newer", requires=("dep-lib>=3",)),
    )
    shared, plain = tmp_path / "shared", tmp_path / "plain"
    for venv, options in ((shared, ["--system-site-packages"]), (plain, [])):
        subprocess.run([system, "-m", "venv", "--without-pip", *options, venv], check=True)
    result = cli(
        "plan", wheels[0], "--python", shared, "--strict", "--no-cache", "-o", tmp_path / "p"
    )
    assert result.returncode == 0, result.stderr
    assert "install    app 1.0" in result.stdout and "Dep" not in result.stdout
    assert errors(cli("plan", wheels[1], "--python", shared, "--strict", "--no-cache")) == [
        "--strict: newer requires dep-lib>=3, but dep-lib 2.0 is planned or installed"
    ]
    assert errors(cli("plan", wheels[0], "--python", plain, "--strict", "--no-cache")) == [
        "--strict: app requires dep-lib>=2, which is not installed or planned"
    ]
    # Nor does an uninstall in the venv touch it; it says where it is, as pip does.
    kept = cli("uninstall", "Dep_Lib", "--python", shared)
    assert (kept.returncode, kept.stderr) == (
        0,
        "warning: dep-lib: not installed in the target (dep-lib 2.0, which it imports, is"
        " installed outside it); nothing to remove\n",
    )


def test_case_only_differences_and_newer_wheel_minor_versions_warn(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheels = built(
        tmp_path,
        WheelSpec(name="upper", files={"Data/Table.txt": b"1"}),
        WheelSpec(name="lower", files={"data/table.txt": b"2"}),
        WheelSpec(name="newer", wheel_text="Wheel-Version: 1.3\nRoot-Is-Purelib: true\n"),
    )
    result = cli("plan", *wheels, "--python", target)
    assert result.returncode == 0, result.stderr
    assert "differ only by case and will collide on case-insensitive filesystems" in result.stdout
    assert "newer-1.0-py3-none-any.whl: Wheel-Version 1.3 is newer than 1.0" in result.stdout


def test_one_wheels_members_differing_only_by_case_are_warned_of_once(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    (wheel,) = built(tmp_path, WheelSpec(name="pair", files={"pair/A.py": b"1", "pair/a.py": b"2"}))
    result = cli("plan", wheel, "--python", target)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if "differ only by case" in line] == [
        "  pair-1.0-py3-none-any.whl: members 'pair/A.py' and 'pair/a.py' differ only by case:"
        " both are installed, but they would overwrite each other on a case-insensitive"
        " filesystem"
    ]


def test_one_wheels_pair_differing_only_by_case_is_warned_of_once_beside_a_winner(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """Another wheel preferred on one of the pair's paths leaves the pair its reader
    warned of: the plan does not warn of it again."""
    pair, winner = built(
        tmp_path,
        WheelSpec(name="pair", files={"pkg/Readme.txt": b"1", "pkg/README.txt": b"2"}),
        WheelSpec(name="winner", files={"pkg/README.txt": b"3"}),
    )
    result = cli("plan", pair, winner, "--prefer", "winner", "--python", target)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if "differ only by case" in line] == [
        "  pair-1.0-py3-none-any.whl: members 'pkg/README.txt' and 'pkg/Readme.txt' differ only"
        " by case: both are installed, but they would overwrite each other on a"
        " case-insensitive filesystem"
    ]


def test_a_newer_wheel_major_version_is_refused(tmp_path: Path, target: Path, cli: Cli) -> None:
    (wheel,) = built(
        tmp_path, WheelSpec(name="future", wheel_text="Wheel-Version: 2.0\nRoot-Is-Purelib: true\n")
    )
    assert errors(cli("plan", wheel, "--python", target)) == [
        "future-1.0-py3-none-any.whl: Wheel-Version 2.0 is newer than this installer supports (1.x)"
    ]


def test_requires_python_is_checked_against_the_target(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """pip and uv refuse a wheel whose Requires-Python leaves out the target's Python;
    like pip, wheelplan plans it with --ignore-requires-python, and does not check a
    Requires-Python that is not a version specifier."""
    version = subprocess.check_output(
        [target, "-c", "import platform; print(platform.python_version())"], text=True
    ).strip()
    major, minor = (int(part) for part in version.split(".")[:2])
    wheels = built(
        tmp_path,
        WheelSpec(name="newer", requires_python=f">={major}.{minor + 1}"),
        WheelSpec(name="older", requires_python=f"<{major}.{minor}"),
        WheelSpec(name="fits", requires_python=f">={major}.{minor}, !={major}.{minor - 1}.*"),
        WheelSpec(name="garbled", requires_python=">=3.x!!"),
        # A valid spelling, but more digits than a version comparison can read.
        WheelSpec(name="huge", requires_python="==" + "1" * 5000),
    )
    before = snapshot(venv_of(target))
    assert errors(cli("plan", *wheels, "--python", target, "--no-cache")) == [
        f"{name}-1.0-py3-none-any.whl: requires Python {needs}; the target is Python {version}"
        " (--ignore-requires-python plans it anyway)"
        for name, needs in (("newer", f">={major}.{minor + 1}"), ("older", f"<{major}.{minor}"))
    ]
    assert snapshot(venv_of(target)) == before
    garbled = "garbled-1.0-py3-none-any.whl: METADATA Requires-Python '>=3.x!!' is not a valid"
    result = cli("plan", *wheels[2:], "--python", target, "--no-cache", "--json")
    assert "install    " not in result.stdout  # --json: the plan itself
    plan = planned(result)
    assert [dist.name for dist in plan.distributions] == ["fits", "garbled", "huge"]
    huge = f"huge-1.0-py3-none-any.whl: METADATA Requires-Python '=={'1' * 5000}' is not a valid"
    assert len(plan.warnings) == 2
    assert [
        warning[: len(expected)]
        for warning, expected in zip(plan.warnings, [garbled, huge], strict=True)
    ] == [garbled, huge]
    result = cli("install", *wheels, "--python", target, "--no-cache", "--ignore-requires-python")
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: newer-1.0-py3-none-any.whl: requires Python >={major}.{minor + 1}; the"
        f" target is Python {version} (planned: --ignore-requires-python)"
    ) in result.stderr.splitlines()
    site = subprocess.check_output(
        [target, "-c", "import importlib.metadata as m; print(m.version('newer'))"], text=True
    )
    assert site == "1.0\n"


def test_data_and_entry_points_land_where_the_target_says(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    data = "spread-1.0.data"
    (wheel,) = built(
        tmp_path,
        WheelSpec(
            name="spread",
            files={
                f"{data}/purelib/spread_pure.py": b"",
                f"{data}/platlib/spread_native.py": b"",
                f"{data}/headers/spread.h": b"",
                f"{data}/scripts/spread-sh": b"#!python\n",
                f"{data}/data/share/spread.txt": b"",
            },
            entry_points="[console_scripts]\nspread = spread_pure:main\n",
        ),
    )
    plan = planned(cli("plan", wheel, "--python", target, "--json"))
    schemes = plan.target.schemes
    version = "{}.{}".format(*sys.version_info[:2])
    assert schemes["scripts"] == "bin" and schemes["data"] == ""
    assert schemes["headers"] == f"include/site/python{version}"
    members = {e.source.member: e.path for e in plan.files if e.source and e.source.member}
    assert {member: path for member, path in members.items() if member.startswith(data)} == {
        f"{data}/purelib/spread_pure.py": f"{schemes['purelib']}/spread_pure.py",
        f"{data}/platlib/spread_native.py": f"{schemes['platlib']}/spread_native.py",
        f"{data}/headers/spread.h": f"include/site/python{version}/spread/spread.h",
        f"{data}/scripts/spread-sh": "bin/spread-sh",
        f"{data}/data/share/spread.txt": "share/spread.txt",
    }
    script = plan.file_map()["bin/spread"].source
    assert script is not None and script.kind == "inline" and script.content is not None
    assert script.content.startswith(f"#!{plan.target.interpreter}\n")
    assert plan.target.interpreter == str(target)


def test_the_review_of_five_wheels_fits_on_one_screen(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheels = built(
        tmp_path,
        *(
            WheelSpec(
                name=f"part{n}",
                files={
                    "ns/__init__.py": SHARED,
                    "ns/engine.py": bytes([48 + n]),
                    f"ns/p{n}.py": b"",
                },
                entry_points=f"[console_scripts]\npart{n} = ns.p{n}:main\n",
            )
            for n in range(5)
        ),
    )
    result = cli("plan", *wheels, "--python", target, "--prefer", "part3")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) <= 24, result.stdout


# --- the target's current state ---------------------------------------------------------


def test_installed_files_in_the_way_are_refused_and_the_target_kept(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    install_with_installer(PLUGIN, tmp_path, target)
    purelib = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
    (venv_of(target) / purelib / "stray.py").write_bytes(b"# nobody's\n")
    before = snapshot(venv_of(target))
    wheels = built(
        tmp_path,
        WheelSpec(name="rival", files={"ns/__init__.py": b"# another\n", "stray.py": b""}),
    )
    assert errors(cli("plan", *wheels, "--python", target)) == [
        f"{purelib}/ns/__init__.py: plugin 1.0 (installed) has different content than"
        " rival (rival-1.0-py3-none-any.whl); upgrade or remove plugin too, or --prefer rival,"
        " or --prefer plugin to keep its file",
        f"{purelib}/stray.py: exists in the target and belongs to no distribution;"
        " planned by rival (rival-1.0-py3-none-any.whl); remove or move it if nothing"
        " needs it, then plan again",
    ]
    assert snapshot(venv_of(target)) == before

    # The same bytes are shared with the installed owner instead.
    plan = planned(cli("plan", *built(tmp_path, APP), "--python", target, "--json"))
    entry = plan.file_map()[f"{purelib}/ns/__init__.py"]
    assert (entry.action, entry.owners) == ("replace", ("app", "plugin"))


def test_removing_what_an_installed_distribution_needs_is_reported(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    install_with_installer(WheelSpec(name="core", version="1.2"), tmp_path, target)
    install_with_installer(WheelSpec(name="user", requires=("core>=1.0",)), tmp_path, target)
    wheels = built(tmp_path, WheelSpec(name="other"))
    result = cli("plan", *wheels, "--remove", "core", "--python", target)
    assert result.returncode == 0, result.stderr
    assert (
        "  user 1.0 (installed) requires core>=1.0, which is not installed or planned"
        in result.stdout
    )
    assert errors(cli("plan", *wheels, "--remove", "core", "--python", target, "--strict")) == [
        "--strict: user 1.0 (installed) requires core>=1.0, which is not installed or planned"
    ]
    downgrade = built(tmp_path, WheelSpec(name="core", version="0.9"))
    result = cli("plan", *downgrade, "--python", target)
    assert (
        "  user 1.0 (installed) requires core>=1.0, but core 0.9 is planned or installed"
        in result.stdout
    )


def test_the_same_wheel_already_installed_is_unchanged(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    install_with_installer(APP, tmp_path, target)
    (wheel,) = built(tmp_path, APP)
    plan = planned(cli("plan", wheel, "--python", target, "--json"))
    assert [(d.name, d.action) for d in plan.distributions] == [("app", "unchanged")]
    assert (plan.files, plan.units) == ((), ())
    again = planned(cli("plan", wheel, "--python", target, "--json", "--reinstall"))
    assert [(d.name, d.action) for d in again.distributions] == [("app", "reinstall")]
    forced = planned(cli("plan", wheel, "--python", target, "--json", "--force-reinstall"))
    assert forced.distributions == again.distributions
    purelib = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
    assert again.file_map()[f"{purelib}/app/__init__.py"].action == "replace"


def test_a_listed_file_past_path_max_is_refused_not_left_behind(
    tmp_path: Path, target: Path, deep_tree: DeepTree
) -> None:
    """A RECORD row whose path is longer than the system takes cannot be looked up: it
    was taken as absent, and a plan removing its distribution left that file behind."""
    wheel = build_wheel(WheelSpec("olddata", files={"olddata/a.py": b"A = 1\n"}), tmp_path)
    assert run_cli("install", wheel, "--python", target, "--quiet").returncode == 0
    (site,) = (target.parent.parent / "lib").glob("python3.*/site-packages")
    far = "olddata/" + deep_tree(site / "olddata", LONG_DEPTH, LONG)
    with (site / "olddata-1.0.dist-info" / "RECORD").open("a") as record:
        record.write(f"{far},{record_hash(b'')},0\n")
    result = run_cli("plan", "--remove", "olddata", "--python", target, "-o", tmp_path / "p")
    relative = f"{site.relative_to(target.parent.parent)}/{far}"
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith(f"error: {relative}: cannot tell whether it exists: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "p").exists()


def test_a_name_utf8_cannot_spell_is_refused_in_a_plan_file_and_installs_without_one(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A name on disk may be any bytes; a plan file is UTF-8 JSON. Writing a plan that
    named one ended in a UnicodeEncodeError traceback (-o and --json alike)."""
    site = next(venv_of(target).glob("lib/python*/site-packages"))
    egg_info = site / "odd-1.0.egg-info"
    egg_info.mkdir()
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: odd\nVersion: 1.0\n")
    (egg_info / "installed-files.txt").write_text("")
    odd = os.fsencode(egg_info) + b"/\xff\xfe.txt"
    with open(odd, "wb"):
        pass
    before = snapshot(venv_of(target))
    plan = tmp_path / "plan.json"
    shown = f"{os.fsdecode(odd)!r}"[1:-1]  # as the error line escapes it
    for output in (["-o", plan], ["--json"]):
        result = cli("plan", "--remove", "odd", "--python", target, *output)
        assert errors(result) == [
            f"{shown}: the name is not valid UTF-8, which a plan file cannot hold"
            " (`wheelplan install` and `uninstall` need no plan file)"
        ]
    assert not plan.exists()
    assert snapshot(venv_of(target)) == before
    result = cli("uninstall", "odd", "--python", target, "--quiet")
    assert result.returncode == 0, result.stderr
    assert not os.path.lexists(odd) and not egg_info.exists()
    # A target folder of such a name, likewise.
    (wheel,) = built(tmp_path, APP)
    folder = os.fsdecode(os.fsencode(tmp_path) + b"/t\xff")
    result = cli("plan", wheel, "--target", folder, "-o", plan)
    assert len(errors(result)) == 1 and "is not valid UTF-8" in result.stderr
    assert not plan.exists()


def test_a_target_whose_path_holds_a_line_break_is_refused_before_a_plan_is_written(
    tmp_path: Path, cli: Cli
) -> None:
    """Every apply refuses such a plan (a line break in a shebang runs a command): `plan`
    wrote it all the same, and only `apply` said no."""
    (wheel,) = built(tmp_path, APP)
    env = tmp_path / "e\nv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    before = snapshot(env)
    plan = tmp_path / "plan.json"
    interpreter = env / "bin" / "python"
    result = cli("plan", wheel, "--python", interpreter, "-o", plan)
    shown = repr(str(interpreter))
    assert errors(result) == [
        f"{shown[1:-1]}: target interpreter {shown} is not an absolute path without"
        " control characters",
        f"{str(env)!r}"[1:-1] + f": target prefix {str(env)!r} contains a NUL or control character",
    ]
    assert not plan.exists()
    folder = tmp_path / "t\rt"
    result = cli("install", wheel, "--target", folder)
    assert len(errors(result)) == 1 and "contains a NUL or control character" in result.stderr
    assert not folder.exists()
    assert snapshot(env) == before
    assert cli("verify", "--python", interpreter).returncode == 0


def test_an_interpreter_path_utf8_cannot_spell_is_refused_in_one_line(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """A shebang line holds the interpreter's path as UTF-8 (pip refuses one that is
    not); writing the scripts of such a target ended `install` in a traceback."""
    (wheel,) = built(tmp_path, APP)
    moved = os.fsencode(tmp_path) + b"/bad\xffenv"
    subprocess.run(["cp", "-a", os.fsencode(venv_of(target)), moved], check=True)
    interpreter = os.fsdecode(moved) + "/bin/python"
    before = snapshot(Path(os.fsdecode(moved)))
    result = cli("install", wheel, "--python", interpreter)
    assert errors(result) == [
        f"{interpreter!r}"[1:-1] + f": target interpreter {interpreter!r} is not valid UTF-8,"
        " as a shebang line must be"
    ]
    assert snapshot(Path(os.fsdecode(moved))) == before
