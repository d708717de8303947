"""The target environment, learned by running its own interpreter once.

Scheme paths, tags and markers must be the target's, not ours, so the planner asks
the target's Python. The probe needs only the standard library plus `packaging`,
which it imports from our own installation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
from collections.abc import Mapping

import attrs
import msgspec

from planner import running
from planner.discovery import resolve_interpreter
from planner.errors import Refused
from planner.installed import Installed, scan_elsewhere, scan_installed
from planner.installedstate import installed_state
from planner.journalnames import JOURNAL_DIR, running_or_interrupted
from planner.paths import has_control, is_utf8, parents, path_problem
from planner.place import Place, recover_command
from planner.plan import InstalledFolder, TargetLayout

# `--target DIR` (pip's and uv's): a plain folder that goes on sys.path (a Lambda layer,
# a zipapp, a vendored tree), laid out as uv lays it out: modules and data at the top,
# scripts in bin/, headers in include/NAME. Only what is in the folder counts as installed.
DIRECTORY_SCHEMES: Mapping[str, str] = {
    "purelib": "",
    "platlib": "",
    "headers": "include",
    "scripts": "bin",
    "data": "",
}


def above_schemes(schemes: Mapping[str, str]) -> set[str]:
    """The folders inside the prefix above a scheme folder, which no file goes into
    but an apply may have to make, and never removes: Debian's `/usr/bin/python3` has
    its headers in `include/python3.11` under the prefix `/usr`, where `include` is in
    no scheme. A scheme path that is no safe path has no folders above it here."""
    return {
        folder
        for root in schemes.values()
        if root and path_problem(root) is None
        for folder in parents(root)
    }


def interpreter_problem(interpreter: str) -> str | None:
    """Why a target's interpreter may not be run, if it may not.

    It is run (to confirm the target, to compile bytecode) and written into every
    script's shebang line, where a line break would smuggle in a command. An apply
    checks this before it runs the interpreter, which it does before the rest of the
    plan is validated; `plan` checks it before it writes a plan no apply would take.
    """
    if not os.path.isabs(interpreter) or has_control(interpreter):
        return (
            f"target interpreter {interpreter!r} is not an absolute path without control characters"
        )
    if not interpreter.isascii() and not is_utf8(interpreter):
        return f"target interpreter {interpreter!r} is not valid UTF-8, as a shebang line must be"
    return None


def prefix_problem(prefix: str) -> str | None:
    """Why a target's prefix is no folder a plan may name, if it is not: every path of
    the plan is joined to it, and it is printed in the commands a user is told to run."""
    if not os.path.isabs(prefix) or os.path.normpath(prefix) != prefix:
        return f"target prefix {prefix!r} is not a plain absolute path"
    if has_control(prefix):
        return f"target prefix {prefix!r} contains a NUL or control character"
    return None


# The oldest Python the probe can run in: it imports our `packaging`, which needs 3.10
# (as pip 26, which re-runs itself in the interpreter `--python` names, does).
MIN_TARGET_PYTHON = (3, 10)


# How the probe's own refusals begin, so that they are quoted as refusals, not crashes.
_REFUSAL = "wheelplan probe: "


def _probe_source(minimum: tuple[int, int]) -> str:
    """The probe, refusing an interpreter older than `minimum` before it imports anything
    that such a Python could not parse."""
    return _PROBE_TEMPLATE.replace("MINIMUM", repr(minimum)).replace("REFUSAL", repr(_REFUSAL))


# Markers only when planning (argv[2]): importing packaging.markers is half the probe's time.
_PROBE_TEMPLATE = r"""
import json, os, site, sys, sysconfig
if sys.version_info < MINIMUM:
    sys.exit(REFUSAL + "Python %d.%d is too old: wheelplan installs into Python %d.%d or newer"
             % (sys.version_info[:2] + MINIMUM))
sys.path.insert(0, sys.argv[1])
from packaging.tags import sys_tags
if sys.argv[2] == "markers":
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

if sys.argv[3]:  # --prefix: where a venv there would put each scheme
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
    bases = ("base", "platbase", "installed_base", "installed_platbase")
    paths = sysconfig.get_paths(scheme, vars=dict.fromkeys(bases, sys.argv[3]))
