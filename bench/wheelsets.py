"""Wheel sets the benchmark installs: pinned lists, a download cache, and what each set installs.

The lists are pinned down to file name and sha256 so that every run on every machine times the
same bytes; a list that moved with PyPI would make numbers from different days incomparable.
"""

import hashlib
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The one platform every pinned list targets: CPython 3.11 on manylinux x86_64. pip needs the
# whole tag ladder spelled out, otherwise it rejects older manylinux1 / 2014 wheels.
PLATFORM_ARGS: tuple[str, ...] = (
    "--only-binary=:all:",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux1_x86_64",
)

TORCH_WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"

_PIN_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)\s+--hash=sha256:(?P<sha>[0-9a-f]{64})"
    r"\s+#\s*(?P<file>\S+\.whl)\s*$"
)


@dataclass(frozen=True)
class Pin:
    """One pinned wheel: the requirement pip downloads and the exact file it must produce."""

    name: str
    version: str
    filename: str
    sha256: str

    def requirement_line(self) -> str:
        """Render as a requirements line pip accepts (hash-checking mode) that we can re-read."""
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}  # {self.filename}"


@dataclass(frozen=True)
class SetStats:
    """What a set installs, computed from the wheels themselves so every row is checked alike."""

    wheels: int
    files: int  # distinct installed paths (a shared namespace __init__.py counts once)
    bytes: int  # uncompressed bytes of those paths
    members: int  # distinct archive member names: what the floor writes
    member_bytes: int


@dataclass(frozen=True)
class WheelSet:
    """A named list of wheel files on disk, ready to install."""

    name: str
    wheels: tuple[Path, ...]


def read_pins(path: Path) -> list[Pin]:
    """Parse a pinned list; comments and blank lines are allowed, anything else must match."""
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN_LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: not 'name==version --hash=sha256:H  # file.whl'")
        pins.append(Pin(match["name"], match["version"], match["file"], match["sha"]))
    return pins


def write_pins(path: Path, pins: Iterable[Pin], header: Sequence[str]) -> None:
    """Write a pinned list sorted by name so regenerating it gives reviewable diffs."""
    lines = [f"# {text}" if text else "#" for text in header]
    lines += [pin.requirement_line() for pin in sorted(pins, key=lambda p: p.name.lower())]
    path.write_text("\n".join(lines) + "\n")


def pin_for_file(wheel: Path) -> Pin:
    """Describe a downloaded wheel as a pin (name and version come from the file name)."""
    name, version = wheel.name.split("-")[:2]
    return Pin(normalize(name), version, wheel.name, sha256_of(wheel))


def normalize(name: str) -> str:
    """PEP 503 name normalization, so pins compare equal however a wheel spells its name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_of(path: Path) -> str:
    """Hash a file in chunks (hashlib.file_digest is 3.11+ and we support 3.10)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_downloaded(pins: Sequence[Pin], cache_dir: Path, pip_python: Path) -> list[Path]:
    """Return the pinned wheels from the cache, downloading (one pip call) only what is missing.

    A cached file whose hash does not match is deleted first: pip would otherwise call it
    "already downloaded" and the benchmark would time the wrong bytes.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in pins if not _cached_ok(cache_dir / pin.filename, pin)]
    if missing:
        print(f"  downloading {len(missing)} of {len(pins)} pinned wheels into {cache_dir}")
        _pip_download(missing, cache_dir, pip_python)
    still = [pin.filename for pin in missing if not _cached_ok(cache_dir / pin.filename, pin)]
    if still:
        raise RuntimeError(f"pip download did not produce the pinned files: {', '.join(still)}")
    return [cache_dir / pin.filename for pin in pins]


def _cached_ok(path: Path, pin: Pin) -> bool:
    if not path.is_file():
        return False
    if sha256_of(path) == pin.sha256:
        return True
    path.unlink()
    return False


def _pip_download(pins: Sequence[Pin], dest: Path, pip_python: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="wheelplan-bench-req-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(pin.requirement_line() + "\n" for pin in pins))
        command = [str(pip_python), "-m", "pip", "download", "--quiet", "--no-deps"]
        command += [*PLATFORM_ARGS, "--dest", str(dest), "-r", str(requirements)]
        subprocess.run(command, check=True)


def find_torch(explicit: str | None) -> Path | None:
    """Locate the torch wheel: --torch (a file or a folder), else the $PIP_FIND_LINKS folders.

    It is 190 MB and not pinned on PyPI for this build, so it is only used when it is on disk.
    """
    if explicit:
        places = [Path(explicit)]
    else:
        links = os.environ.get("PIP_FIND_LINKS", "").split()
        places = [Path(link.removeprefix("file://")) for link in links]
    for place in places:
        if place.is_file():
            return place
        if place.is_dir():
            exact = place / TORCH_WHEEL
            if exact.is_file():
                return exact
            found = sorted(place.glob("torch-*.whl"))
            if found:
                return found[-1]
    return None


def installed_key(member: str) -> tuple[str, str]:
    """Where a wheel member lands, as (scheme, relative path): .data/<scheme>/ moves files."""
    top, _, rest = member.partition("/")
    if top.endswith(".data") and rest:
        scheme, _, inner = rest.partition("/")
        return ("lib" if scheme in ("purelib", "platlib") else scheme, inner)
    return ("lib", member)


def set_stats(wheels: Sequence[Path]) -> SetStats:
    """Count distinct installed files and bytes straight from the archives' central directories."""
    installed: dict[tuple[str, str], int] = {}
    members: dict[str, int] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                installed[installed_key(info.filename)] = info.file_size
                members[info.filename] = info.file_size
    return SetStats(
        wheels=len(wheels),
        files=len(installed),
        bytes=sum(installed.values()),
        members=len(members),
        member_bytes=sum(members.values()),
    )
