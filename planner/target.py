"""The target environment, learned by running its own interpreter once.

Scheme paths, tags and markers must be the target's, not ours, so the planner asks
the target's Python. The probe needs only the standard library plus `packaging`,
which it imports from our own installation.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import subprocess
from collections.abc import Collection, Iterable, Iterator, Mapping

import attrs

from planner.errors import Problem, Refused
from planner.hashing import canonical_hash, open_regular
from planner.paths import path_problem

JOURNAL_DIR = ".wheelplan-journal"

# The oldest Python the probe can run in: it imports our `packaging`, which needs 3.10
# (as pip 26, which re-runs itself in the interpreter `--python` names, does).
MIN_TARGET_PYTHON = (3, 10)


def _probe_source(minimum: tuple[int, int]) -> str:
    """The probe, refusing an interpreter older than `minimum` before it imports anything
    that such a Python could not parse."""
    return _PROBE_TEMPLATE.replace("MINIMUM", repr(minimum))


# Markers only when planning (argv[2]): importing packaging.markers is half the probe's time.
_PROBE_TEMPLATE = r"""
import json, os, site, sys, sysconfig
if sys.version_info < MINIMUM:
    sys.exit("Python %d.%d is too old: wheelplan installs into Python %d.%d or newer"
             % (sys.version_info[:2] + MINIMUM))
sys.path.insert(0, sys.argv[1])
from packaging.tags import sys_tags
if sys.argv[2:] == ["markers"]:
    from packaging.markers import default_environment
else:
    default_environment = dict

def externally_managed():
    # PEP 668, as its spec says to look: outside a venv, a marker in the default
    # scheme's stdlib folder, whose message is the one for the user's language.
    if sys.prefix != sys.base_prefix:
        return None
    scheme = sysconfig.get_default_scheme()
    marker = os.path.join(sysconfig.get_path("stdlib", scheme), "EXTERNALLY-MANAGED")
    if not os.path.isfile(marker):
        return None
    import configparser, locale
    try:  # the user's language, from the environment this probe inherits
        locale.setlocale(locale.LC_MESSAGES, "")
    except locale.Error:
        pass
    keys = ["Error"]
    language = locale.getlocale(locale.LC_MESSAGES)[0]
    if language:
        keys[:0] = ["Error-" + language, "Error-" + language.replace("-", "_").split("_")[0]]
    try:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(marker, encoding="utf-8")
        section = parser["externally-managed"]
        message = next((section[key] for key in keys if key in section), None)
    except Exception:
        message = None
    return {"marker": marker, "message": message}

