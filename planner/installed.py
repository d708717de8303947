"""What is installed in a target, read from its disk: the distributions' metadata
folders and the lists of their files (RECORD, or a legacy installed-files.txt), whose
digests (`installedstate.py`) an apply checks the target against.

Apart from `target.py`, which learns the target from its interpreter: the applier
checks a fingerprint without running anything, and `verify` scans without planning.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

import attrs

from planner.errors import Problem
from planner.inputfiles import MAX_METADATA_BYTES, read_at_most
from planner.installedrecord import (
    ParsedRecord,
    Rows,
    parse_record,
    parsed_files,
    prefix_relative,
    record_files,
    row_problem,
)
from planner.listing import is_real_dir
from planner.paths import is_within, parents, printable
from planner.trees import OnError, walk


@attrs.frozen
class Installed:
    """A distribution already in the target, with the files its RECORD (or legacy
    installed-files.txt) claims."""

    name: str
    display_name: str
    version: str
    dist_info: str
    installer: str
    # The RECORD text, or a legacy .egg-info's installed-files.txt; None when neither.
    listing: str | None
    # Path relative to the prefix -> RECORD hash ("" when none is given, as always for
    # an .egg-info).
    files: Mapping[str, str]
    # Its METADATA Requires-Dist, so a plan that breaks it can say so.
    requires_dist: tuple[str, ...] = ()
    # Why `files` are not known to be all of its own (so it is never replaced or
    # removed); None when they are.
    unlisted: str | None = None
    # Path -> the size its RECORD row gives, where it gives one.
    sizes: Mapping[str, int] = attrs.field(factory=dict)
    # Its RECORD rows that lead outside the prefix, as written: not among `files`, so
    # never checked, replaced or removed.
    outside: tuple[str, ...] = ()
    # Read in a --target folder, where a row two folders up names what pip's move put
    # there (see `installedrecord._moved_by_pip`); RECORD rewrites must read the rows so too.
    directory: bool = False

    @property
    def legacy(self) -> bool:
        """An .egg-info: its list has no hashes and is no RECORD to rewrite."""
        return self.dist_info.endswith(_EGG_INFO)

    @property
    def named(self) -> str:
        """Its name and version, as messages give them; the name alone when it has no
        version (an .egg-link whose project is gone)."""
        return f"{self.display_name} {self.version}" if self.version else self.display_name


def left_outside(item: Installed) -> str | None:
    """Why a plan that removes `item` leaves files it lists, if it does: what a row
    leading outside the environment names is never removed, however it got there."""
    if not item.outside:
        return None
    rows = ", ".join(map(repr, item.outside))
    return f"{item.named}: its RECORD lists {rows} outside the environment; left as it is"


def in_metadata(path: str, folders: Collection[str]) -> bool:
    """Whether `path` is one of the metadata `folders` (an .egg-info file) or in one."""
    return path in folders or not set(parents(path)).isdisjoint(folders)


def left_in_metadata(item: Installed, paths: Sequence[str]) -> str:
    """Why a plan that removes `item` leaves `paths` it lists: they are another
    distribution's metadata, which is that one's whatever any RECORD says (see
    `unlisted_metadata`), and it stays."""
    rows = ", ".join(map(repr, paths))
    return (
        f"{item.named}: its RECORD lists {rows}, in the metadata of a"
        " distribution that stays; left as it is"
    )


# A metadata folder as the applier reads it: its path relative to the prefix, the path
# itself, and its file list's text (RECORD, or a legacy installed-files.txt; None: none).
FileList = tuple[str, str, str | None]


def file_lists(prefix: str, schemes: Mapping[str, str]) -> list[FileList]:
    """Each metadata folder's file list, read once for what the applier checks by them
    (`installed_state_at`, `listed_files`)."""
    return [
        (dist_info, folder, _listing_of(folder))
        for dist_info, folder in _dist_info_folders(prefix, schemes)
    ]


def parsed_records(lists: Sequence[FileList]) -> dict[str, ParsedRecord]:
    """Each `.dist-info`'s RECORD among `lists` (`file_lists`), parsed once for every
    check of the applier that reads it."""
    return {
        dist_info: parse_record(listing)
        for dist_info, _, listing in lists
        if listing is not None and dist_info.endswith(_DIST_INFO)
    }


def listed_files(
    base: str,
    lists: Sequence[FileList],
    records: Mapping[str, ParsedRecord],
    prefix: str | None = None,
    *,
    directory: bool = False,
) -> dict[str, Mapping[str, str]]:
    """The paths each installed distribution lists (its RECORD, with their hashes, or a
    legacy list and folder), by metadata folder: what a plan may replace or remove, and
    whose it is.

    `base` is where the files are (the prefix, or the staged one under --root), `lists`
    its `file_lists` and `records` their `parsed_records`; rows are read against
    `prefix`, as the planner read them, where an absolute one names it, and as in a
    --target folder with `directory`. Parses no METADATA, so it imports no packaging:
    the applier checks a plan's removals by it.
    """
    listed: dict[str, Mapping[str, str]] = {}
    for dist_info, folder, listing in lists:
        if dist_info.endswith(_DIST_INFO):
            record = records.get(dist_info)
            listed[dist_info] = (
                {}
                if record is None
                else parsed_files(record, dist_info, prefix or base, directory).files
            )
        elif _leads_outside(folder, base):
            listed[dist_info] = {}  # not walked out there, as the planner does not walk it
        else:
            listed[dist_info] = _legacy_files(listing, dist_info, base)[0]
    return listed


def bytecode_source(path: str) -> str | None:
    """`pkg/mod.py` for `pkg/__pycache__/mod.cpython-311[.opt-1].pyc`, else None: the
    source whose bytecode goes with it, listed or not. A source's name may hold dots
    (`conf.d.py`); the cache tag and the optimisation level hold none."""
    folder, name = posixpath.split(path)
    if posixpath.basename(folder) != "__pycache__" or not name.endswith(".pyc"):
        return None
    stem, _, level = name[: -len(".pyc")].rpartition(".")
    if level.startswith("opt-"):
        stem = stem.rpartition(".")[0]
    return posixpath.join(posixpath.dirname(folder), stem + ".py") if stem else None


_DIST_INFO = ".dist-info"
# Metadata that setuptools and distutils installs left (a folder, or a file holding
# PKG-INFO): the distribution is importable and visible to importlib.metadata. A folder
# may list its files, with no hashes, in installed-files.txt (pip's `setup.py install`
# wrote one, relative to the folder); pip uninstalls by it, and so does wheelplan.
_EGG_INFO = ".egg-info"
_LEGACY_LIST = "installed-files.txt"
# A legacy editable install (`setup.py develop`, pip's `install -e` before PEP 660): a
# NAME.egg-link whose first line is the folder holding the project's NAME.egg-info, which
# a line of easy-install.pth puts on sys.path. pip and uv uninstall it by removing the
# link and that line, which no plan can name: it is installed, but never replaced or
# removed (see `_files_of`).
_EGG_LINK = ".egg-link"


def _read_optional(path: str) -> str | None:
    """A metadata file's text; None when it is missing, unreadable, not a regular file (a
    FIFO named like one must not hang the scan) or larger than any real one (a sparse
    file would otherwise be read whole). Line ends are read as text mode reads them, and
    a byte order mark an editor put first is no text: uv 0.13.9 reads a RECORD past it,
    where pip 26.3 takes it into the first row's path and leaves that file behind."""
    try:
        text = read_at_most(path, MAX_METADATA_BYTES, regular=True).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _listing_of(path: str) -> str | None:
    """The RECORD of the .dist-info at `path`, or the installed-files.txt of the .egg-info
    folder there; None when it has none (an .egg-info file has none)."""
    if path.endswith(_EGG_LINK):
        return None
    listing = "RECORD" if path.endswith(_DIST_INFO) else _LEGACY_LIST
    return _read_optional(os.path.join(path, listing))


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
    """The names of the .dist-info folders (and legacy .egg-info and .egg-link) in a site
    folder."""
    for entry in sorted(os.listdir(root)):
        if _is_metadata(root, entry):
            yield entry


