"""Scripts the applier writes run: entry-point wrappers and `#!python` scripts from
`.data/scripts`, also when the interpreter's path has a space or is too long for a
kernel shebang line (the /bin/sh exec form)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import exact_snapshot, make_env
from tests.wheelfactory import Member, WheelSpec, build_wheel

CLI = b"""\
import sys


def echo():
    print("echo:", " ".join(sys.argv[1:]))
    return 0


def answer():
    return 7


def message():
    return "a message from the entry point"


class Greeter:
    @staticmethod
    def greet():
        print("hello from a nested attribute")
"""

ENTRY_POINTS = """\
[console_scripts]
tool-echo = tool.cli:echo
tool-answer = tool.cli:answer
tool-message = tool.cli:message
tool-greet = tool.cli:Greeter.greet
[gui_scripts]
tool-gui = tool.cli:echo
"""


def tool_wheel(directory: Path) -> Path:
    data = "tool-1.0.data/scripts"
    return build_wheel(
        WheelSpec(
            "tool",
            files={
                "tool/__init__.py": b"",
                "tool/cli.py": CLI,
                # Stored without exec bits: scripts are executable all the same.
                f"{data}/tool-data": Member(
                    f"{data}/tool-data", b"#!python\nimport sys\nprint('data script', sys.prefix)\n"
                ),
                f"{data}/tool-dataw": Member(
                    f"{data}/tool-dataw", b"#!pythonw\r\nprint('windowed data script')\n", 0o755
                ),
                f"{data}/tool-sh": Member(f"{data}/tool-sh", b"#!/bin/sh\necho plain shell\n"),
                # setuptools' own wrapper for an entry point: pip skips it, and so do we.
                f"{data}/tool-echo": Member(
                    f"{data}/tool-echo", b"#!python\nprint('stale wrapper')\n", 0o755
                ),
            },
            entry_points=ENTRY_POINTS,
        ),
        directory,
    )


def run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=60, check=False
    )


def check_scripts(env: Path) -> None:
    bin_dir = env / "bin"
    echo = run(bin_dir / "tool-echo", "a", "b c")
    assert (echo.returncode, echo.stdout) == (0, "echo: a b c\n"), echo.stderr
    assert run(bin_dir / "tool-answer").returncode == 7
    message = run(bin_dir / "tool-message")
    assert (message.returncode, message.stderr) == (1, "a message from the entry point\n")
    assert run(bin_dir / "tool-greet").stdout == "hello from a nested attribute\n"
    assert run(bin_dir / "tool-gui", "x").stdout == "echo: x\n"
    data = run(bin_dir / "tool-data")
    assert (data.returncode, data.stdout) == (0, f"data script {env}\n"), data.stderr
    assert run(bin_dir / "tool-dataw").stdout == "windowed data script\n"
    assert run(bin_dir / "tool-sh").stdout == "plain shell\n"
    for name in ("tool-echo", "tool-data", "tool-dataw", "tool-sh", "tool-gui"):
        assert (bin_dir / name).stat().st_mode & 0o777 == 0o755, name


def test_scripts_run_in_a_plain_environment(
    tmp_path: Path, target: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    completed = cli("install", "--python", target, tool_wheel(tmp_path / "wheels"))
    assert completed.returncode == 0, completed.stderr
    env = target.parent.parent
    check_scripts(env)
    # `#!python` became the target interpreter; other shebangs are left alone.
    assert (env / "bin/tool-data").read_bytes().startswith(f"#!{target}\n".encode())
    assert (env / "bin/tool-dataw").read_bytes() == (
        f"#!{target}\nprint('windowed data script')\n".encode()
    )
    assert (env / "bin/tool-sh").read_bytes() == b"#!/bin/sh\necho plain shell\n"


@pytest.mark.parametrize(
    "folder",
    ["with a space", "long-" + "x" * 130],
    ids=["space", "longer-than-127-bytes"],
)
def test_scripts_run_when_the_interpreter_path_needs_the_sh_form(
    tmp_path: Path, folder: str, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    interpreter = make_env(tmp_path / folder / "env")
    assert " " in str(interpreter) or len(str(interpreter)) > 127
    completed = cli("install", "--python", interpreter, tool_wheel(tmp_path / "wheels"))
    assert completed.returncode == 0, completed.stderr
    env = interpreter.parent.parent
    for name in ("tool-echo", "tool-data"):
        assert (env / "bin" / name).read_bytes().startswith(b"#!/bin/sh\n'''exec' ")
    check_scripts(env)


@pytest.mark.parametrize("name", ["../escape", "sub/dir", ".."])
def test_a_script_name_that_is_not_a_file_name_is_refused(
    tmp_path: Path,
    target: Path,
    cli: Callable[..., subprocess.CompletedProcess[str]],
    name: str,
) -> None:
    wheel = build_wheel(
        WheelSpec(
            "bad",
            files={"bad/__init__.py": b"def main():\n    pass\n"},
            entry_points=f"[console_scripts]\n{name} = bad:main\n",
        ),
        tmp_path / "wheels",
    )
    env = target.parent.parent
    before = exact_snapshot(env)
    completed = cli("install", "--python", target, wheel)
    assert completed.returncode == 1
    lines = completed.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), completed.stderr
    assert any(name in line for line in lines)
    assert "Traceback" not in completed.stderr
    assert exact_snapshot(env) == before