paths = sysconfig.get_paths()
json.dump({
    "executable": sys.executable,
    "prefix": sys.prefix,
    "in_venv": sys.prefix != sys.base_prefix,
    "externally_managed": externally_managed(),
    "version": "%d.%d" % sys.version_info[:2],
    "paths": {key: paths[key] for key in ("purelib", "platlib", "scripts", "data", "include")},
    "site": [folder for folder in site.getsitepackages() if folder in sys.path],
    "tags": [str(tag) for tag in sys_tags()],
    "markers": default_environment(),
}, sys.stdout)
"""
_PROBE = _probe_source(MIN_TARGET_PYTHON)


@attrs.frozen
class Installed:
    """A distribution already in the target, with the files its RECORD claims."""

    name: str
    display_name: str
    version: str
    dist_info: str
    installer: str
    record_text: str | None
    # Path relative to the prefix -> RECORD hash ("" when RECORD gives none).
    files: Mapping[str, str]
    # Its METADATA Requires-Dist, so a plan that breaks it can say so.
    requires_dist: tuple[str, ...] = ()


@attrs.frozen
class ExternallyManaged:
    """A Python that another package manager owns (PEP 668), as its marker file says."""

    marker: str
    # The marker's message for the user, or None when it gives none.
    message: str | None


@attrs.frozen
class TargetInfo:
    interpreter: str
    prefix: str
    python_version: str
    schemes: Mapping[str, str]
    tags: tuple[str, ...]
    markers: Mapping[str, str]
    installed: tuple[Installed, ...]
    externally_managed: ExternallyManaged | None = None
    # Name -> version of what the target imports from site folders outside its schemes
    # (a venv's system site-packages, Debian's dist-packages): these meet requirements,
    # as pip counts them, but no plan changes them.
    elsewhere: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def tags_fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256("\n".join(self.tags).encode()).hexdigest()

    @property
    def installed_fingerprint(self) -> str:
        return installed_fingerprint(self.installed)


def installed_fingerprint(installed: tuple[Installed, ...]) -> str:
    """Changes whenever a distribution is added, removed or its RECORD changes."""
    return _fingerprint((item.dist_info, item.record_text) for item in installed)


def installed_fingerprint_at(prefix: str, schemes: Mapping[str, str]) -> str:
    """`installed_fingerprint(scan_installed(prefix, schemes))`, from the RECORDs alone.

    What an apply checks the target against: it parses no METADATA or RECORD, so it
    imports neither installer nor packaging, however much is installed.
    """
    return _fingerprint(
        (dist_info, _record_of(folder)) for dist_info, folder in _dist_info_folders(prefix, schemes)
    )


def _fingerprint(records: Iterable[tuple[str, str | None]]) -> str:
    state = sorted((dist_info, record or "") for dist_info, record in records)
    return "sha256:" + hashlib.sha256(json.dumps(state).encode()).hexdigest()


_DIST_INFO = ".dist-info"
# Metadata that setuptools and distutils installs left (a folder, or a file holding
# PKG-INFO): the distribution is importable and visible to importlib.metadata, but lists
# no files with hashes, so it counts as installed with no RECORD.
_EGG_INFO = ".egg-info"


def _read_optional(path: str) -> str | None:
    """A metadata file's text; None when it is missing, unreadable or not a regular file
    (a FIFO named like one must not hang the scan)."""
    try:
        with open(open_regular(path), encoding="utf-8") as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError):
        return None


def _record_of(path: str) -> str | None:
    """The RECORD of the .dist-info at `path`; None for a legacy .egg-info, which has none."""
    return _read_optional(os.path.join(path, "RECORD")) if path.endswith(_DIST_INFO) else None


def _dist_info_folders(prefix: str, schemes: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """Each .dist-info (and legacy .egg-info) in the target's library folders, read from
    the disk as it is now: its path relative to the prefix, and the path itself."""
    seen: set[str] = set()
    for key in ("purelib", "platlib"):
        root = os.path.join(prefix, schemes[key])
        real = os.path.realpath(root)
        if real in seen or not os.path.isdir(root):
            continue
        seen.add(real)
        for entry in _metadata_entries(root):
            yield "/".join(filter(None, (schemes[key], entry))), os.path.join(root, entry)


def _metadata_entries(root: str) -> Iterator[str]:
    """The names of the .dist-info folders (and legacy .egg-info) in a site folder."""
    for entry in sorted(os.listdir(root)):
        if entry.endswith(_EGG_INFO) or (
            entry.endswith(_DIST_INFO) and os.path.isdir(os.path.join(root, entry))
        ):
            yield entry


def _named_version(entry: str) -> tuple[str, str]:
    """The name and version a metadata folder's own name gives."""
    if entry.endswith(_DIST_INFO):
        name, _, version = entry[: -len(_DIST_INFO)].rpartition("-")
        return name, version
    # NAME-VERSION[-pyX.Y[-PLATFORM]].egg-info; NAME and VERSION hold no "-".
    name, _, rest = entry[: -len(_EGG_INFO)].partition("-")
    return name, rest.partition("-")[0]


def _metadata_of(path: str) -> tuple[str | None, str, str]:
    """The METADATA (PKG-INFO for an .egg-info) text, and the name and version that the
    folder's own name gives, for when the metadata lacks them."""
    name, version = _named_version(os.path.basename(path))
    if path.endswith(_DIST_INFO):
        return _read_optional(os.path.join(path, "METADATA")), name, version
    pkg_info = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    return _read_optional(pkg_info), name, version


def scan_elsewhere(folders: Iterable[str]) -> dict[str, str]:
    """Name -> version of the distributions in `folders`, the first folder winning as
    it does for imports, from the metadata folders' names alone: only requirements are
    checked against them, so none of their files is read."""
    from packaging.utils import canonicalize_name  # as in scan_installed

    found: dict[str, str] = {}
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in _metadata_entries(folder):
                name, version = _named_version(entry)
                found.setdefault(canonicalize_name(name), version)
    return found


def scan_installed(prefix: str, schemes: Mapping[str, str]) -> tuple[Installed, ...]:
    """Every distribution in the target, with its METADATA and RECORD parsed.

    Its fingerprint is the one `installed_fingerprint_at` computes for the applier.
    """
    # Imported here, not with the module: the applier imports this module but parses
    # nothing installed, and these cost some 50 ms to import.
    from installer.utils import parse_metadata_file
    from packaging.utils import canonicalize_name

    problems: list[Problem] = []
    installed: list[Installed] = []
    for dist_info, directory in _dist_info_folders(prefix, schemes):
        text, fallback_name, fallback_version = _metadata_of(directory)
        metadata = parse_metadata_file(text or "")
        record = _record_of(directory)
        files, row_problems = _record_files(record, dist_info, prefix)
        problems += row_problems
        display_name = str(metadata.get("Name") or fallback_name)
        installed.append(
            Installed(
                name=canonicalize_name(display_name),
                display_name=display_name,
                version=str(metadata.get("Version") or fallback_version),
                dist_info=dist_info,
                installer=(_read_optional(os.path.join(directory, "INSTALLER")) or "").strip(),
                record_text=record,
                files=files,
                requires_dist=tuple(str(r) for r in metadata.get_all("Requires-Dist") or ()),
            )
        )
    if problems:
        raise Refused(problems)
    return tuple(installed)


