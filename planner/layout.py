"""Where each file of a wheel lands in the target: the wheel spec's scheme mapping.

Pure functions from a validated wheel and the target's scheme paths to destination
claims; content identity travels with each claim so overlaps can be compared.
"""

from __future__ import annotations

import json
import pathlib
import posixpath
from collections.abc import Mapping

import attrs
from installer.scripts import Script

from planner.errors import Problem, Refused
from planner.hashing import record_hash
from planner.paths import join, path_problem
from planner.plan import Source
from planner.wheels import Wheel

INSTALLER_NAME = "wheelplan"


@attrs.frozen
class Claim:
    """One distribution's wish to have `path` hold `source`."""

    path: str
    owner: str
    source: Source

    @property
    def identity(self) -> tuple[str, int, int, bool]:
        """What must agree for two claims to share one file."""
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


def claims_for(
    wheel: Wheel,
    schemes: Mapping[str, str],
    interpreter: str,
    *,
    requested: bool,
    direct_url: bool,
) -> list[Claim]:
    """Every file the wheel puts in the target, including the ones wheelplan generates."""
    claims = []
    owner = wheel.name
    wrappers = frozenset(script.name for script in wheel.entry_points)
    root = schemes[root_scheme(wheel)]
    in_data = wheel.data_dir + "/"
    for member in wheel.members:
        source = Source(
            kind="member",
            hash=member.hash,
            size=member.size,
            mode=member.mode,
            wheel=wheel.filename,
            member=member.name,
            offset=member.offset,
            compression=member.compression,
            compressed_size=member.compressed_size,
        )
        if member.name.startswith(in_data):
            _, key, rest = member.name.split("/", 2)
            base = schemes[key]
            if key == "headers":
                base = join(base, wheel.display_name)
            if key == "scripts" and _is_wrapper(posixpath.basename(rest), wrappers):
                continue
            if key == "scripts":
                source = attrs.evolve(source, mode=0o755, rewrite_shebang=True)
            path = join(base, rest)
        else:
            path = join(root, member.name)
        claims.append(Claim(path, owner, source))
    for script in wheel.entry_points:
        _, data = Script(script.name, script.module, script.attr, script.section).generate(  # type: ignore[arg-type]
            interpreter, "posix"
        )
        claims.append(
            Claim(join(schemes["scripts"], script.name), owner, inline(data.decode(), 0o755))
        )
    dist_info = dist_info_path(wheel, schemes)
    claims.append(Claim(f"{dist_info}/INSTALLER", owner, inline(INSTALLER_NAME + "\n")))
    if requested:
        claims.append(Claim(f"{dist_info}/REQUESTED", owner, inline("")))
    if direct_url:
        claims.append(Claim(f"{dist_info}/direct_url.json", owner, inline(direct_url_json(wheel))))
    claims.append(
        Claim(f"{dist_info}/RECORD", owner, Source(kind="record", hash="", size=0, mode=0o644))
    )
    problems = [
        Problem(wheel.filename, f"destination {claim.path!r} {problem}")
        for claim in claims
        if (problem := path_problem(claim.path))
    ]
    if problems:
        raise Refused(problems)
    return claims