else:
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
class ExternallyManaged:
    """A Python that another package manager owns (PEP 668), as its marker file says."""

    marker: str
    # The marker's message for the user, or None when it gives none.
    message: str | None


# The probe's answer, as the probe prints it; its shape is checked before any of it is
# used, since the interpreter given may be any program, and print any JSON.
@attrs.frozen
class _Paths:
    purelib: str
    platlib: str
    scripts: str
    data: str
    include: str


@attrs.frozen
class _Answer:
    executable: str
    prefix: str
    in_venv: bool
    externally_managed: ExternallyManaged | None
    version: str
    paths: _Paths
    site: list[str]
    tags: list[str]
    markers: dict[str, str]


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
    layout: TargetLayout = "environment"

    @property
    def tags_fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256("\n".join(self.tags).encode()).hexdigest()

    @property
    def installed_state(self) -> tuple[InstalledFolder, ...]:
        return installed_state(self.installed)


def probe(python: str | None, *, planning: bool = True, place: Place | None = None) -> TargetInfo:
    """What the target is; with `planning`, also what is installed in it and its markers.

    Confirming, verifying and recovering need only where the environment is and what
    it runs, and skip the rest (a confirming apply waits for this answer). With
    `place`, the target is that folder (`--target`, `--prefix`), for the interpreter
    `python`.
    """
    return BackgroundProbe(python, planning=planning, place=place).result()