def installed_twice(
    installed: Iterable[Installed], names: Collection[str] | None = None
) -> list[Problem]:
    """A problem for each name (of `names`, or any) with more than one metadata folder in
    the target, as an interrupted or racing installer leaves them: a plan would replace
    or remove one copy only, and which one importlib.metadata reads is unclear."""
    copies: dict[str, list[str]] = {}
    for item in installed:
        copies.setdefault(item.name, []).append(item.dist_info)
    return [
        Problem(
            name,
            f"installed more than once ({', '.join(sorted(copies[name]))});"
            " remove all but one first",
        )
        for name in sorted(copies if names is None else names)
        if len(copies.get(name, ())) > 1
    ]


def resolve_interpreter(python: str | None) -> str:
    """`--python` as uv takes it: an interpreter or a venv folder; without one, the
    active environment, else the `.venv` of the current folder or its nearest parent."""
    if python is None:
        venv = _active_environment() or _nearest_dot_venv(os.getcwd())
        if not venv:
            raise Refused.one(
                "--python",
                "no target given, no virtual or conda environment is active and no .venv is"
                " in this folder or its parents",
            )
        python = venv
    if os.path.isdir(python):
        python = os.path.join(python, "bin", "python")
    if not os.path.exists(python):
        raise Refused.one(python, "the target interpreter does not exist")
    return os.path.abspath(python)


def _active_environment() -> str | None:
    """What uv takes as active: $VIRTUAL_ENV, else an activated conda environment other
    than conda's base one, which (like uv) we treat as the system's and never pick."""
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        return venv
    conda = os.environ.get("CONDA_PREFIX")
    if conda and os.environ.get("CONDA_DEFAULT_ENV") not in ("base", "root"):
        return conda
    return None


def _nearest_dot_venv(folder: str) -> str | None:
    """The `.venv` uv finds: in `folder` or its nearest parent, a venv (has pyvenv.cfg)."""
    while True:
        candidate = os.path.join(folder, ".venv")
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def probe(python: str | None, *, planning: bool = True) -> TargetInfo:
    """What the target is; with `planning`, also what is installed in it and its markers.

    Confirming, verifying and recovering need only where the environment is and what
    it runs, and skip the rest (a confirming apply waits for this answer).
    """
    return BackgroundProbe(python, planning=planning).result()


