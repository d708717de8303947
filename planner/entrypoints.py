"""Entry points: the console and gui scripts a wheel asks for, checked before any
wrapper is generated, since the module and callable end up in Python source."""

from __future__ import annotations

import configparser
import re
from typing import Annotated, Literal

import attrs
import msgspec

from planner.errors import Collector
from planner.paths import path_problem

# installer's entry point syntax: "module:attr [extras]"; the module and attr end up in
# generated Python source, so nothing else may pass: dotted names whose parts do not
# start with a digit (installer's `[\w.]+` let `.mod`, `mod:.f` and `mod:1f` through,
# which wrote a wrapper that is a syntax error or a relative import).
_DOTTED = r"(?!\d)\w+(?:\.(?!\d)\w+)*"
_ENTRY_POINT = re.compile(
    rf"(?P<module>{_DOTTED})\s*(:\s*(?P<attrs>{_DOTTED}))\s*(?P<extras>\[.*\])?\s*$"
)
ScriptSection = Literal["console", "gui"]
_SCRIPT_SECTIONS: dict[str, ScriptSection] = {"console_scripts": "console", "gui_scripts": "gui"}

# The module and callable an entry point script imports, written into its source.
DottedName = Annotated[str, msgspec.Meta(pattern=rf"^{_DOTTED}\Z")]


@attrs.frozen
class EntryScript:
    name: str
    module: DottedName
    attr: DottedName
    section: ScriptSection


def parse_entry_scripts(text: str, errors: Collector) -> list[EntryScript]:
    """Console and gui scripts, each checked for a safe file name and a callable.

    Not installer's `parse_entrypoints`: it asserts on a malformed entry and reads `%`
    as interpolation, where each problem here must become one error line.
    """
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as error:
        first = str(error).splitlines()[0].rstrip(".")
        errors.error(f"entry_points.txt is not valid ({first})")
        return []
    scripts = []
    for section, kind in _SCRIPT_SECTIONS.items():
        if not parser.has_section(section):
            continue
        for name, value in parser.items(section):
            match = _ENTRY_POINT.match(value)
            if match is None or not match.group("attrs"):
                errors.error(
                    f"entry point {f'{name} = {value}'!r} in [{section}] is not 'module:callable'"
                )
            elif not is_plain_name(name):
                errors.error(f"entry point script name {name!r} is not a plain file name")
            else:
                attr = str(match.group("attrs")).strip()
                scripts.append(EntryScript(name, str(match.group("module")), attr, kind))
    return scripts


def is_plain_name(name: str) -> bool:
    """Whether a script may be named `name`: a file name, not a path."""
    return "/" not in name and name not in (".", "..") and path_problem(name) is None
