"""Pinned real wheels from the package registry, downloaded once into a cache.

Each pin names one file and its sha256 (`FILES`): a version alone lets a later upload,
or another pip, Python or platform, pick another file. pip downloads it with
`--require-hashes`, and the file is checked again by name and hash before it is kept
and each time it is used. The cache lives outside the repository
(WHEELPLAN_TEST_CACHE, default ~/.cache/wheelplan-tests), keyed by the sha256, which
alone determines the file, so a fresh clone downloads each pin once and later runs
are offline.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

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

# Each pin's one wheel: its file name and sha256, as the registry serves it. Built for
# CPython 3.11 on x86_64 Linux, as the tests' interpreter and their target venvs are.
FILES: dict[str, tuple[str, str]] = {
    "certifi==2024.7.4": (
        "certifi-2024.7.4-py3-none-any.whl",
        "c198e21b1289c2ab85ee4e67bb4b4ef3ead0892059901a8d5b622f24a1101e90",
    ),
    "charset-normalizer==3.3.2": (
        "charset_normalizer-3.3.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "753f10e867343b4511128c6ed8c82f7bec3bd026875576dfd88483c5c73b2fd8",
    ),
    "click==8.1.7": (
        "click-8.1.7-py3-none-any.whl",
        "ae74fb96c20a0277a1d615f1e4d73c8414f5a98db8b799a7931d1582f3390c28",
    ),
    "docutils==0.19": (
        "docutils-0.19-py3-none-any.whl",
        "5e1de4d849fee02c63b040a4a3fd567f4ab104defd8a5511fbbc24a8a017efbc",
    ),
    "greenlet==3.0.3": (
        "greenlet-3.0.3-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "b7f009caad047246ed379e1c4dbcb8b020f0a390667ea74d2387be2998f58a22",
    ),
    "idna==3.7": (
        "idna-3.7-py3-none-any.whl",
        "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0",
    ),
    "jupyter_core==5.7.2": (
        "jupyter_core-5.7.2-py3-none-any.whl",
        "4f7315d2f6b4bcf2e3e7cb6e46772eba760ae459cd1f59d29eb57b0a01bd7409",
    ),
    "jupyterlab_pygments==0.3.0": (
        "jupyterlab_pygments-0.3.0-py3-none-any.whl",
        "841a89020971da1d8693f1a99997aefc5dc424bb1b251fd6322462a1b8842780",
    ),
    "jwt==1.4.0": (
        "jwt-1.4.0-py3-none-any.whl",
        "7560a7f1de4f90de94ac645ee0303ac60c95b9e08e058fb69f6c330f71d71b11",
    ),
    "MarkupSafe==2.1.5": (
        "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "b91c037585eba9095565a3556f611e3cbfaa42ca1e865f7b8015fe5c7336d5a5",
    ),
    "nvidia-cuda-nvrtc-cu12==12.3.107": (
        "nvidia_cuda_nvrtc_cu12-12.3.107-py3-none-manylinux1_x86_64.whl",
        "4db66788a37a234304a0b3203744f9a6c665f48bde65f69a096ae3b5799b5b1d",
    ),
    "nvidia-cuda-runtime-cu12==12.3.101": (
        "nvidia_cuda_runtime_cu12-12.3.101-py3-none-manylinux1_x86_64.whl",
        "04604679ddca6acb96c76a7a9306282cddc16981f92e148e2dfe227078883cda",
    ),
    "nvidia-nvtx-cu12==12.1.105": (
        "nvidia_nvtx_cu12-12.1.105-py3-none-manylinux1_x86_64.whl",
        "dc21cf308ca5691e7c04d962e213f8a4aa9bbfa23d95412f452254c2caeb09e5",
    ),
    "platformdirs==4.2.2": (
        "platformdirs-4.2.2-py3-none-any.whl",
        "2d7a1657e36a80ea911db832a8a6ece5ee53d8de21edd5cc5879af6530b1bfee",
    ),
    "psutil==6.0.0": (
        "psutil-6.0.0-cp36-abi3-manylinux_2_12_x86_64.manylinux2010_x86_64"
        ".manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "5fd9a97c8e94059b0ef54a7d4baf13b405011176c3b6ff257c247cae0d560ecd",
    ),
    "PyJWT==2.15.1": (
        "pyjwt-2.15.1-py3-none-any.whl",
        "42d59d631f7768a1028a64c7ff581a9bf7519804daf91fc5b6c56e30eec5e193",
    ),
    "PyJWT==2.8.0": (
        "PyJWT-2.8.0-py3-none-any.whl",
        "59127c392cc44c2da5bb3192169a91f429924e17aff6534d70fdc02ab3e04320",
    ),
    "PyYAML==6.0.2": (
        "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "3ad2a3decf9aaba3d29c8f537ac4b243e36bef957511b4766cb0057d32b0be85",
    ),
    "ruff==0.5.7": (
        "ruff-0.5.7-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "8d796327eed8e168164346b769dd9a27a70e0298d667b4ecee6877ce8095ec8e",
    ),
    "scipy==1.14.1": (
        "scipy-1.14.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "fef8c87f8abfb884dac04e97824b61299880c43f4ce675dd2cbeadd3c9b466d2",
    ),
    "six==1.16.0": (
        "six-1.16.0-py2.py3-none-any.whl",
        "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
    ),
    "traitlets==5.14.3": (
        "traitlets-5.14.3-py3-none-any.whl",
        "b74e89e397b1ed28cc831db7aea759ba6640cb3de13090ca145426688ff1ac4f",
    ),
    "typing_extensions==4.12.2": (
        "typing_extensions-4.12.2-py3-none-any.whl",
        "04e5ca0351e0f3f85c6853954072df659d0d13fac324d0072316b67d7794700d",
    ),
    "wheel==0.43.0": (
        "wheel-0.43.0-py3-none-any.whl",
        "55c570405f142630c6b9f72fe09d9b67cf1477fcf543ae5b8dcb1f5b7377da81",
    ),
}

CACHE = Path(os.environ.get("WHEELPLAN_TEST_CACHE", Path.home() / ".cache" / "wheelplan-tests"))
# pip picks the one file whose hash is pinned, from wheels alone, without dependencies.
PIP_ARGS = ("--only-binary=:all:", "--no-deps", "--require-hashes")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(pin: str) -> Path:
    """Where the pin's wheel is kept: under its sha256, in a folder of its own."""
    try:
        filename, sha256 = FILES[pin]
    except KeyError:
        raise RuntimeError(f"{pin} has no file and sha256 in tests/realwheels.py FILES") from None
    return CACHE / "sha256" / sha256 / filename


