"""pylock.toml input: which wheel of each locked package this target installs.

Parsing, validation and selection are `packaging.pylock`'s (the spec's own rules:
markers, requires-python, environments, the best wheel for the target's tags); this
module only feeds it the *target's* markers and tags, not ours, and turns what it
selects into wheel references. It reads the lock file and nothing else: fetching
and checking the wheels is `wheelplan.fetch`'s job, because downloading is I/O that
is not planning.

An sdist, a VCS checkout or a source directory would need a build, and wheelplan
installs wheels only, so selecting one is a refusal that names the package.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import cast
from urllib.parse import ParseResult, unquote, urlparse

import attrs
from packaging.markers import Environment, UndefinedComparison, UndefinedEnvironmentName
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageWheel,
    Pylock,
    PylockSelectError,
    PylockValidationError,
    is_valid_pylock_path,
)
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from planner.errors import Problem, Refused, not_an_input, plain
from planner.inputfiles import MAX_LOCK_BYTES, named_descriptor, read_input
from planner.paths import has_control, plan_path_problem
from planner.plan import LockSource
from planner.redaction import redacted
from planner.tagfit import target_tags

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


@attrs.frozen
class LockedWheel:
    """One wheel the lock selected, and everything the lock promises about its bytes."""

    package: str
    filename: str
    # Exactly one of `path` (absolute, resolved against the lock's folder) and `url`.
    path: str | None
    url: str | None
    size: int | None
    # Algorithm -> lower-case hex digest, for each hash wheelplan checks (`_checked_hashes`).
    hashes: Mapping[str, str]


@attrs.frozen
class LockSelection:
    lock: LockSource
    wheels: tuple[LockedWheel, ...]
    # What packaging warns of while it reads the lock (a newer minor lock-version).
    warnings: tuple[str, ...] = ()


def _filename_problem(filename: str) -> str | None:
    """The wheel file name becomes a file in a download folder: it must be a plain name."""
    if not filename or filename in (".", "..") or "/" in filename or "\\" in filename:
        return f"wheel file name {filename!r} is not a plain file name"
    if has_control(filename):
        return f"wheel file name {filename!r} contains a control character"
    if not filename.endswith(".whl"):
        return f"{filename!r} is not a wheel file name"
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename as error:
        return str(error)
    except ValueError:  # a version number past int()'s 4,300 digits
        return f"wheel file name {filename[:40]!r}... has a version too long to read"
    return None


def _archive_problem(filename: str, package: Package) -> str | None:
    """Why an `archive` wheel is not the package's: packaging checks a `wheels` entry's
    file name against the package, not an archive's (uv refuses such a lock too)."""
    name, version = parse_wheel_filename(filename)[:2]
    if canonicalize_name(name) != canonicalize_name(package.name):
        return f"its archive {filename} is a wheel of {name}, not of {package.name}"
    if package.version is not None and version != package.version:
        return f"its archive {filename} is version {version}, not {package.version}"
    return None


def _file_name(path: str) -> str:
    """The last part of a lock's `path`, written with POSIX or Windows separators."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _other_file(filename: str, path: str | None) -> str | None:
    """Why a wheel's `path` does not fit its `filename`: the planner installs the file's
    own project and version, and `packaging` checks only `filename` against the lock's
    package."""
    if path is not None and _file_name(path) != filename:
        return f"its path {path!r} names another file than {filename}"
    return None


def _archive_filename(archive: PackageArchive) -> str:
    if archive.path:
        return _file_name(archive.path)
    return unquote(urlparse(archive.url or "").path.rsplit("/", 1)[-1])


def _url_problem(source: PackageWheel | PackageArchive) -> str | None:
    """Why a wheel's `url` cannot be fetched (a `path`, when given, is used instead)."""
    if source.url is None or source.path is not None:
        return None
    url = urlparse(source.url)
    if url.scheme not in ("https", "http", "file"):
        return f"URL scheme {url.scheme!r} is not supported"
    if url.scheme == "file" and (
        url.netloc not in ("", "localhost") or not url.path.startswith("/")
    ):
        return f"file URL {redacted(source.url)!r} names no absolute path on this machine"
    return _port_problem(url)


def _port_problem(url: ParseResult) -> str | None:
    """A port that is no port, refused unquoted, as uv refuses it on reading: a `/`,
    `?` or `#` in a password ends the host early, making the password's start a port
    and the rest a path (with the `@` in it), so that the port is the secret."""
    if _port_fits(url):
        return None
    hint = (
        ": a '/', '?', '#' or '@' in its user name or password must be percent-encoded"
        " (%2F, %3F, %23, %40)"
        if "@" in url.path + url.params + url.query + url.fragment
        else ""
    )
    return f"URL's port is not a number from 0 to 65535{hint}"


