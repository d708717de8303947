"""Refusals that carry every problem found, so the user sees them all at once."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from typing import Literal

import attrs

from planner.paths import printable


@attrs.frozen
class Problem:
    """One thing wrong with one input; `subject` names the file the user must look at."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{printable(self.subject)}: {printable(self.message)}"


class Refused(Exception):
    """Input that wheelplan will not act on; nothing has been written when it is raised."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))

    @classmethod
    def one(cls, subject: str, message: str) -> Refused:
        return cls([Problem(subject, message)])


class Collector:
    """Gathers every problem in one wheel so the user sees them together."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        # Members already refused: their RECORD rows are not reported a second time.
        self.refused: set[str] = set()

    def error(self, message: str) -> None:
        self.problems.append(Problem(self.subject, message))

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.subject}: {message}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise Refused(self.problems)


# What ends a warning's words, its subject's among them: `NAME: ...`, `NAME VERSION
# (installed) requires ...`, a path's folders.
_WORD_END = re.compile(r"[\s:/]+")


def in_subject_order(warnings: Iterable[str]) -> tuple[str, ...]:
    """Each of `warnings` once, compared word by word: a subject's warnings stay
    together and subjects come in name order, where as text `nosuch2: ...` came before
    `nosuch: ...` (a digit sorts before the colon). Ties fall to the text itself."""
    return tuple(sorted(set(warnings), key=lambda line: (_WORD_END.split(line.casefold()), line)))


# Python's words when int() is given more digits than it converts, with advice for a
# programmer: a refusal says what they mean for the input instead.
_TOO_MANY_DIGITS = re.compile(
    r"Exceeds the limit \(\d+ digits\) for integer string conversion: value has (\d+)"
    r" digits; use sys\.set_int_max_str_digits\(\) to increase the limit"
)


def plain(message: str) -> str:
    """An exception's `message` for a refusal, where a library passes Python's own on."""
    return _TOO_MANY_DIGITS.sub(r"a number of \1 digits, too long to read", message)


InputKind = Literal["wheel", "lock", "plan"]
_WHERE_IT_GOES: dict[InputKind, str] = {
    "wheel": "a wheel: give it to `wheelplan plan` or `wheelplan install`",
    "lock": "a lock file: give it to `wheelplan plan --lock` or `wheelplan install --lock`",
    "plan": "a plan file: give it to `wheelplan apply` or `wheelplan show`",
}
# PEP 751's names for lock files: pylock.toml and pylock.<name>.toml.
_LOCK_NAME = re.compile(r"pylock(\.[^.]+)?\.toml")
# What pip and uv build a wheel of when it is given to `install`: the commands that
# build one, with the file as given, quoted for a shell.
_SDIST = (
    "a source distribution: wheelplan builds no wheels; `pip wheel --no-deps {file}` or"
    " `uv build --wheel {file}` makes one"
)


def looks_like(path: str, expected: InputKind) -> str:
    """For a refusal of `path` as an `expected` input: "; it looks like ..." with where
    it goes, when its name says it is another of wheelplan's inputs, or a source
    distribution (which pip and uv would build a wheel of: their commands name `path`
    as given, to be run where it was given); else ""."""
    name = os.path.basename(path)
    kind: InputKind
    if name.endswith(".whl"):
        kind = "wheel"
    elif _LOCK_NAME.fullmatch(name):
        kind = "lock"
    elif name.endswith(".json"):
        kind = "plan"
    elif name.endswith((".tar.gz", ".zip")):
        return "; it looks like " + _SDIST.format(file=shlex.quote(path))
    else:
        return ""
    return "" if kind == expected else f"; it looks like {_WHERE_IT_GOES[kind]}"


def not_an_input(kind: InputKind, subject: str, why: str) -> Refused:
    """The refusal of a file that is no `kind` at all, with a hint when its name says
    what it is (see `looks_like`)."""
    return Refused.one(subject, f"not a {kind} file ({why})" + looks_like(subject, kind))


def name_the_file(error: OSError, path: str) -> None:
    """Let `error` name `path` when it names no file (a failed `write` says only why),
    so that its one error line says which file could not be written."""
    if error.filename is None and error.errno is not None:
        error.filename = path
