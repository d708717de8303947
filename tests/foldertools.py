"""The two folders a user may name instead of an environment, as the tests expect
them laid out: `--target` (flat) and `--prefix` (as a venv there)."""

from __future__ import annotations

import sys

import attrs
import pytest

VERSION = "{}.{}".format(*sys.version_info)
SITE = f"lib/python{VERSION}/site-packages"


@attrs.frozen
class Folder:
    option: str
    named: str  # what the messages call it
    library: str  # where modules go, relative to the folder ("" is the folder)
    headers: str  # where a distribution's headers folder goes


TARGET = Folder("--target", "the target directory", "", "include")
PREFIX = Folder("--prefix", "the prefix", SITE, f"include/site/python{VERSION}")
# Runs a test once for each, with the argument `folder`.
FOLDERS = pytest.mark.parametrize("folder", [TARGET, PREFIX], ids=["target", "prefix"])