def _is_metadata(root: str, entry: str) -> bool:
    """Whether `entry` in the site folder `root` is a distribution's metadata."""
    if entry.endswith(_EGG_INFO):
        return True  # a folder, or the file distutils wrote
    # A .dist-info is a folder and an .egg-link a file: the other kind of either is junk,
    # which pip and uv pass over.
    folder = entry.endswith(_DIST_INFO)
    return (folder or entry.endswith(_EGG_LINK)) and os.path.isdir(
        os.path.join(root, entry)
    ) == folder


def _named_version(entry: str) -> tuple[str, str]:
    """The name and version a metadata folder's own name gives."""
    if entry.endswith(_DIST_INFO):
        name, _, version = entry[: -len(_DIST_INFO)].rpartition("-")
        return name, version
    if entry.endswith(_EGG_LINK):
        return entry[: -len(_EGG_LINK)], ""  # the version is in the project's metadata
    # NAME-VERSION[-pyX.Y[-PLATFORM]].egg-info; NAME and VERSION hold no "-".
    name, _, rest = entry[: -len(_EGG_INFO)].partition("-")
    return name, rest.partition("-")[0]


def _metadata_of(path: str) -> tuple[str | None, str, str]:
    """The METADATA (PKG-INFO for an .egg-info) text, and the name and version that the
    folder's own name gives, for when the metadata lacks them."""
    name, version = _named_version(os.path.basename(path))
    if path.endswith(_DIST_INFO):
        return _read_optional(os.path.join(path, "METADATA")), name, version
    if path.endswith(_EGG_LINK):
        project = _linked_project(path)
        pkg_info = os.path.join(project, name + _EGG_INFO, "PKG-INFO") if project else None
        return _read_optional(pkg_info) if pkg_info else None, name, version
    pkg_info = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    return _read_optional(pkg_info), name, version