def _port_fits(url: ParseResult) -> bool:
    try:
        return url.port is None or 0 <= url.port <= 65535
    except ValueError:  # urllib's refusal of what is no port
        return False


def _local_path(source: PackageWheel | PackageArchive) -> str | None:
    """The path the lock gives the wheel at: its `path`, or what a `file:` URL names.

    A file URL is a path: read in place, and opened as a `path` is (a FIFO or a device
    is refused unread), not copied through urllib (which waits on a FIFO forever and
    copies /dev/zero until the size limit)."""
    if source.path is not None:
        return source.path
    url = urlparse(source.url or "")
    # urllib.request's url2pathname is this on POSIX, and would load http.client here.
    return unquote(url.path) if url.scheme == "file" else None


def _reference(
    package: str,
    filename: str,
    source: PackageWheel | PackageArchive,
    local: str | None,
    lock_dir: str,
    hashes: Mapping[str, str],
) -> LockedWheel:
    """`local`: the wheel's path as the lock gives it (`_local_path`)."""
    path = local
    if path is not None:
        # The spec: a relative path is relative to the lock file, POSIX separators allowed.
        path = os.path.normpath(os.path.join(lock_dir, path.replace("/", os.sep)))
    return LockedWheel(
        package=package,
        filename=filename,
        path=path,
        url=None if path is not None else source.url,
        size=source.size,
        hashes=hashes,
    )


def _digest_size(name: str) -> int:
    """Bytes in a digest of algorithm `name`; 0 when wheelplan cannot check it: hashlib
    lacks it or refuses it here (md5 under FIPS), or its length is the lock's to choose
    (shake)."""
    if name not in hashlib.algorithms_available:
        return 0
    try:
        return hashlib.new(name).digest_size
    except ValueError:
        return 0


def _checked_hashes(hashes: Mapping[str, str]) -> dict[str, str]:
    """The hashes of a lock's wheel that wheelplan checks, digests lower-cased (hex
    digits read the same either way)."""
    return {name: value.lower() for name, value in hashes.items() if _digest_size(name)}


def _hash_problem(given: Mapping[str, str], checked: Mapping[str, str]) -> str | None:
    # hashlib's names are lower-case, as the spec's and uv's are. Read another spelling
    # as its algorithm, and {sha256 = BAD, SHA256 = GOOD} gives sha256 twice, the key
    # order deciding which digest is checked.
    if other := sorted(name for name in given if name != name.lower()):
        return f"hash algorithm {other[0]!r} is not spelled in lower case, as hashlib names it"
    if not checked:
        return f"no hash algorithm wheelplan can check (given: {', '.join(sorted(given))})"
    for name, value in sorted(checked.items()):
        # A digest also names the download's folder: nothing but hex digits may reach it.
        digits = 2 * _digest_size(name)
        if not re.fullmatch(f"[0-9a-f]{{{digits}}}", value):
            return f"{name} hash {value!r} is not {digits} hexadecimal digits"
    return None


