"""Where each file of a wheel lands in the target: the wheel spec's scheme mapping.

Pure functions from a validated wheel and the target's scheme paths to destination
claims; content identity travels with each claim so overlaps can be compared.
"""

from __future__ import annotations

import json
import pathlib
import posixpath
import re
from collections.abc import Iterator, Mapping

import attrs
from installer.scripts import Script

from planner.entrypoints import EntryScript
from planner.errors import Problem, Refused
from planner.hashing import record_hash
from planner.journalnames import RESERVED_FOR_JOURNAL, in_journal
from planner.paths import join, path_problem
from planner.plan import FileEntry, Source
from planner.wheels import FileMode, Member, Wheel

INSTALLER_NAME = "wheelplan"


# What must agree for two claims to share one file: content (a RECORD hash), size,
# mode, and whether a `#!python` line is rewritten.
Identity = tuple[str, int, int, bool]


@attrs.frozen
class Claim:
    """One distribution's wish to have `path` hold `source`, where several distributions
    want the same path."""

    path: str
    owner: str
    source: Source

    @property
    def identity(self) -> Identity:
        """What must agree for two claims to share one file, where their RECORDs hash
        by one algorithm (see `overlaps._identities`)."""
        return (self.source.hash, self.source.size, self.source.mode, self.source.rewrite_shebang)


def inline(text: str, mode: int = 0o644) -> Source:
    data = text.encode("utf-8")
    return Source(kind="inline", hash=record_hash(data), size=len(data), mode=mode, content=text)


def root_scheme(wheel: Wheel) -> str:
    return "purelib" if wheel.root_is_purelib else "platlib"


def dist_info_path(wheel: Wheel, schemes: Mapping[str, str]) -> str:
    return join(schemes[root_scheme(wheel)], wheel.dist_info)


def direct_url_json(wheel: Wheel) -> str:
    """direct_url.json as pip writes it for a local wheel file."""
    data = {
        "archive_info": {
            "hash": f"sha256={wheel.sha256}",
            "hashes": {"sha256": wheel.sha256},
        },
        "url": pathlib.Path(wheel.path).as_uri(),
    }
    return json.dumps(data, sort_keys=True)


def _is_wrapper(name: str, wrappers: frozenset[str]) -> bool:
    """Whether a `.data/scripts` file is setuptools' own wrapper for an entry point
    (EP, EP.exe, EP-script.py, EP.pya): pip skips these and writes its own, and so do we."""
    lowered = name.lower()
    for suffix in (".exe", "-script.py", ".pya"):
        if lowered.endswith(suffix):
            return name[: -len(suffix)] in wrappers
    return name in wrappers


# The versioned names of pip's and easy_install's own scripts, which pip installs
# for the target's Python rather than the one the wheel was built with.
_VERSIONED_SCRIPTS = {
    "pip": re.compile(r"pip(?:[0-9]+(?:\.[0-9]+)?)?"),
    "easy_install": re.compile(r"easy_install(?:-[0-9]+\.[0-9]+)?"),
}


def entry_scripts(wheel: Wheel, python_version: str) -> tuple[EntryScript, ...]:
    """The wheel's console and GUI scripts as pip installs them: a `pip` console script
    is also installed as `pip3` and `pip3.11` for a 3.11 target (`easy_install` as
    `easy_install-3.11`), and the versioned ones the wheel names (pip 24.0 ships
    `pip3.10`) are not, so upgrading pip keeps a venv's `pip3.11`. A GUI script of one
    of those names wins, as pip writes the GUI scripts last."""
    scripts = list(wheel.entry_points)
    console = {script.name: script for script in scripts if script.section == "console"}
    gui = {script.name for script in scripts if script.section == "gui"}
    major = python_version.partition(".")[0]
    versions = {
        "pip": ("pip", f"pip{major}", f"pip{python_version}"),
        "easy_install": ("easy_install", f"easy_install-{python_version}"),
    }
    for base, names in versions.items():
        if base not in console:
            continue
        versioned = _VERSIONED_SCRIPTS[base]
        scripts = [s for s in scripts if s.section != "console" or not versioned.fullmatch(s.name)]
        scripts += [attrs.evolve(console[base], name=name) for name in names if name not in gui]
    return tuple(scripts)


def wrapper(script: EntryScript, interpreter: str) -> str:
    """The console or GUI script installer writes for an entry point."""
    _, data = Script(script.name, script.module, script.attr, script.section).generate(
        interpreter, "posix"
    )
    return data.decode()