def _linked_project(egg_link: str) -> str | None:
    """The folder an .egg-link names on its first line (relative to the link's own
    folder, if it is relative), or None when it names none."""
    first = (_read_optional(egg_link) or "").partition("\n")[0].strip()
    return os.path.normpath(os.path.join(os.path.dirname(egg_link), first)) if first else None


def scan_elsewhere(folders: Iterable[str]) -> dict[str, str]:
    """Name -> version of the distributions in `folders`, the first folder winning as
    it does for imports, from the metadata folders' names alone: only requirements are
    checked against them, so none of their files is read."""
    from packaging.utils import canonicalize_name  # as in scan_installed

    found: dict[str, str] = {}
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in _metadata_entries(folder):
                if entry.endswith(_EGG_LINK):
                    continue  # its name has no version
                name, version = _named_version(entry)
                found.setdefault(canonicalize_name(name), version)
    return found


def scan_installed(
    prefix: str, schemes: Mapping[str, str], *, directory: bool = False
) -> tuple[Installed, ...]:
    """Every distribution in the target (a --target folder with `directory`), with its
    METADATA and file list parsed.

    Its state is the one `installed_state_at` computes for the applier.
    """
    # Imported here, not with the module: the applier imports this module but parses
    # nothing installed, and these cost some 50 ms to import.
    from installer.utils import parse_metadata_file
    from packaging.utils import canonicalize_name

    installed: list[Installed] = []
    for dist_info, folder in _dist_info_folders(prefix, schemes):
        text, fallback_name, fallback_version = _metadata_of(folder)
        metadata = parse_metadata_file(text or "")
        listing = _listing_of(folder)
        installer = (_read_optional(os.path.join(folder, "INSTALLER")) or "").strip()
        rows, unlisted = _files_of(dist_info, folder, listing, prefix, directory, installer)
        display_name = _named_by(str(metadata.get("Name") or ""), fallback_name, dist_info)
        installed.append(
            Installed(
                name=canonicalize_name(display_name),
                display_name=display_name,
                version=str(metadata.get("Version") or fallback_version),
                dist_info=dist_info,
                installer=installer,
                listing=listing,
                files=rows.files,
                requires_dist=tuple(str(r) for r in metadata.get_all("Requires-Dist") or ()),
                unlisted=unlisted,
                sizes=rows.sizes,
                outside=rows.outside,
                directory=directory,
            )
        )
    return tuple(installed)


