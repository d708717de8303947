"""The names `uninstall -r FILE` removes: a requirements file read as pip's and uv's
uninstall read one, for the distributions its lines name and nothing else.

A line's requirement is parsed by packaging: its version, extras and markers are
ignored (pip and uv remove the distribution whatever they say), and `NAME @ URL`
names NAME; its own options, after it, must be ones pip takes there (`--hash`). A path
or URL of a wheel names the wheel's distribution, as pip's does.
`-r` reads another file, relative to the one naming it; a constraints file and the
options that say where to find distributions name none, and are passed over; any
other line, and a file that cannot be read, is refused naming the file and line.
"""

from __future__ import annotations

import codecs
import os
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import unquote, urlsplit

from planner.errors import Problem, Refused
from planner.inputfiles import read_input
from planner.redaction import redacted

# A requirements file for thousands of distributions is some hundred KB.
MAX_REQUIREMENTS_BYTES = 16 * 1024**2
# Files each read by the one before: real ones are a few deep; pip's reading of 1,500
# ends in a RecursionError, and uv's overflows its stack.
MAX_INCLUDE_DEPTH = 100

# pip's spellings of the requirements-file options, short ones as their long ones.
_SHORT = {"-r": "--requirement", "-c": "--constraint", "-e": "--editable"}
_SHORT |= {"-i": "--index-url", "-f": "--find-links"}
_WHERE = {  # where distributions are found, and how: nothing to remove
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--trusted-host",
    "--use-feature",
}
_FLAGS = {"--no-index", "--pre", "--prefer-binary", "--require-hashes"}
# The options pip takes on a requirement's line, after it.
_REQUIREMENT_OPTIONS = {"--hash", "--config-settings", "-C"}

_NO_NAME = "{!r} names no distribution; give its name (NAME, or NAME @ URL)"


# pip's: a comment starts the line or follows white space (a URL's `#sha256=` does not).
# Found by its `#` alone: pip's `(^|\s+)#.*$` tries each space of a run again, a hang
# on a long run of them.
_COMMENT = re.compile(r"(?:^|(?<=\s))#")
# shlex takes time quadratic in a word's length, as pip's reading of options does (a
# word of 15 MiB, hours): a text this long with a quote or an escape is not split.
MAX_QUOTED_CHARS = 64 * 1024
_QUOTING = re.compile(r"[\\'\"]")
_BLANKS = re.compile(r"[ \t\r\n]+")  # shlex's

# pip's: a file name that is a URL (its SCHEME_RE), which pip and uv read as one.
_URL = re.compile(r"(http|https|file):", re.IGNORECASE)
# pip's one form of an environment variable (POSIX's names, upper case); uv has none.
_VARIABLE = re.compile(r"(?P<variable>\$\{(?P<name>[A-Z0-9_]+)\})")


def uninstall_names(paths: Sequence[str], environ: Mapping[str, str]) -> tuple[str, ...]:
    """The names, normalized, that the requirements files at `paths` (and those they
    read with `-r`) give, in their order, with `environ`'s variables expanded; Refused
    naming the file and line of each line that names no distribution, or of a file that
    cannot be read."""
    problems: list[Problem] = []
    names: list[str] = []
    read: set[str] = set()
    for path in paths:
        try:
            located = _located(path, "", redacted(path))
            names += _names(located, _text(located, path), environ, (), read, problems)
        except Refused as refused:
            problems += refused.problems
    if problems:
        raise Refused(problems)
    return tuple(dict.fromkeys(names))


def _located(name: str, folder: str, subject: str) -> str:
    """The path of the requirements file `name` names, relative to `folder` (the file
    naming it's): a `file:` URL's own, as pip and uv read it. An http or https one, which
    pip and uv download, is refused as `subject`, not taken for a path in `folder`."""
    if not _URL.match(name):
        return os.path.join(folder, name)
    url = urlsplit(name)
    if url.scheme.lower() == "file" and url.netloc in ("", "localhost"):
        return unquote(url.path)
    raise Refused.one(
        subject,
        f"cannot read requirements file {redacted(name)}: wheelplan reads one on this"
        " machine alone; download it and name the file",
    )


def _text(path: str, subject: str, shown: str = "") -> str:
    """The text of the file at `path`, refused as `subject` (its name, or the line
    that reads it) when it cannot be read, or is neither UTF-8 nor UTF-16 with a byte
    order mark (Windows PowerShell's `pip freeze >` writes that, and pip and uv read
    it; UTF-32, which pip reads too, uv refuses)."""
    data = read_input(path, MAX_REQUIREMENTS_BYTES, f"requirements file{shown}", subject)
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not data.startswith(
        codecs.BOM_UTF32_LE
    )
    encoding = "utf-16" if utf16 else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].decode(encoding, "replace").count("\n") + 1
        name = "UTF-16" if utf16 else "UTF-8"
        raise Refused.one(f"{path}:{line}", f"is not {name} text") from None