def member_destinations(
    wheel: Wheel, schemes: Mapping[str, str], python_version: str
) -> Iterator[tuple[Member, str, FileMode, bool]]:
    """Each member the wheel installs, with where it goes, its mode, and whether its
    `#!python` line is rewritten; a `.data/scripts` file an entry point also makes is
    left out (the wrapper is written instead, as pip writes it)."""
    # The wheel's own names too: pip skips setuptools' wrapper for an entry point it
    # renames (`.data/scripts/pip3.10`).
    wrappers = frozenset(
        script.name for script in (*wheel.entry_points, *entry_scripts(wheel, python_version))
    )
    root = root_scheme(wheel)
    root_folder = schemes[root]
    in_data = wheel.data_dir + "/"
    for member in wheel.members:
        name = member.name
        if not name.startswith(in_data):  # nearly all: member_path's first case, inline
            yield member, join(root_folder, name), member.mode, False
            continue
        path = member_path(name, root, wheel.data_dir, wheel.name, schemes)
        if name.split("/", 2)[1] != "scripts":
            yield member, path, member.mode, False
        elif not _is_wrapper(posixpath.basename(name), wrappers):
            yield member, path, 0o755, True


def member_path(
    name: str, root: str, data_dir: str, dist_name: str, schemes: Mapping[str, str]
) -> str:
    """Where a wheel's member `name` lands: under the `root` scheme, or a `data_dir`
    member under the scheme its next folder names."""
    if not name.startswith(data_dir + "/"):
        return join(schemes[root], name)
    _, key, rest = name.split("/", 2)
    if key == "headers":
        # Named as pip and uv name it: `zope.proxy`'s go in `zope-proxy`.
        return join(join(schemes[key], dist_name), rest)
    return join(schemes[key], rest)


def claims_for(
    wheel: Wheel,
    schemes: Mapping[str, str],
    interpreter: str,
    python_version: str,
    *,
    requested: bool,
    direct_url: bool,
) -> list[FileEntry]:
    """Every file the wheel puts in the target, including the ones wheelplan generates,
    as it is planned where no other distribution claims its path (nearly everywhere).

    A path is listed twice when two of the wheel's members map to it.
    """
    owners = (wheel.name,)
    files: list[FileEntry] = []
    problems: list[Problem] = []
    # A safe folder and a safe name in it join to a safe path, so under a safe root a
    # member's name is checked rather than its longer destination (a match costs per
    # character); only a name that fails is checked whole, for the reason.
    root_is_safe = path_problem(schemes[root_scheme(wheel)]) is None
    in_data = wheel.data_dir + "/"
    for member, path, mode, rewrite_shebang in member_destinations(wheel, schemes, python_version):
        name = member.name
        checked = name if root_is_safe and not name.startswith(in_data) else path
        if path_problem(checked) and (problem := path_problem(path)):
            problems.append(Problem(wheel.filename, f"destination {path!r} {problem}"))
        elif in_journal(path):
            # The applier refuses it too (applier/validate.py): the journal is ours alone.
            problems.append(Problem(wheel.filename, f"destination {path!r} {RESERVED_FOR_JOURNAL}"))
        # Positional, in Source's field order: keywords cost a third more, 17,000 times.
        source = Source(
            "member",
            member.hash,
            member.size,
            mode,
            wheel.filename,
            name,
            member.offset,
            member.compression,
            member.compressed_size,
            None,
            rewrite_shebang,
        )
        files.append(FileEntry(path, "write", owners, source))
    generated = [
        (join(schemes["scripts"], script.name), inline(wrapper(script, interpreter), 0o755))
        for script in entry_scripts(wheel, python_version)
    ]
    dist_info = dist_info_path(wheel, schemes)
    generated.append((f"{dist_info}/INSTALLER", inline(INSTALLER_NAME + "\n")))
    if requested:
        generated.append((f"{dist_info}/REQUESTED", inline("")))
    if direct_url:
        generated.append((f"{dist_info}/direct_url.json", inline(direct_url_json(wheel))))
    generated.append((f"{dist_info}/RECORD", Source(kind="record", hash="", size=0, mode=0o644)))
    for path, source in generated:
        if problem := path_problem(path):
            problems.append(Problem(wheel.filename, f"destination {path!r} {problem}"))
        files.append(FileEntry(path, "write", owners, source))
    if problems:
        raise Refused(problems)
    return files