def _named_by(metadata_name: str, folder_name: str, dist_info: str) -> str:
    """The name an installed distribution goes by: its METADATA's, unless its metadata
    folder's own name names another project. An apply tells what a removal takes by the
    folder's name alone (`applier.projectnames`), and uv 0.13.9 names it so too, so a
    plan naming it by METADATA would be refused by its own apply. An .egg-link's name
    says no version, and nothing removes it."""
    from packaging.utils import canonicalize_name  # as in scan_installed

    if dist_info.endswith(_EGG_LINK) or not folder_name:
        return metadata_name or folder_name
    if canonicalize_name(metadata_name) == canonicalize_name(folder_name):
        return metadata_name
    return folder_name


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


def files_below(
    base: str,
    root: str,
    prune: Callable[[str], bool] | None = None,
    onerror: OnError | None = None,
) -> list[str]:
    """Every non-folder entry below `base/root`, relative to `base`; links are entries.

    The folders `prune` is true of (given their paths relative to `base`) are left out.
    A folder that cannot be listed is left out too, and given to `onerror` if there is
    one.
    """
    found: list[str] = []
    top = os.path.join(base, root) if root else base
    if not os.path.isdir(top):
        return found
    start = os.path.relpath(top, base).replace(os.sep, "/")
    start = "" if start == "." else start
    for folder in walk(top, onerror=onerror):
        relative = posixpath.join(start, folder.path) if folder.path else start
        inside = f"{relative}/" if relative else ""
        if prune is not None:
            folder.folders[:] = [name for name in folder.folders if not prune(inside + name)]
        folder.folders.sort()
        found += [inside + name for name in folder.others]
    return found


def unlisted_metadata(item: Installed, prefix: str) -> tuple[list[str], list[Problem]]:
    """The files in `item`'s .dist-info that its RECORD leaves out, which go with it all
    the same, and why some cannot.

    The folder is the distribution's metadata whatever its RECORD lists: left behind,
    it still names a distribution that is gone, and an upgrade leaves two versions of
    it side by side (pip and uv leave it so).
    """
    if item.legacy or item.unlisted is not None:
        return [], []  # the files of an .egg-info folder are all listed; see `unlisted`
    if os.path.islink(os.path.join(prefix, item.dist_info)):
        # Its files would go through the link, and the link stay behind (naming a
        # distribution that is gone), or go first and leave them.
        why = "its metadata folder is a symlink; remove it by hand"
        return [], [Problem(item.dist_info, f"cannot remove {item.named}: {why}")]
    unreadable: list[OSError] = []
    found: list[str] = []
    problems: list[Problem] = []
    # A symlink that listed files are reached through stays: moved aside first, it
    # would take them along (the plan then refuses the folder it leaves).
    reached_through = {folder for path in item.files for folder in parents(path)}
    for path in files_below(prefix, item.dist_info, onerror=unreadable.append):
        if path in item.files or path in reached_through:
            continue
        if problem := row_problem(path):
            problems.append(
                Problem(item.dist_info, f"holds {path!r}, which {problem}; remove it by hand")
            )
        else:
            found.append(path)
    problems += [
        Problem(item.dist_info, f"{error.filename} cannot be read ({error.strerror or error})")
        for error in unreadable
    ]
    return found, problems


