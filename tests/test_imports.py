"""Each command imports only what it uses: `apply` reads no wheel and parses nothing
installed, so it imports neither installer nor packaging (nor the email package they
parse metadata with), and `plan` imports none of the applier's writing machinery.

Every import is some milliseconds of each short-lived process. What the applier takes
from the planner's side in their place is checked here to agree with the original.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from installer.scripts import Script
from packaging.utils import canonicalize_name

from applier.projectnames import canonical_name, project_of
from planner.installedstate import installed_state_at
from planner.shebang import shebang
from planner.target import probe
from tests.conftest import REPO
from tests.wheelfactory import Member, WheelSpec, build_wheel

Cli = Callable[..., subprocess.CompletedProcess[str]]

# Runs the command line in this process, then writes the name of every module it imported.
_LIST_MODULES = """\
import sys
from wheelplan.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as stream:
    stream.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""
WHEEL_READING = {"installer", "packaging", "email"}
APPLYING_ONLY = {
    "applier.apply",
    "applier.bytecode",
    "applier.inflate",
    "applier.journal",
    "applier.journalreader",
    "applier.lock",
    "applier.preflight",
    "applier.records",
    "applier.recovery",
    "applier.streams",
    "applier.unitwriter",
    "applier.validate",
    "applier.workers",
    "isal",
}


def imported_by(tmp_path: Path, *args: str | os.PathLike[str]) -> set[str]:
    """Every module a fresh `wheelplan ARGS` process imported, with each package's name."""
    listing = tmp_path / "modules.txt"
    completed = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, listing, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert completed.returncode == 0, completed.stderr
    names = set(listing.read_text().splitlines())
    return names | {name.partition(".")[0] for name in names}