class BackgroundProbe:
    """`probe`, started now and answered by `result()`: the target's interpreter runs
    while the caller does other work (imports, reading wheels, loading a plan).

    A child process and no thread, so the caller may still fork; any failure to start
    it is raised by `result()`, where a `probe` would have raised it.
    """

    def __init__(self, python: str | None, *, planning: bool = True) -> None:
        self._planning = planning
        self._failure: Refused | None = None
        self._answer: TargetInfo | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._interpreter = python or ""
        try:
            self._interpreter = resolve_interpreter(python)
            # Where our `packaging` is, found without importing it (only the target does).
            spec = importlib.util.find_spec("packaging")
            assert spec is not None and spec.origin is not None
            library = os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
            self._process = subprocess.Popen(
                [self._interpreter, "-I", "-c", _PROBE, library]
                + (["markers"] if planning else []),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except Refused as refused:
            self._failure = refused
        except OSError as error:
            self._failure = Refused.one(
                self._interpreter, f"cannot run the target interpreter: {error.strerror}"
            )

    def result(self) -> TargetInfo:
        """The target, or the refusal: the same on every call."""
        if self._answer is None and self._failure is None:
            try:
                self._answer = self._wait()
            except Refused as refused:
                self._failure = refused
        if self._failure is not None:
            raise self._failure
        assert self._answer is not None
        return self._answer

    def _wait(self) -> TargetInfo:
        assert self._process is not None
        interpreter = self._interpreter
        try:
            stdout, stderr = self._process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            raise Refused.one(
                interpreter, "the target interpreter did not answer in 120 s"
            ) from None
        try:
            if self._process.returncode != 0:
                raise ValueError
            data = json.loads(stdout)
        except ValueError:
            last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise Refused.one(interpreter, f"not a usable Python interpreter ({last[0]})") from None
        return _target_from_probe(data, self._planning)


def _relative(path: str, prefix: str, what: str) -> str:
    relative = os.path.relpath(path, prefix)
    if relative == ".":
        return ""
    if relative.startswith("..") or os.path.isabs(relative):
        raise Refused.one(prefix, f"the {what} directory {path} is outside the environment prefix")
    return relative.replace(os.sep, "/")


def _target_from_probe(data: dict[str, object], planning: bool) -> TargetInfo:
    prefix = str(data["prefix"])
    paths = data["paths"]
    assert isinstance(paths, dict)
    version = str(data["version"])
    schemes = {
        key: _relative(paths[key], prefix, key) for key in ("purelib", "platlib", "scripts", "data")
    }
    if data["in_venv"]:
        schemes["headers"] = f"include/site/python{version}"
    else:
        schemes["headers"] = _relative(paths["include"], prefix, "include")
    markers = data["markers"]
    tags = data["tags"]
    assert isinstance(markers, dict) and isinstance(tags, list)
    return TargetInfo(
        interpreter=str(data["executable"]),
        prefix=prefix,
        python_version=version,
        schemes=schemes,
        tags=tuple(tags),
        markers=markers,
        installed=_scan_unless_interrupted(prefix, schemes, str(data["executable"]))
        if planning
        else (),
        externally_managed=_externally_managed(data["externally_managed"]),
        elsewhere=scan_elsewhere(_outside(data["site"], prefix, schemes)) if planning else {},
    )


def _outside(folders: object, prefix: str, schemes: Mapping[str, str]) -> list[str]:
    """The site folders on the target's path that are not its own library folders."""
    assert isinstance(folders, list)
    own = {os.path.realpath(os.path.join(prefix, schemes[key])) for key in ("purelib", "platlib")}
    return [str(folder) for folder in folders if os.path.realpath(str(folder)) not in own]


def _externally_managed(answer: object) -> ExternallyManaged | None:
    if not isinstance(answer, dict):
        return None
    message = answer["message"]
    return ExternallyManaged(str(answer["marker"]), None if message is None else str(message))


def _scan_unless_interrupted(
    prefix: str, schemes: Mapping[str, str], interpreter: str
) -> tuple[Installed, ...]:
    """The installed distributions, unless a crashed apply left them half-changed.

    A killed apply can leave a RECORD half-written; the user must hear about the
    journal and the way out, not about that RECORD. The planner takes no lock, so
    the journal may also belong to an apply that is still running.
    """
    if os.path.lexists(os.path.join(prefix, JOURNAL_DIR)):
        raise Refused.one(
            prefix,
            "an apply is running here or was interrupted (it left a journal); unless one"
            f" is running, run 'wheelplan recover --python {interpreter}' first",
        )
    return scan_installed(prefix, schemes)


def _prefix_relative(base: str, path: str, prefix: str) -> str:
    """A RECORD row's path (relative to the folder holding the dist-info, or absolute)
    made relative to the prefix, lexically as `os.path.relpath` would.

    A row that stays below the prefix, joined to `base` alone, gives the same answer
    without the two `abspath` calls of `relpath`: a third of a re-plan's scan of
    17,000 rows.
    """
    relative = os.path.normpath(os.path.join(base, path))
    if os.path.isabs(relative) or relative.startswith(os.pardir):
        # Absolute, or climbing above the prefix (maybe back into it, by its name).
        relative = os.path.relpath(os.path.join(prefix, relative), prefix)
    return relative.replace(os.sep, "/")


def record_without(item: Installed, prefix: str, dropped: Collection[str]) -> str:
    """`item`'s RECORD without the rows of `dropped` (paths relative to the prefix, as
    `item.files` has them), written as installers write RECORD."""
    import csv
    import io

    from installer.records import parse_record_file  # see scan_installed

    assert item.record_text is not None
    base = os.path.dirname(item.dist_info)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in parse_record_file(item.record_text.splitlines()):
        if _prefix_relative(base, row[0], prefix) not in dropped:
            writer.writerow(row)
    return out.getvalue()


def _record_files(
    record: str | None, dist_info: str, prefix: str
) -> tuple[dict[str, str], list[Problem]]:
    """An installed RECORD's paths made relative to the prefix, with their hashes as the
    spec spells them; rows leaving the prefix are refused."""
    from installer.records import parse_record_file  # see scan_installed

    if record is None:
        return {}, []
    base = os.path.dirname(dist_info)
    files: dict[str, str] = {}
    problems = []
    try:
        rows = list(parse_record_file(record.splitlines()))
    except Exception:  # the csv module raises several kinds
        return {}, [Problem(f"{dist_info}/RECORD", "is not valid CSV")]
    for path, hash_text, _ in rows:
        relative = _prefix_relative(base, path, prefix)
        if relative.startswith("../") or relative == ".." or path_problem(relative):
            problems.append(
                Problem(f"{dist_info}/RECORD", f"row {path!r} points outside the environment")
            )
            continue
        if hash_text:
            # Hex, as installer before 0.6 wrote it, or padded: compared as the digest.
            hash_text = canonical_hash(hash_text) or hash_text
        files[relative] = hash_text
    return files, problems