def _files_of(
    dist_info: str,
    folder: str,
    listing: str | None,
    prefix: str,
    directory: bool,
    installer: str = "",
) -> tuple[Rows, str | None]:
    """A distribution's files, from its RECORD or legacy list, and why they are not
    known to be all of its own (None when they are)."""
    if dist_info.endswith(_EGG_LINK):
        project = _linked_project(folder)
        of = f" of {project!r}" if project else ""
        return Rows(), (
            f"it is a legacy editable install{of} (setup.py develop), which pip uninstall removes"
        )
    outside = _leads_outside(folder, prefix)
    rows = Rows()
    if dist_info.endswith(_DIST_INFO):
        rows = record_files(listing, dist_info, prefix, directory)
        unlisted = rows.unknown if listing is not None else _no_record(folder, installer)
    elif outside:
        unlisted = None  # a legacy folder is not walked out there
    else:
        files, unlisted = _legacy_files(listing, dist_info, prefix)
        rows = Rows(files=files)
    if outside:
        # Removing its metadata would remove files outside (the applier refuses it too);
        # its RECORD still says what it owns.
        unlisted = "its metadata folder is a symlink that leads outside the environment"
    return rows, unlisted


# The installers that uninstall by RECORD alone: one that wrote no RECORD cannot.
_RECORD_READERS = frozenset({"pip", "uv", "wheelplan"})


def _no_record(folder: str, installer: str) -> str:
    """Why a .dist-info's RECORD gave no text: there is none, or one that cannot be read
    (not UTF-8, too large, no file), which is not the same way out. Like pip's refusal,
    it names the installer another tool's INSTALLER names: that tool may remove it."""
    path = os.path.join(folder, "RECORD")
    try:
        read_at_most(path, MAX_METADATA_BYTES, regular=True).decode("utf-8")
        why = "it has no RECORD"  # one appeared since it was read
    except FileNotFoundError:
        why = "it has no RECORD"
    except OSError as error:
        why = f"its RECORD cannot be read ({error.strerror or error})"
    except UnicodeDecodeError as error:
        why = f"its RECORD is not UTF-8 text (at byte {error.start})"
    tool = installer.partition("\n")[0].strip()
    if tool and tool.lower() not in _RECORD_READERS:
        why += f" (installed by {printable(tool)}, which may remove it)"
    return why


def _leads_outside(folder: str, prefix: str) -> bool:
    """Whether `folder` is a symlink to somewhere outside `prefix` (one `lstat` when not)."""
    if not os.path.islink(folder):
        return False
    return not is_within(os.path.realpath(folder), os.path.realpath(prefix))


def _legacy_files(
    listing: str | None, egg_info: str, prefix: str
) -> tuple[dict[str, str], str | None]:
    """A legacy .egg-info's files, as pip uninstalls it: what its installed-files.txt
    lists (relative to the folder) and everything in the folder itself; or why they are
    not known.

    A listed folder is left out, where pip would remove it whole: what the list does
    not name in it may be anyone's.
    """
    if listing is None:
        return {}, f"it has no RECORD or {_LEGACY_LIST}"
    files: dict[str, str] = {}
    for line in listing.splitlines():
        row = line.strip()
        if not row:
            continue
        relative = prefix_relative(egg_info, row, prefix)
        if problem := row_problem(relative):
            return {}, f"its {_LEGACY_LIST} row {row!r} {problem}"
        full = os.path.join(prefix, relative)
        if not is_real_dir(full):
            files[relative] = ""
    unreadable: list[OSError] = []
    for path in files_below(prefix, egg_info, onerror=unreadable.append):
        # Checked as a row is: one over MAX_DEPTH deep is no path a plan may remove.
        if problem := row_problem(path):
            return {}, f"its folder holds {path!r}, which {problem}"
        files[path] = ""
    if unreadable:
        # Its files are all in the folder: one that cannot be listed hides some.
        error = unreadable[0]
        return {}, f"{error.filename} cannot be read ({error.strerror or error})"
    return files, None
