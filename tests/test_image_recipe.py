"""The README's image-build steps, run as written (with temporary folders for the
image paths), then the runtime stage's copy, so the documented recipe cannot rot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.imagetools import LockPackage, wheel_entry, write_pylock
from tests.wheelfactory import WheelSpec, build_wheel

MARKER = "<!-- image-build-steps: run by tests/test_image_recipe.py -->"


def readme_steps() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(MARKER) + r"\n```sh\n(.*?)\n```", text, re.DOTALL)
    assert found, "the README lost its image-build steps"
    return [line for line in found.group(1).splitlines() if line.strip()]


def test_the_readme_image_recipe_runs(tmp_path: Path) -> None:
    steps = readme_steps()
    for needed in ("wheelplan plan --lock", "apply plan.json --root /stage", "wheelplan verify"):
        assert any(needed in step for step in steps), needed
    wheels = tmp_path / "wheels"
    app = build_wheel(
        WheelSpec(
            "app",
            files={"app/__init__.py": b"def main():\n    print('running in the image')\n"},
            entry_points="[console_scripts]\napp = app:main\n",
        ),
        wheels,
    )
    work = tmp_path / "work"
    work.mkdir()
    write_pylock(
        work / "pylock.toml", [LockPackage("app", wheels=(wheel_entry(app, path=str(app)),))]
    )
    venv, stage = tmp_path / "opt" / "venv", tmp_path / "stage"
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "wheelplan").exists(), "wheelplan is not installed beside this Python"
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("VIRTUAL_ENV", None)
    environment.pop("CONDA_PREFIX", None)
    for step in steps:
        command = step.replace("/opt/venv", str(venv)).replace("/stage", str(stage))
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"
        assert "error:" not in done.stderr
    assert not (venv / "bin" / "app").exists(), "the build wrote into the real prefix"

    # The runtime stage: COPY the venv (already at its path here), then COPY /stage/ /.
    staged = stage / str(venv).lstrip("/")
    shutil.copytree(staged, venv, symlinks=True, dirs_exist_ok=True)
    run = subprocess.run([venv / "bin" / "app"], capture_output=True, text=True, check=True)
    assert run.stdout == "running in the image\n"
    check = subprocess.run(
        ["wheelplan", "verify", "--python", str(venv)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
