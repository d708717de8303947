"""One file's bytes, hashed with other algorithms: by its wheel's RECORD, by another
wheel's, or by an installed RECORD.

The spec lets a RECORD hash with sha256 or anything stronger; pip and uv keep each
wheel's own algorithm in the installed RECORD, and install the same bytes alike
whatever algorithm names them. So must wheelplan: it installs, shares and recognises
bytes, not hash texts.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from applier import streams
from tests.conftest import make_env
from tests.txsupport import install, ok, save_plan
from tests.wheelfactory import WheelSpec, build_wheel, record_hash

SITE = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
ALGORITHMS = ("sha256", "sha512", "blake2b")
SCRIPT = b"#!python\nprint('tool')\n"
# Past `streams.SMALL`: streamed through the inflater, not read whole.
LARGE = b"a line of a large member\n" * (streams.SMALL // 25 + 1)
# Scripts with no `#!python` line to rewrite: written as the wheel holds them.
PLAIN = b"#!/bin/sh\necho plain\n"
LARGE_PLAIN = b"#!/bin/sh\n" + b"# a line of a large script\n" * (streams.SMALL // 27 + 1)
SPEC = WheelSpec(
    "algo",
    files={
        "algo/__init__.py": b"def main():\n    return 0\n",
        "algo/large.txt": LARGE,
        "algo-1.0.data/data/share/algo.txt": b"data\n",
        "algo-1.0.data/scripts/tool": SCRIPT,
        "algo-1.0.data/scripts/plain": PLAIN,
        "algo-1.0.data/scripts/large-plain": LARGE_PLAIN,
    },
    entry_points="[console_scripts]\nalgo = algo:main\n",
)


def record_rows(env: Path, dist_info: str) -> dict[str, tuple[str, str]]:
    """An installed RECORD's rows: path (as RECORD gives it) -> (hash, size)."""
    with open(env / SITE / dist_info / "RECORD", newline="", encoding="utf-8") as stream:
        return {path: (hash_text, size) for path, hash_text, size in csv.reader(stream)}


def planned(plan: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(plan.read_text())
    return data


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_wheel_planned_again_over_its_own_install_is_unchanged(
    tmp_path: Path, algorithm: str
) -> None:
    """The installed RECORD gave every file its sha256: a wheel hashed with another
    algorithm was never found installed, and was planned as a reinstall every time."""
    wheel = build_wheel(attrs.evolve(SPEC, record_algorithm=algorithm), tmp_path / "wheels")
    env = tmp_path / "env"
    python = make_env(env)
    install(python, [wheel])
    rows = record_rows(env, "algo-1.0.dist-info")
    # A member written as it is keeps its wheel's row, as pip and uv keep it (a script
    # with no `#!python` line too); a script whose `#!python` line is rewritten is hashed
    # as written, with sha256, as pip does.
    for member, where in (
        ("algo/__init__.py", "algo/__init__.py"),
        ("algo/large.txt", "algo/large.txt"),
        ("algo-1.0.data/data/share/algo.txt", "../../../share/algo.txt"),
        ("algo-1.0.data/scripts/plain", "../../../bin/plain"),
        ("algo-1.0.data/scripts/large-plain", "../../../bin/large-plain"),
    ):
        data = SPEC.files[member]
        assert isinstance(data, bytes)
        assert rows[where] == (record_hash(data, algorithm), str(len(data)))
    written = (env / "bin" / "tool").read_bytes()
    assert rows["../../../bin/tool"] == (record_hash(written), str(len(written)))
    ok("verify", "--python", python)

    plan = tmp_path / "again.json"
    save_plan(python, plan, [wheel])
    data = planned(plan)
    assert [dist["action"] for dist in data["distributions"]] == ["unchanged"]
    assert data["files"] == []
