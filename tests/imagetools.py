"""Helpers for the image-build tests: lock files written from the spec, tree digests,
and a local wheel server.

`write_pylock` writes pylock.toml by hand from the spec's field names (not through
the code under test), so a reader bug cannot hide behind a matching writer bug.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _value(value: Any) -> str:
    """A TOML value: JSON strings and integers are valid TOML; tables become inline."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


@attrs.frozen
class LockPackage:
    """One `[[packages]]` entry; `wheels` and `sdist` hold the spec's fields as dicts."""

    name: str
    version: str | None = "1.0"
    marker: str | None = None
    requires_python: str | None = None
    wheels: tuple[Mapping[str, Any], ...] = ()
    sdist: Mapping[str, Any] | None = None


def wheel_entry(
    wheel: Path,
    *,
    path: str | None = None,
    url: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
) -> dict[str, Any]:
    """A `packages.wheels` entry for a wheel file; true size and hash unless overridden."""
    entry: dict[str, Any] = {"name": wheel.name}
    if path is not None:
        entry["path"] = path
    if url is not None:
        entry["url"] = url
    entry["size"] = wheel.stat().st_size if size is None else size
    entry["hashes"] = {"sha256": sha256 or sha256_of(wheel)}
    return entry


def write_pylock(
    path: Path,
    packages: Sequence[LockPackage],
    *,
    requires_python: str | None = None,
    extras: Sequence[str] = (),
) -> Path:
    lines = ['lock-version = "1.0"', 'created-by = "wheelplan-tests"']
    if requires_python is not None:
        lines.append(f"requires-python = {_value(requires_python)}")
    if extras:
        lines.append(f"extras = {_value(list(extras))}")
    for package in packages:
        lines += ["", "[[packages]]", f"name = {_value(package.name)}"]
        if package.version is not None:
            lines.append(f"version = {_value(package.version)}")
        if package.marker is not None:
            lines.append(f"marker = {_value(package.marker)}")
        if package.requires_python is not None:
            lines.append(f"requires-python = {_value(package.requires_python)}")
        if package.sdist is not None:
            lines.append(f"sdist = {_value(package.sdist)}")
        if package.wheels:
            lines.append(f"wheels = {_value(list(package.wheels))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tree_digest(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, tuple[Any, ...]]:
    """Every entry below `root` (and `root` itself, as "."): kind, mode, mtime and bytes.

    `skip` names relative paths to leave out (and, for folders, what is below them).
    """
    state: dict[str, tuple[Any, ...]] = {}

    def add(path: Path, relative: str) -> None:
        info = path.lstat()
        mode = info.st_mode & 0o7777
        if path.is_symlink():
            state[relative] = ("link", os.readlink(path), info.st_mtime_ns)
        elif path.is_dir():
            state[relative] = ("dir", mode, info.st_mtime_ns)
        else:
            state[relative] = ("file", mode, info.st_mtime_ns, sha256_of(path))

    add(root, ".")
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        dirs[:] = [d for d in dirs if str((base / d).relative_to(root)) not in skip]
        for name in dirs + files:
            relative = str((base / name).relative_to(root))
            if relative not in skip:
                add(base / name, relative)
    return state


# Answers a request itself (True), or leaves it to the file server (False).
Answer = Callable[[http.server.SimpleHTTPRequestHandler], bool]


@contextlib.contextmanager
def serve(
    folder: Path, answer: Answer | None = None, seen: list[tuple[str, str | None]] | None = None
) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 for the body of the `with`; yields the base URL.

    `answer` may answer a request instead (a redirect, a slow body); `seen` gets each
    request's path and Authorization header.
    """

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if seen is not None:
                seen.append((self.path, self.headers.get("Authorization")))
            if answer is None or not answer(self):
                super().do_GET()

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
