"""Install wheels with pypa/installer into the environment of the interpreter running this file.

The bench runs it with the fresh venv's python and pypa/installer on PYTHONPATH, so sysconfig
gives that venv's own scheme, as `python -m installer` would. All wheels go in one process,
sequentially: `python -m installer` per wheel would time 100 interpreter starts, not installer.
No bytecode is compiled (no row compiles), and a file another wheel already wrote is
overwritten, as pip and uv do for shared namespace files such as nvidia/__init__.py.

Usage: python bench/installer_driver.py WHEEL...
"""

import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile


def scheme_for(distribution: str) -> dict[str, str]:
    """The running venv's install scheme, headers per distribution like installer's own CLI."""
    paths = sysconfig.get_paths()
    return {
        "purelib": paths["purelib"],
        "platlib": paths["platlib"],
        "scripts": paths["scripts"],
        "data": paths["data"],
        "headers": os.path.join(paths["include"], distribution),
    }


def install_all(wheels: Sequence[str]) -> None:
    """Install each wheel in order into sys.prefix; the first failure stops the run."""
    for path in wheels:
        with WheelFile.open(Path(path)) as source:
            destination = SchemeDictionaryDestination(
                scheme_for(source.distribution),
                interpreter=sys.executable,
                script_kind="posix",
                overwrite_existing=True,
            )
            install(source, destination, additional_metadata={"INSTALLER": b"installer\n"})


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    install_all(sys.argv[1:])