def download(pins: Sequence[str]) -> list[Path]:
    """The wheel file for each pin, downloading the missing ones in one pip call each."""
    paths = []
    for pin in pins:
        path = cached_path(pin)
        sha256 = FILES[pin][1]
        if path.is_file() and sha256_of(path) != sha256:
            path.unlink()  # damaged since it was kept: fetch it again
        if not path.is_file():
            _fetch(pin, path)
        paths.append(path)
    return paths


def _fetch(pin: str, path: Path) -> None:
    """Download the pin's one wheel with pip and keep it at `path`, or refuse."""
    filename, sha256 = FILES[pin]
    supported = set(sys_tags())
    if not supported & parse_wheel_filename(filename)[3]:
        raise RuntimeError(
            f"{filename}, pinned for {pin}, does not install on this Python"
            f" ({sys.implementation.cache_tag}): the tests' real wheels are pinned for"
            " CPython 3.11 on x86_64 Linux"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".download-") as scratch:
        requirements = Path(scratch, "requirements.txt")
        requirements.write_text(f"{pin} --hash=sha256:{sha256}\n")
        dest = Path(scratch, "wheels")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                *PIP_ARGS,
                "--dest",
                str(dest),
                "-r",
                str(requirements),
            ],
            check=True,
        )
        found = sorted(dest.iterdir())
        if [entry.name for entry in found] != [filename] or sha256_of(found[0]) != sha256:
            raise RuntimeError(
                f"pip downloaded {[entry.name for entry in found]} for {pin},"
                f" not {filename} with sha256 {sha256}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(found[0], path)  # whole or not at all, were two runs fetching it