class BackgroundProbe:
    """`probe`, started now and answered by `result()`: the target's interpreter runs
    while the caller does other work (imports, reading wheels, loading a plan).

    A child process and no thread, so the caller may still fork; any failure to start
    it is raised by `result()`, where a `probe` would have raised it.
    """

    def __init__(
        self, python: str | None, *, planning: bool = True, place: Place | None = None
    ) -> None:
        self._planning = planning
        self._place = place
        self._failure: Refused | None = None
        self._answer: TargetInfo | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._interpreter = python or ""
        try:
            self._interpreter = resolve_interpreter(python, system=place is not None)
            # Where our `packaging` is, found without importing it (only the target does).
            spec = importlib.util.find_spec("packaging")
            assert spec is not None and spec.origin is not None
            library = os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
            self._process = subprocess.Popen(
                [
                    *(self._interpreter, *running.FLAGS, "-c", _PROBE, library),
                    "markers" if planning else "",
                    place.folder if place is not None and place.layout == "prefix" else "",
                ],
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
            stdout, stderr = running.communicate(self._process, running.MAX_ANSWER, timeout=120)
        except subprocess.TimeoutExpired:
            raise Refused.one(
                interpreter, "the target interpreter did not answer in 120 s"
            ) from None
        except running.TooMuchOutput:
            ceiling = running.MAX_ANSWER >> 20
            raise Refused.one(
                interpreter, f"not a usable Python interpreter (it said more than {ceiling} MiB)"
            ) from None
        try:
            if self._process.returncode != 0:
                raise ValueError
            data = json.loads(stdout)
        except ValueError:
            raise Refused.one(
                interpreter,
                f"not a usable Python interpreter ({_why(self._process.returncode, stderr)})",
            ) from None
        try:
            answer = msgspec.convert(data, _Answer)
        except msgspec.ValidationError as error:
            raise Refused.one(
                interpreter, f"not a usable Python interpreter (its answer is not ours: {error})"
            ) from None
        return _target_from_probe(answer, self._planning, self._place)


def _why(returncode: int, stderr: bytes) -> str:
    """Why a probe failed, for one error line (see `running.failure`); Python 2 refuses
    -I with a usage text that says nothing of why. The probe's own refusal (its last
    words, though a wrapper may add its own after them) is said as it is: an exit status
    would make it read as a crash."""
    lines = running.lines_said(stderr)
    if len(lines) > 1 and lines[-1].startswith("Try `python -h'"):
        return f"{lines[0]}: Python 2 has no -I; wheelplan installs into Python 3.10 or newer"
    if returncode == 0:
        return "its answer is not JSON"
    refusals = [line for line in lines if line.startswith(_REFUSAL)]
    if refusals:  # a wrapper may add a line of its own, or its own exit status
        return running.quoted(refusals[-1].removeprefix(_REFUSAL))
    return running.failure(returncode, stderr)


def _relative(path: str, prefix: str, what: str) -> str:
    relative = os.path.relpath(path, prefix)
    if relative == ".":
        return ""
    if relative.startswith("..") or os.path.isabs(relative):
        raise Refused.one(prefix, f"the {what} directory {path} is outside the environment prefix")
    return relative.replace(os.sep, "/")


def _target_from_probe(answer: _Answer, planning: bool, place: Place | None = None) -> TargetInfo:
    """The target the interpreter's `answer` describes: its environment, or the folder
    `place` for it.

    A folder is not the interpreter's environment: no PEP 668 marker applies to it
    (pip skips the check for --target and --prefix too), and what that environment has
    installed does not meet requirements there, since the folder is used without it.
    """
    interpreter, version = answer.executable, answer.version
    schemes: Mapping[str, str]
    layout: TargetLayout = "environment"
    if place is None:
        prefix = answer.prefix
        schemes = _schemes_of(answer.paths, prefix, version, venv=answer.in_venv)
    else:
        prefix, layout = place.checked(), place.layout
        if layout == "directory":
            schemes = DIRECTORY_SCHEMES
        else:  # the probe answered with a venv's scheme paths under the prefix
            schemes = _schemes_of(answer.paths, prefix, version, venv=True)
    environment = layout == "environment"
    return TargetInfo(
        interpreter=interpreter,
        prefix=prefix,
        python_version=version,
        schemes=schemes,
        tags=tuple(answer.tags),
        markers=answer.markers,
        installed=_scan_unless_interrupted(prefix, schemes, interpreter, layout)
        if planning
        else (),
        externally_managed=answer.externally_managed if environment else None,
        elsewhere=scan_elsewhere(_outside(answer.site, prefix, schemes))
        if planning and environment
        else {},
        layout=layout,
    )


def _schemes_of(paths: _Paths, prefix: str, version: str, *, venv: bool) -> dict[str, str]:
    """The scheme paths the probe answered, relative to `prefix`."""
    schemes = {
        key: _relative(getattr(paths, key), prefix, key)
        for key in ("purelib", "platlib", "scripts", "data")
    }
    if venv:
        schemes["headers"] = f"include/site/python{version}"
    else:
        schemes["headers"] = _relative(paths.include, prefix, "include")
    return one_library_name(prefix, schemes)


def one_library_name(prefix: str, schemes: dict[str, str]) -> dict[str, str]:
    """`schemes` with platlib named as purelib when both are one folder.

    Fedora's platlib is under `lib64`, which a venv links to `lib`: planned under two
    names, a pure and a platform wheel's shared `ns/__init__.py` would not be merged,
    and both would create `ns/`. Installed distributions are read by purelib's name too.
    """
    pure, plat = (os.path.join(prefix, schemes[key]) for key in ("purelib", "platlib"))
    if pure != plat and os.path.realpath(pure) == os.path.realpath(plat):
        return {**schemes, "platlib": schemes["purelib"]}
    return schemes


def _outside(folders: list[str], prefix: str, schemes: Mapping[str, str]) -> list[str]:
    """The site folders on the target's path that are not its own library folders."""
    own = {os.path.realpath(os.path.join(prefix, schemes[key])) for key in ("purelib", "platlib")}
    return [folder for folder in folders if os.path.realpath(folder) not in own]


def _scan_unless_interrupted(
    prefix: str, schemes: Mapping[str, str], interpreter: str, layout: TargetLayout
) -> tuple[Installed, ...]:
    """The installed distributions, unless a crashed apply left them half-changed.

    A killed apply can leave a RECORD half-written; the user must hear about the
    journal and the way out, not about that RECORD. The planner takes no lock, so
    the journal may also belong to an apply that is still running.
    """
    if os.path.lexists(os.path.join(prefix, JOURNAL_DIR)):
        raise Refused.one(
            prefix, f"{running_or_interrupted(recover_command(interpreter, prefix, layout))} first"
        )
    return scan_installed(prefix, schemes, directory=layout == "directory")
