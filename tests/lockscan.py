"""What the parallel phase could synchronise with, read from the source of every
first-party module that applier/workers.py reaches by imports.

Each module's syntax tree is read with its imports resolved: `import threading as t`
then `t.Lock()`, `from threading import Lock as _Mutex`, `getattr(threading, "Lock")`
and `fcntl.fcntl(fd, fcntl.F_SETLKW, ...)` all name their primitive by its full name.
A scan by bare names missed the aliased lock, and one that stopped at applier/ missed
a lock in planner/hashing.py, which the workers call to open each wheel.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import REPO

FIRST_PARTY = ("applier", "planner", "wheelplan")
PARALLEL_ENTRY = "applier.workers"

# Modules made to coordinate threads, processes or tasks: any name from them.
COORDINATING = (
    "queue",
    "_queue",
    "multiprocessing",
    "_multiprocessing",
    "concurrent.futures",
    "asyncio",
)
# The synchronisation primitives of modules that hold other things too.
PRIMITIVES = {
    "threading": {
        "Lock",
        "RLock",
        "Condition",
        "Semaphore",
        "BoundedSemaphore",
        "Event",
        "Barrier",
        "_allocate_lock",
        "_CRLock",
        "_PyRLock",
    },
    "_thread": {"allocate_lock", "allocate", "LockType", "RLock"},
    # Whole-file and record locks, and the commands that take a record lock.
    "fcntl": {
        "flock",
        "lockf",
        "LOCK_SH",
        "LOCK_EX",
        "F_SETLK",
        "F_SETLKW",
        "F_OFD_SETLK",
        "F_OFD_SETLKW",
    },
    # os's record lock, and what a token semaphore between processes is made of.
    "os": {"lockf", "F_LOCK", "F_TLOCK", "pipe", "pipe2", "mkfifo", "eventfd"},
    # An import the scan cannot follow.
    "importlib": {"import_module"},
    "builtins": {"__import__"},
}


def module_file(name: str) -> Path | None:
    """The file of first-party module `name` (a package's `__init__.py`), if there is one."""
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def read_module(name: str) -> str:
    path = module_file(name)
    assert path is not None, name
    return path.read_text(encoding="utf-8")


def is_primitive(name: str) -> bool:
    if any(name == module or name.startswith(f"{module}.") for module in COORDINATING):
        return True
    module, _, attribute = name.rpartition(".")
    return attribute in PRIMITIVES.get(module or "builtins", set())


def _package(module: str) -> str:
    path = module_file(module)
    is_package = path is not None and path.name == "__init__.py"
    return module if is_package else module.rpartition(".")[0]


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """(local name, full name) for every name `node` binds."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                yield alias.asname, alias.name
            else:  # `import a.b` binds `a`, and `a.b` is an attribute of it
                yield alias.name.split(".")[0], alias.name.split(".")[0]
        return
    base = node.module or ""
    if node.level:
        package = _package(module).split(".")
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        yield alias.asname or alias.name, f"{base}.{alias.name}"


def _full_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, f"builtins.{node.id}")
    if isinstance(node, ast.Attribute):
        base = _full_name(node.value, aliases)
        return f"{base}.{node.attr}" if base is not None else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        base = _full_name(node.args[0], aliases)
        return f"{base}.{node.args[1].value}" if base is not None else None
    return None


def imports(module: str, tree: ast.Module) -> set[str]:
    """The full name of every module and name that `tree` imports, at any depth."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(full for _, full in _imported(module, node))
    return found


def primitives(module: str, tree: ast.Module) -> list[tuple[str, int]]:
    """Every import and use of a primitive in `tree`: (its full name, line)."""
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update(_imported(module, node))
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            bound = list(_imported(module, node))
            aliases.update(bound)
            names = [full for _, full in bound]
        else:
            continue
        for full in names:
            base, star, _ = full.partition(".*")
            if is_primitive(full) or (star and (base in PRIMITIVES or is_primitive(base))):
                found.append((full, node.lineno))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute | ast.Call):
            used = _full_name(node, aliases)
            if used is not None and is_primitive(used):
                found.append((used, node.lineno))
            if (
                isinstance(node, ast.Call)
                and _full_name(node.func, aliases) == "fcntl.fcntl"
                and (len(node.args) < 2 or _full_name(node.args[1], aliases) is None)
            ):
                # A command given as a number (7 is F_SETLKW) is no name to check.
                found.append(("fcntl.fcntl with an unnamed command", node.lineno))
    return found


def parallel_modules(read: Callable[[str], str] = read_module) -> dict[str, ast.Module]:
    """applier/workers.py and every first-party module it imports, transitively (with
    the packages that hold them, whose `__init__` runs first)."""
    found: dict[str, ast.Module] = {}
    pending = [PARALLEL_ENTRY]
    while pending:
        name = pending.pop()
        if name in found or module_file(name) is None:
            continue
        found[name] = ast.parse(read(name))
        parts = name.split(".")
        pending += [".".join(parts[:end]) for end in range(1, len(parts))]
        for imported in imports(name, found[name]):
            if imported.split(".")[0] in FIRST_PARTY:
                parts = imported.split(".")
                pending += [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return found


def findings(read: Callable[[str], str] = read_module) -> dict[tuple[str, str], list[int]]:
    """(module, primitive) -> the lines that import or use it, over the parallel phase."""
    found: dict[tuple[str, str], list[int]] = {}
    for module, tree in parallel_modules(read).items():
        for name, line in primitives(module, tree):
            found.setdefault((module, name), []).append(line)
    return found


def beyond(
    found: dict[tuple[str, str], list[int]], allowed: dict[tuple[str, str], int]
) -> dict[tuple[str, str], list[int]]:
    """What `found` holds past the number of each (module, primitive) `allowed`."""
    return {key: lines for key, lines in found.items() if len(lines) > allowed.get(key, 0)}