def parse(data: bytes, subject: str) -> Pylock:
    """A validated Pylock, or a refusal naming the lock file."""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise not_an_input("lock", subject, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise not_an_input("lock", subject, f"invalid TOML: {error}") from None
    except ValueError:  # tomllib's int() of a number past 4,300 digits
        raise not_an_input(
            "lock", subject, "invalid TOML: a number has more digits than can be read"
        ) from None
    except RecursionError:  # tomllib reads nested arrays and tables recursively
        raise not_an_input("lock", subject, "invalid TOML: nested too deeply") from None
    try:
        return Pylock.from_dict(document)
    except PylockValidationError as error:
        raise Refused.one(subject, f"invalid lock file: {plain(str(error))}") from None


class _Warnings(logging.Handler):
    """What packaging logs while it reads a lock, kept to become the plan's warnings
    (logged, it reached stderr as a bare line naming no file)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _parsed(data: bytes, subject: str) -> tuple[Pylock, list[str]]:
    """`parse`, with what packaging warned of while it read the lock."""
    logger = logging.getLogger("packaging.pylock")
    collected = _Warnings()
    propagate = logger.propagate
    logger.addHandler(collected)
    logger.propagate = False
    try:
        return parse(data, subject), [f"{subject}: {message}" for message in collected.messages]
    finally:
        logger.removeHandler(collected)
        logger.propagate = propagate


def select(
    data: bytes,
    path: str,
    markers: Mapping[str, str],
    tags: Sequence[str],
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
) -> LockSelection:
    """The wheels `data` (the lock file at `path`) selects for a target.

    `markers` and `tags` are the target interpreter's; `groups` None means the lock's
    default groups, as the spec says.
    """
    lock_path = os.path.abspath(path)
    pylock, warnings = _parsed(data, path)
    piped = named_descriptor(path) is not None
    if not piped and not is_valid_pylock_path(Path(path)):
        # The spec's names, as uv holds to them; checked once the file reads as a lock,
        # so that a wheel or a plan given here is still called what it is. A pipe
        # (`<(...)`, /dev/stdin) has no name the user chose, and is not held to them.
        raise Refused.one(
            path, "not a lock file name: PEP 751 names one pylock.toml or pylock.NAME.toml"
        )
    problems: list[Problem] = []
    wheels: list[LockedWheel] = []
    lock_dir = os.path.dirname(lock_path)
    try:
        selected = list(
            pylock.select(
                environment=cast(Environment, dict(markers)),
                tags=target_tags(tags),
                extras=extras,
                dependency_groups=groups,
            )
        )
    except (PylockSelectError, PylockValidationError) as error:
        raise Refused.one(path, str(error)) from None
    # Markers are only parsed when the lock is read; these surface when one is evaluated.
    except UndefinedEnvironmentName as error:
        raise Refused.one(
            path, f"invalid lock file: a marker uses {error.args[0]!r}, which has no value there"
        ) from None
    except UndefinedComparison as error:
        raise Refused.one(
            path, f"invalid lock file: a marker cannot be evaluated: {error}"
        ) from None
    except ValueError:  # int() reads at most 4,300 digits of a version's number
        raise Refused.one(
            path,
            "invalid lock file: a marker or requires-python compares a version too long to read",
        ) from None
    for package, source in selected:
        name = str(package.name)
        version = f" {package.version}" if package.version else ""
        if isinstance(source, PackageWheel):
            filename = source.filename
        elif isinstance(source, PackageArchive) and _archive_filename(source).endswith(".whl"):
            filename = _archive_filename(source)
        else:
            kind = {
                "PackageSdist": "only a source distribution (sdist)",
                "PackageArchive": "only a source archive",
                "PackageVcs": "only a version control source",
                "PackageDirectory": "only a source directory",
            }[type(source).__name__]
            problems.append(
                Problem(
                    path,
                    f"{name}{version} has {kind} for this target; wheelplan installs wheels"
                    " only (lock it with wheels, e.g. pip lock --only-binary=:all:)",
                )
            )
            continue
        local = _local_path(source)
        if problem := (
            _filename_problem(filename) or _url_problem(source) or _other_file(filename, local)
        ):
            problems.append(Problem(path, f"{name}{version}: {problem}"))
            continue
        if isinstance(source, PackageArchive) and (problem := _archive_problem(filename, package)):
            problems.append(Problem(path, f"{name}{version}: {problem}"))
            continue
        if source.size is not None and source.size < 0:
            problems.append(Problem(path, f"{name}{version}: size {source.size} is negative"))
            continue
        hashes = _checked_hashes(source.hashes)
        if problem := _hash_problem(source.hashes, hashes):
            problems.append(Problem(path, f"{name}{version}: {problem}"))
            continue
        if piped and local is not None and not os.path.isabs(local):
            problems.append(
                Problem(
                    path,
                    f"{name}{version}: path {local!r} is relative to the lock's folder, and a"
                    " lock read through a pipe has none; give the lock as a file",
                )
            )
            continue
        wheel = _reference(name, filename, source, local, lock_dir, hashes)
        if wheel.path is not None and (problem := plan_path_problem(wheel.path)):
            problems.append(Problem(path, f"{name}{version}: wheel path {wheel.path!r}: {problem}"))
            continue
        wheels.append(wheel)
    if problems:
        raise Refused(problems)
    sha256 = hashlib.sha256(data).hexdigest()
    return LockSelection(LockSource(lock_path, sha256), tuple(wheels), tuple(warnings))


def read(
    path: str,
    markers: Mapping[str, str],
    tags: Sequence[str],
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
) -> LockSelection:
    """Read the lock file at `path` and select from it (see `select`)."""
    data = read_input(path, MAX_LOCK_BYTES, "lock file")
    return select(data, path, markers, tags, extras, groups)


__all__ = ["LockSelection", "LockedWheel", "parse", "read", "select"]