def _lines(text: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """Each line without its comment, its variables expanded, and its number; one ending
    in `\\` goes on with the next, as pip reads it, numbered as its first."""
    joined, first = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not joined:
            first = number
        if line.endswith("\\"):
            joined += line[:-1]
            continue
        yield first, _expanded(_uncommented(joined + line), environ)
        joined = ""
    if joined:
        yield first, _expanded(_uncommented(joined), environ)


def _uncommented(line: str) -> str:
    """`line` without its comment, stripped."""
    comment = _COMMENT.search(line)
    return (line[: comment.start()] if comment else line).strip()


def _expanded(line: str, environ: Mapping[str, str]) -> str:
    """`line` with each `${NAME}` replaced as pip 26.3 replaces it: once its comment is
    cut, and left as it is where NAME is unset or empty. Each NAME is replaced once, at
    every place: pip replaces it again for each place, a pass over the line each (a
    line of a million, hours), which differs only where a value makes a `${NAME}` of
    one named further on."""
    for variable, name in dict.fromkeys(_VARIABLE.findall(line)):
        if value := environ.get(name):
            line = line.replace(variable, value)
    return line


def _names(
    path: str,
    text: str,
    environ: Mapping[str, str],
    reading: tuple[str, ...],
    read: set[str],
    problems: list[Problem],
) -> Iterator[str]:
    """The names `path`'s `text` gives, and those of the files it reads (`reading`: the
    real paths of the files that read it, each refused if it reads one of them; `read`:
    of every file read so far, each read once, since its names are given already)."""
    reading = (*reading, os.path.realpath(path))
    read.add(reading[-1])
    for number, line in _lines(text, environ):
        at = f"{path}:{number}"
        if not line:
            continue
        if not line.startswith("-"):
            requirement, options = _requirement_parts(line)
            name = _named(requirement)
            if name is None:
                problems.append(Problem(at, _NO_NAME.format(redacted(requirement))))
            elif (unknown := _unknown_option(options)) is not None:
                problems.append(
                    Problem(
                        at,
                        f"{redacted(unknown)!r} is no option pip takes on a requirement's line"
                        " (--hash, --config-settings), or lacks its value",
                    )
                )
            else:
                yield name
            continue
        option = _option(line)
        if option is None:
            problems.append(
                Problem(
                    at,
                    f"{redacted(line)!r} is no option pip's requirements files take,"
                    " or lacks its value",
                )
            )
        elif option[0] == "--requirement":
            try:
                nested = _located(option[1], os.path.dirname(path), at)
            except Refused as refused:
                problems.extend(refused.problems)
                continue
            real = os.path.realpath(nested)
            if real in reading:
                problems.append(
                    Problem(at, f"reads {redacted(option[1])} again, a file that leads back here")
                )
                continue
            if real in read:
                continue
            if len(reading) == MAX_INCLUDE_DEPTH:
                problems.append(
                    Problem(
                        at,
                        f"reads {redacted(option[1])}, deeper than {MAX_INCLUDE_DEPTH} requirements"
                        " files, each read by the one before",
                    )
                )
                continue
            try:
                text = _text(nested, at, f" {redacted(nested)}")
                yield from _names(nested, text, environ, reading, read, problems)
            except Refused as refused:
                problems.extend(refused.problems)
        elif option[0] == "--editable":
            problems.append(Problem(at, _NO_NAME.format(redacted(option[1]))))


def _requirement_parts(line: str) -> tuple[str, str]:
    """The line's requirement and its own options (`--hash=...`), split as pip splits
    them."""
    words = line.split(" ")
    for index, word in enumerate(words):
        if word.startswith("-"):
            return " ".join(words[:index]).strip(), " ".join(words[index:])
    return line, ""


def _unknown_option(options: str) -> str | None:
    """The first of a requirement's own `options` that pip does not take there (uv
    takes `--hash` alone), or that lacks its value; None when there is none."""
    if (split := _words(options)) is None:
        return options
    words = iter(split)
    for word in words:
        if word.startswith("-C") and len(word) > 2:
            continue  # -Ckey=value
        name, equals, _ = word.partition("=")
        if name not in _REQUIREMENT_OPTIONS or (not equals and next(words, None) is None):
            return name
    return None


def _named(text: str) -> str | None:
    """The normalized name a requirement, or a wheel's path or URL, gives; None for
    anything else (a folder, a source archive)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    try:
        requirement: Requirement | None = Requirement(text)
    except InvalidRequirement:
        requirement = None
    # pip takes `NAME-1.0-py3-none-any.whl`, a name PEP 508 allows, for a wheel's path.
    if requirement is not None and not requirement.name.endswith(".whl"):
        return canonicalize_name(requirement.name)
    filename = posixpath.basename(urlsplit(text).path)  # a URL's without `#sha256=...`
    try:
        return parse_wheel_filename(filename)[0] if filename.endswith(".whl") else None
    except InvalidWheelFilename:
        return None


def _option(line: str) -> tuple[str, str] | None:
    """An option line's long name and value ('' for a flag), as pip spells them; None
    for one pip's requirements files do not take, or given a value it does not."""
    if not (words := _words(line)):
        return None
    first, rest = words[0], words[1:]
    if not first.startswith("--") and first[:2] in _SHORT:
        name, value = _SHORT[first[:2]], first[2:]
    else:
        name, _, value = first.partition("=")
    if name in _FLAGS:
        return (name, "") if not value and not rest else None
    if name not in _WHERE and name not in {"--requirement", "--constraint", "--editable"}:
        return None
    if not value and len(rest) == 1:
        value, rest = rest[0], []
    return (name, value) if value and not rest else None


def _words(text: str) -> list[str] | None:
    """`text` split into words as pip splits options, with shlex; None where it cannot
    be (a quote left open, or a quoted text longer than MAX_QUOTED_CHARS). Text with no
    quote or escape, which shlex splits at its blanks alone, is split in one pass."""
    if not _QUOTING.search(text):
        return [word for word in _BLANKS.split(text) if word]
    if len(text) > MAX_QUOTED_CHARS:
        return None
    try:
        return shlex.split(text)
    except ValueError:
        return None
