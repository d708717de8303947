"""Pinned real wheels from the package registry, downloaded once into a cache.

The cache lives outside the repository (WHEELPLAN_TEST_CACHE, default
~/.cache/wheelplan-tests) so a fresh clone downloads each pin once and later runs
are offline. Pins are exact so every run tests the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# All three ship nvidia/__init__.py with the same bytes.
NVIDIA = (
    "nvidia-cuda-runtime-cu12==12.3.101",
    "nvidia-nvtx-cu12==12.1.105",
    "nvidia-cuda-nvrtc-cu12==12.3.107",
)
# Both ship jwt/__init__.py, with different bytes.
JWT_PAIR = ("PyJWT==2.15.1", "jwt==1.4.0")
# An upgrade and a downgrade of one real distribution, for the transaction tests.
JWT_VERSIONS = ("PyJWT==2.8.0", "PyJWT==2.15.1")
# The differential test against pip: pure and cp311 manylinux x86_64 wheels, console
# scripts (charset-normalizer, docutils, jupyter-core, wheel), `#!python` scripts in
# .data/scripts (docutils), a binary in .data/scripts (ruff), .data/headers (greenlet)
# and .data/data (jupyterlab-pygments). Installed together with NVIDIA.
PIP_DIFFERENTIAL = (
    "six==1.16.0",
    "idna==3.7",
    "certifi==2024.7.4",
    "click==8.1.7",
    "typing_extensions==4.12.2",
    "platformdirs==4.2.2",
    "traitlets==5.14.3",
    "jupyter_core==5.7.2",
    "jupyterlab_pygments==0.3.0",
    "docutils==0.19",
    "wheel==0.43.0",
    "PyYAML==6.0.2",
    "MarkupSafe==2.1.5",
    "charset-normalizer==3.3.2",
    "psutil==6.0.0",
    "greenlet==3.0.3",
    "ruff==0.5.7",
)
# A console script: pip --target lists it in RECORD as '../../bin/normalizer',
# relative to the lib/python of a folder it then removes.
PIP_TARGET_SCRIPT = ("charset-normalizer==3.3.2",)
# A large real wheel (40 MB, 1,500 members, 130 MB unpacked, cp311 manylinux x86_64):
# the default archive-bomb limits must accept it, small members that expand 230x too.
LARGE = ("scipy==1.14.1",)

CACHE = Path(os.environ.get("WHEELPLAN_TEST_CACHE", Path.home() / ".cache" / "wheelplan-tests"))
# The wheels must match the interpreter that runs the tests and its target venvs.
PLATFORM_ARGS = ("--only-binary=:all:", "--no-deps")


def _folder_for(pin: str) -> Path:
    return CACHE / pin.replace("==", "-").lower()


def download(pins: Sequence[str]) -> list[Path]:
    """The wheel file for each pin, downloading the missing ones in one pip call each."""
    paths = []
    for pin in pins:
        folder = _folder_for(pin)
        found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
        if not found:
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    *PLATFORM_ARGS,
                    "--dest",
                    str(folder),
                    pin,
                ],
                check=True,
            )
            found = sorted(folder.glob("*.whl"))
        if len(found) != 1:
            raise RuntimeError(f"expected one wheel for {pin} in {folder}, found {found}")
        paths.append(found[0])
    return paths
