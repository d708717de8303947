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
