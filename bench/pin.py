"""Regenerate a pinned wheel list (bench/datascience.txt, bench/nvidia.txt) from PyPI.

Resolution happens once, here, and the result is committed: the benchmark itself never resolves,
so a new release on PyPI cannot change what it measures. Run it by hand, e.g.

    python bench/pin.py bench/datascience.txt jupyterlab pandas scipy matplotlib
    python bench/pin.py --no-deps bench/nvidia.txt nvidia-nvtx-cu12==12.1.105 ...

with a python whose pip is the one pinned in bench/tools.txt.
"""

import argparse
import datetime
import subprocess
import sys
import tempfile
from pathlib import Path

from wheelsets import PLATFORM_ARGS, pin_for_file, write_pins


def main(argv: list[str] | None = None) -> int:
    """Download the requirements for cp311 manylinux x86_64 and write every wheel as a pin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="pinned list to write")
    parser.add_argument("requirements", nargs="+", help="top-level requirements to resolve")
    parser.add_argument("--no-deps", action="store_true", help="pin only the named wheels")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wheelplan-pin-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", *PLATFORM_ARGS]
        command += ["--dest", tmp, *(["--no-deps"] if args.no_deps else []), *args.requirements]
        subprocess.run(command, check=True)
        pins = [pin_for_file(wheel) for wheel in sorted(Path(tmp).glob("*.whl"))]
    today = datetime.date.today().isoformat()
    header = [
        f"Pinned by bench/pin.py on {today}: {len(pins)} wheels for CPython 3.11 manylinux x86_64.",
        f"Top-level requirements: {' '.join(args.requirements)}"
        + (" (no dependencies)" if args.no_deps else " and all their dependencies"),
        "Format: name==version --hash=sha256:H  # exact wheel file name (a pip requirements file).",
        "Regenerate with bench/pin.py; never edit by hand.",
    ]
    write_pins(args.out, pins, header)
    print(f"wrote {len(pins)} pins to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