def test_apply_imports_no_wheel_reader_and_plan_no_applier(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    env = target.parent.parent
    wheels = tmp_path / "wheels"
    # Something is installed already: the apply digests its file lists without parsing it.
    before = build_wheel(WheelSpec("before", files={"before/__init__.py": b""}), wheels)
    installed = cli("install", "--python", target, "--quiet", before)
    assert installed.returncode == 0, installed.stderr
    # A `#!python` script takes the shebang line, an entry point a generated script.
    script = "tool-1.0.data/scripts/tool-data"
    tool = WheelSpec(
        "tool",
        files={
            "tool/__init__.py": b"def main():\n    return 0\n",
            script: Member(script, b"#!python\nprint('data script')\n", 0o755),
        },
        entry_points="[console_scripts]\ntool = tool:main\n",
    )
    plan = tmp_path / "plan.json"

    planning = imported_by(
        tmp_path, "plan", build_wheel(tool, wheels), "--python", target, "-o", plan
    )
    assert "planner.wheels" in planning  # the listing does see what a command imports
    assert planning & APPLYING_ONLY == set()

    applying = imported_by(tmp_path, "apply", plan, "--quiet")
    assert "applier.workers" in applying
    assert applying & WHEEL_READING == set()
    # The journal's backup id comes from os.urandom: `secrets` brings `random` and `hmac`.
    assert "secrets" not in applying
    assert (env / "bin/tool-data").read_bytes() == f"#!{target}\nprint('data script')\n".encode()
    assert (env / "bin/tool").read_bytes().startswith(f"#!{target}\n".encode())

    # Recovering needs the journal's modules (written, read back, rolled back) and the
    # lock; neither it nor verifying writes files.
    journal = {"applier.journal", "applier.journalreader", "applier.recovery"}
    writing = APPLYING_ONLY - journal - {"applier.lock"}
    recovering = imported_by(tmp_path, "recover", "--python", target)
    assert journal <= recovering
    assert recovering & writing == set()
    assert imported_by(tmp_path, "verify", "--python", target) & writing == set()


@pytest.mark.parametrize(
    "interpreter",
    [
        "/usr/bin/python3",
        "/opt/with space/bin/python",
        "/opt/it's/a b/python",
        "/opt/naïve/bin/python",
        "/" + "x" * 123,  # 124 bytes: the longest a kernel shebang line holds
        "/" + "x" * 124,
        "/" + "é" * 62,  # 125 bytes in 63 characters
    ],
)
def test_the_applier_writes_installers_shebang(interpreter: str) -> None:
    """The applier's `#!python` scripts start as the planner's entry-point scripts do."""
    expected = Script("", "", "", "console")._build_shebang(interpreter, forlauncher=False)
    assert shebang(interpreter) == expected


def test_the_applier_reads_the_installed_state_as_the_planner_does(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    wheels = [
        build_wheel(WheelSpec(name, files={f"{name}/__init__.py": b""}), tmp_path / "wheels")
        for name in ("one", "two")
    ]
    installed = cli("install", "--python", target, "--quiet", *wheels)
    assert installed.returncode == 0, installed.stderr
    info = probe(str(target))
    assert {item.name for item in info.installed} == {"one", "two"}
    assert installed_state_at(info.prefix, info.schemes) == info.installed_state


def test_apply_compares_a_metadata_folder_spelled_otherwise_by_packagings_names_alone(
    tmp_path: Path, target: Path
) -> None:
    """A `.dist-info` spelled as older wheels spell it (`PyYAML-6.0.1`) is compared with
    its distribution's name by packaging, without the wheel reader's modules."""
    spec = WheelSpec("PyYAMLish", files={"yamlish/__init__.py": b""})
    plan = tmp_path / "plan.json"
    planning = imported_by(
        tmp_path, "plan", build_wheel(spec, tmp_path / "wheels"), "--python", target, "-o", plan
    )
    assert "planner.distinfo" in planning
    applying = imported_by(tmp_path, "apply", plan, "--quiet")
    assert "packaging.version" in applying  # the comparison was made
    assert applying & {"installer", "email", "planner.distinfo"} == set()
    site = target.parent.parent / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert (site / "site-packages" / "PyYAMLish-1.0.dist-info" / "RECORD").is_file()


def test_an_upgrade_apply_tells_whose_record_it_removes_without_packaging(
    tmp_path: Path, target: Path, cli: Cli
) -> None:
    """An apply checks that the RECORD it removes is a distribution the plan says goes,
    by its folder's name; for a name spelled as nearly every one is, without packaging
    (installer's RECORD reader, which reads the installed lists, comes without it)."""
    wheels = tmp_path / "wheels"
    old = build_wheel(WheelSpec("up_grade", files={"up_grade/__init__.py": b""}), wheels)
    installed = cli("install", "--python", target, "--quiet", old)
    assert installed.returncode == 0, installed.stderr
    new = WheelSpec("up_grade", version="2.0", files={"up_grade/__init__.py": b"v = 2\n"})
    plan = tmp_path / "plan.json"
    imported_by(tmp_path, "plan", build_wheel(new, wheels), "--python", target, "-o", plan)
    applying = imported_by(tmp_path, "apply", plan, "--quiet")
    assert "installer.records" in applying  # the installed RECORD was read
    assert "packaging" not in applying
    site = target.parent.parent / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert (site / "site-packages" / "up_grade-2.0.dist-info" / "RECORD").is_file()
    assert not (site / "site-packages" / "up_grade-1.0.dist-info").exists()


@given(st.from_regex(r"[A-Za-z0-9._\-]{1,12}", fullmatch=True))
def test_a_metadata_folder_names_its_project_as_packaging_canonicalises_it(name: str) -> None:
    assert canonical_name(name) == canonicalize_name(name)  # a display name's too
    assert project_of(f"lib/site/{name}-1.0.dist-info") == canonicalize_name(name)
    egg = name.replace("-", "_")  # an .egg-info's name holds no "-"
    assert project_of(f"lib/site/{egg}-1.0-py3.11.egg-info") == canonicalize_name(egg)
