"""Bring a lock's wheels to local files and prove they are the bytes the lock names.

This is the only code that downloads. It is not planning (the planner reads local
files only) and it never touches a target: wheels given by `url` go into a download
folder (the user cache, or `--wheel-dir`), and so do those given by `path` when there
is a `--wheel-dir`, which must hold every wheel the plan needs (it is shipped with the
plan); otherwise a `path` wheel is read where it is. A stored wheel is written under a
temporary name and renamed into place only after its size and every hash the lock
gives have been checked, so a bad one leaves nothing behind. A lock is never trusted:
a file already in the folder is re-checked the same way before it is reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import BinaryIO

import attrs

from applier.atomic import fitting
from applier.cachedir import DOWNLOADS, default_dir
from applier.madefolders import missing_folders, remove_empty
from planner.errors import Problem, Refused
from planner.hashing import open_regular
from planner.lockfile import LockedWheel
from planner.notafolder import not_a_folder
from planner.paths import is_within, plan_path_problem
from planner.plan import Plan
from planner.redaction import redacted
from wheelplan import urlopener
from wheelplan.contentencoding import Undecodable, as_sent, decoded
from wheelplan.proxies import ProxyFailed

CHUNK = 1024 * 1024
# A download with no size in the lock stops here (the planner's own archive limit).
MAX_DOWNLOAD = 8 * 1024**3
# How long a download waits for the connection or its next byte before the try fails,
# unless told (--timeout), as uv waits (pip waits 15 s).
TIMEOUT = 30.0
# The pauses before each new try of a download that failed in a way that can pass (the
# connection refused, reset or cut short, a timeout, a 5xx, 408 or 429 answer): three
# more tries, as uv makes (pip makes five), the wait doubling from half a second, as
# pip's does.
RETRY_PAUSES = (0.5, 1.0, 2.0)
# What a part file's name holds besides its wheel's (cut to fit): the dots, `.part` and
# mkstemp's 8 random characters, with room to spare.
PART_AROUND = 32

Progress = Callable[[int, int, int, int], None]  # files done, files, bytes done, bytes


@attrs.frozen
class Fetched:
    wheel: LockedWheel
    path: str
    sha256: str
    # Whether this run put it at `path` (downloaded or copied), not found it there.
    stored_now: bool = False


@attrs.frozen
class _Tries:
    """How each download is tried: the pauses before each new try, and how long a try
    waits for the connection or its next byte."""

    pauses: Sequence[float]
    timeout: float


@attrs.define
class _Slot:
    """One download's progress and result; only its own thread writes it."""

    bytes_done: int = 0
    done: bool = False


# The 4xx answers that say to come back later.
_COME_BACK = frozenset({408, 429})


class _Mismatch(Exception):
    """The bytes are not the ones the lock names."""


class _CutShort(urllib.error.URLError):
    """The connection closed before the response ended: another try may get it whole."""


def _may_pass(error: BaseException) -> bool:
    """Whether another try of a download that failed so may succeed: never a wrong hash
    or size, an answer that refuses (a 4xx but 408 Request Timeout and 429 Too Many
    Requests, which uv tries again), or anything about the URL or the disk."""
    if isinstance(error, urllib.error.HTTPError):
        return 500 <= error.code <= 599 or error.code in _COME_BACK
    if isinstance(error, urllib.error.URLError):
        # An OSError: no connection, a reset, a timeout; a str: a refusal of our own.
        return isinstance(error, _CutShort) or isinstance(error.reason, OSError)
    return isinstance(error, (ConnectionError, TimeoutError, http.client.RemoteDisconnected))


def _cache_key(wheel: LockedWheel) -> str:
    """A folder per content hash, so two wheels with one file name never collide."""
    if "sha256" in wheel.hashes:
        return wheel.hashes["sha256"]
    name = min(wheel.hashes)
    return f"{name}-{wheel.hashes[name]}"


class _Checker:
    """Every hash wheelplan checks of those the lock gives, plus sha256 for the plan."""

    def __init__(self, wheel: LockedWheel) -> None:
        self.wheel = wheel
        self.digests = {name: hashlib.new(name) for name in {*wheel.hashes, "sha256"}}
        self.size = 0
        self.limit = wheel.size if wheel.size is not None else MAX_DOWNLOAD

    def update(self, block: bytes) -> None:
        self.size += len(block)
        if self.size > self.limit:
            raise self.too_large()
        for digest in self.digests.values():
            digest.update(block)

    def announced(self, length: int | None, encoding: str | None) -> None:
        """A body whose length is announced larger than the limit is refused unread. An
        encoded one's length is of the encoding, which may be larger than the wheel."""
        if as_sent(encoding) and length is not None and length > self.limit:
            raise self.too_large()

    def too_large(self) -> _Mismatch:
        return _Mismatch(
            f"{self.wheel.filename} is larger than the {self.limit} bytes"
            + (" the lock says" if self.wheel.size is not None else " wheelplan accepts")
        )

    def finish(self) -> str:
        """The sha256 hex digest, once size and every locked hash agree."""
        if self.wheel.size is not None and self.size != self.wheel.size:
            raise _Mismatch(
                f"{self.wheel.filename} has {self.size} bytes, the lock says {self.wheel.size}"
            )
        for name, expected in sorted(self.wheel.hashes.items()):
            if self.digests[name].hexdigest() != expected:
                raise _Mismatch(
                    f"{self.wheel.filename} has {name} {self.digests[name].hexdigest()},"
                    f" the lock says {expected}"
                )
        return self.digests["sha256"].hexdigest()


def _check_file(fd: int, wheel: LockedWheel) -> str:
    checker = _Checker(wheel)
    with open(fd, "rb", buffering=0) as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            checker.update(block)
    return checker.finish()


def _open_local(path: str) -> int:
    """A descriptor on a wheel the lock gives by path, or a refusal naming the path."""
    try:
        return open_regular(path)
    except FileNotFoundError:
        raise Refused.one(path, "wheel file named by the lock does not exist") from None
    except OSError as error:  # a folder, a FIFO: refused unread (open_regular)
        raise Refused.one(path, f"cannot read wheel: {error.strerror}") from None


def _source(wheel: LockedWheel, timeout: float) -> BinaryIO:
    """The wheel's bytes: the file a `path` names, or the `url`'s response."""
    if wheel.path is not None:
        return open(_open_local(wheel.path), "rb", buffering=0)
    assert wheel.url is not None
    response: BinaryIO = urlopener.OPENER.open(urlopener.request(wheel.url), timeout=timeout)
    return response


class _Stopped(Exception):
    """The fetch was stopped (interrupted) while this wheel was being stored."""


class _Parts:
    """The part files being written, so that a stopped fetch leaves none behind.

    Ctrl-C and SIGTERM reach the main thread only, and the process then ends without
    waiting for the workers (one may wait its timeout for a slow server's next byte): the
    main thread removes what they are writing (`stop`), and from then on no worker
    makes another or renames one into place. A worker removes its own on a refusal.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Each part file: its folder, and whether that was made for it.
        self._open: dict[str, tuple[str, bool]] = {}
        self.stopped = False

    def make(self, folder: str, filename: str, own_folder: bool) -> tuple[int, str]:
        with self._lock:
            if self.stopped:
                raise _Stopped
            fd, temporary, made = _part_file(folder, filename, own_folder)
            self._open[temporary] = (folder, made)
        return fd, temporary

    def keep(self, temporary: str, destination: str) -> None:
        with self._lock:
            if self.stopped:
                raise _Stopped
            os.replace(temporary, destination)
            del self._open[temporary]

    def discard(self, temporary: str) -> None:
        with self._lock:
            self._remove(temporary)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            for temporary in list(self._open):
                self._remove(temporary)

    def _remove(self, temporary: str) -> None:
        """With the lock held: a part file gone, and the folder made for it if empty."""
        if (entry := self._open.pop(temporary, None)) is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            _remove_if_made(*entry)


def _store(
    wheel: LockedWheel,
    destination: str,
    slot: _Slot,
    own_folder: bool,
    parts: _Parts,
    timeout: float,
) -> str:
    """Download or copy to a temporary name beside `destination`, check, then rename.

    `own_folder`: the folder is this wheel's alone (the cache's per-hash folder, not
    the user's `--wheel-dir`), so a refused download removes it if it made it. The
    source is opened first: one that cannot be had makes no file or folder.
    """
    with _source(wheel, timeout) as source:
        checker = _Checker(wheel)
        announced = _announced(source)
        encoding = _header(source, "Content-Encoding")
        checker.announced(announced, encoding)
        blocks = decoded(_Body(source, announced).blocks(), encoding, CHUNK)
        fd, temporary = parts.make(os.path.dirname(destination), wheel.filename, own_folder)
        try:
            with os.fdopen(fd, "wb") as output:
                for block in blocks:
                    if parts.stopped:  # its file is gone: stop reading into nothing
                        raise _Stopped
                    checker.update(block)
                    output.write(block)
                    slot.bytes_done += len(block)
            sha256 = checker.finish()
            os.chmod(temporary, 0o644)
            parts.keep(temporary, destination)
            return sha256
        except BaseException:
            parts.discard(temporary)
            raise


@attrs.define
class _Body:
    """A response read by the block, as sent (encoded), and refused as cut short at its
    end if it is: before a decoder sees that end, or it would call the stream broken."""

    source: BinaryIO
    announced: int | None
    came: int = 0

    def blocks(self) -> Iterator[bytes]:
        while block := _read(self.source, self.came):
            self.came += len(block)
            yield block
        _check_whole(self.announced, self.came)


def _header(source: BinaryIO, name: str) -> str | None:
    """A response's header, its fields' values joined by commas, as RFC 9110 reads a
    list sent in several (http.client's `get` gives the first); a local file has none."""
    headers: http.client.HTTPMessage | None = getattr(source, "headers", None)
    values = None if headers is None else headers.get_all(name)
    return None if values is None else ", ".join(values)


def _read(source: BinaryIO, received: int) -> bytes:
    """The next block of a response, `received` bytes into it. A chunked response cut
    short is said in plain words: http.client says `IncompleteRead(0 bytes read)`, the
    bytes of that one read, where the connection closed between two chunks."""
    try:
        return source.read(CHUNK)
    except http.client.IncompleteRead as error:
        # The chunk being read when it closed, if it closed inside one.
        inner = error.__cause__ if isinstance(error.__cause__, http.client.IncompleteRead) else None
        came = received + len(error.partial) + (len(inner.partial) if inner else 0)
        short = (
            f", {inner.expected} bytes short of the end of the chunk the server was sending"
            if inner is not None and inner.expected
            else ", before the last of the chunks the server was sending"
        )
        raise _CutShort(
            f"the connection closed after {came} bytes{short} (it announced no length)"
        ) from None


def _announced(source: BinaryIO) -> int | None:
    """The body's length as the server announced it and http.client reads the body by:
    None for a local file, for a Content-Length int() does not take (a 5,000-digit one
    too), and for a body sent in chunks, whose Content-Length RFC 9112 says the chunks
    override (uv 0.13.9 takes such a wheel too). A length announced twice, two ways, is
    refused, as pip 26.3 and uv refuse it: http.client reads the first."""
    headers: http.client.HTTPMessage | None = getattr(source, "headers", None)
    if headers is None or getattr(source, "chunked", False):
        return None
    lengths = list(
        dict.fromkeys(value.strip() for value in headers.get_all("Content-Length") or ())
    )
    if len(lengths) > 1:  # not tried again: the same server answers the same
        raise urllib.error.URLError(
            f"the server announced more than one length: {', '.join(map(repr, lengths))}"
        )
    length: int | None = getattr(source, "length", None)
    return length


def _check_whole(announced: int | None, received: int) -> None:
    """A download cut short is refused as one, not as bytes other than the lock's: a
    response read by the block ends quietly where the connection closed (uv says the
    download broke off; pip 23 calls the wheel invalid)."""
    if announced is not None and received < announced:
        raise _CutShort(
            f"the connection closed after {received} of the {announced} bytes the server announced"
        )


def _part_file(folder: str, filename: str, own_folder: bool) -> tuple[int, str, bool]:
    """A new temporary file in `folder`, and whether the folder was made for it (and is
    this wheel's own to remove). Another fetch of the same wheel whose download was
    refused may remove the folder, empty, between the two steps: then it is made again."""
    for attempt in range(3):
        made = own_folder and not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        try:
            fd, temporary = tempfile.mkstemp(
                dir=folder, prefix=f".{fitting(filename, PART_AROUND)}.", suffix=".part"
            )
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue
        except BaseException:
            _remove_if_made(folder, made)
            raise
        return fd, temporary, made
    raise AssertionError("unreachable")


def _remove_if_made(folder: str, made: bool) -> None:
    """A refused download leaves no folder it made (one in use by now stays)."""
    if made:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _subject(wheel: LockedWheel) -> str:
    """What a refusal of the wheel names: its path, or its URL without a password."""
    return wheel.path or (redacted(wheel.url) if wheel.url else wheel.filename)


def _stored(wheel: LockedWheel, flat: bool) -> bool:
    """Whether the wheel is put in the folder: a download, or any wheel for a
    `--wheel-dir` (`flat`), which is shipped with the plan and must hold them all."""
    return wheel.path is None or flat


def _fetch_one(
    wheel: LockedWheel,
    folder: str,
    flat: bool,
    slot: _Slot,
    parts: _Parts,
    trying: _Tries,
) -> Fetched:
    tries = 1
    try:
        if wheel.path is not None and not flat:
            return Fetched(wheel, wheel.path, _check_file(_open_local(wheel.path), wheel))
        destination = os.path.join(
            folder, wheel.filename if flat else os.path.join(_cache_key(wheel), wheel.filename)
        )
        # The wheel a `path` names may be this very file (a lock beside its wheels).
        if os.path.isfile(destination):
            with contextlib.suppress(_Mismatch):
                return Fetched(wheel, destination, _check_file(open_regular(destination), wheel))
        for pause in trying.pauses:
            try:
                sha256 = _store(wheel, destination, slot, not flat, parts, trying.timeout)
                break
            except Exception as error:
                if not _may_pass(error) or parts.stopped:
                    raise
            time.sleep(pause)
            if parts.stopped:
                raise _Stopped
            slot.bytes_done = 0
            tries += 1
        else:
            sha256 = _store(wheel, destination, slot, not flat, parts, trying.timeout)
        return Fetched(wheel, destination, sha256, stored_now=True)
    except _Mismatch as error:
        raise Refused.one(_subject(wheel), str(error)) from None
    except urllib.error.HTTPError as error:
        raise Refused.one(
            _subject(wheel), f"download failed: HTTP {error.code} {error.reason}{_tried(tries)}"
        ) from None
    except urllib.error.URLError as error:
        reason = (
            _timed_out(trying.timeout) if isinstance(error.reason, TimeoutError) else error.reason
        )
        if isinstance(error, ProxyFailed):
            reason = error.said(reason)
        raise Refused.one(_subject(wheel), f"download failed: {reason}{_tried(tries)}") from None
    except TimeoutError:  # in the body: urllib wraps only the connection's in a URLError
        raise Refused.one(
            _subject(wheel), f"download failed: {_timed_out(trying.timeout)}{_tried(tries)}"
        ) from None
    except Undecodable as error:
        raise Refused.one(_subject(wheel), f"download failed: {error}") from None
    except http.client.HTTPException as error:  # a URL http.client refuses, or no HTTP answer
        raise Refused.one(
            _subject(wheel),
            f"download failed: {type(error).__name__}: {error}{_tried(tries)}",
        ) from None
    except (OSError, ValueError) as error:
        raise Refused.one(_subject(wheel), f"cannot fetch wheel: {error}{_tried(tries)}") from None
    finally:
        slot.done = True


def _timed_out(timeout: float) -> str:
    """A stalled server said as such: the socket's own words are 'timed out' alone."""
    return f"timed out: nothing came from the server in {timeout:g} seconds"


def _tried(tries: int) -> str:
    """How a refusal says that the download was tried again before it gave up."""
    return f"; tried {tries} times" if tries > 1 else ""


def _wait(
    futures: Sequence[Future[Fetched]],
    slots: Sequence[_Slot],
    total: int,
    progress: Progress | None,
) -> None:
    """Until every fetch has ended, showing `progress` if given."""
    if progress is None:
        wait(futures)
        return
    while not all(future.done() for future in futures):
        progress(
            sum(slot.done for slot in slots),
            len(slots),
            sum(slot.bytes_done for slot in slots),
            total,
        )
        time.sleep(0.1)
    progress(len(slots), len(slots), sum(slot.bytes_done for slot in slots), total)


def store_folder(wheel_dir: str | None, cache_dir: str | None) -> str:
    """Where `fetch` puts the wheels it stores; a dry run names it, since it is written."""
    return (
        os.path.abspath(wheel_dir)
        if wheel_dir
        else os.path.join(cache_dir or default_dir(), DOWNLOADS)
    )


def stored_count(plan: Plan, folder: str) -> int:
    """How many of the plan's wheels `fetch` put (or found) in `folder`."""
    inside = os.path.abspath(folder)
    return sum(
        1
        for dist in plan.distributions
        if dist.wheel_path is not None and is_within(os.path.abspath(dist.wheel_path), inside)
    )


def fetch(
    wheels: Sequence[LockedWheel],
    wheel_dir: str | None = None,
    *,
    cache_dir: str | None = None,
    jobs: int = 8,
    progress: Progress | None = None,
    pauses: Sequence[float] | None = None,
    timeout: float | None = None,
) -> tuple[Fetched, ...]:
    """Local, checked files for `wheels`; downloads run in parallel.

    With `wheel_dir`, every wheel is put there by file name (a flat folder that
    `apply --wheel-dir` can read); otherwise downloads go under `cache_dir` (default: the
    user cache of applier/cachedir.py) in `downloads/`, one folder per hash.
    Raises Refused with every problem once all downloads have finished. A download
    that fails in a way that can pass is tried again after each of `pauses` (seconds;
    default `RETRY_PAUSES`), each try waiting `timeout` seconds (default `TIMEOUT`) for
    the connection or its next byte.
    """
    folder = store_folder(wheel_dir, cache_dir)
    # A fetch that fails leaves no folder it made on the way (downloads/, the cache, a
    # --wheel-dir) that holds nothing: a checked wheel stored meanwhile keeps its own.
    made = missing_folders(folder)
    if any(_stored(wheel, bool(wheel_dir)) for wheel in wheels):
        # The plan will name the files there: a folder no plan can hold is refused unwritten.
        if problem := plan_path_problem(os.path.abspath(folder)):
            raise Refused.one(folder, problem)
        # One problem, not one per wheel that names the wheel and quotes an errno.
        if blocked := not_a_folder(folder):
            raise blocked.refused(folder, "the lock's wheels cannot be stored in")
    slots = [_Slot() for _ in wheels]
    total = sum(wheel.size or 0 for wheel in wheels if _stored(wheel, bool(wheel_dir)))
    parts = _Parts()
    trying = _Tries(
        RETRY_PAUSES if pauses is None else pauses, TIMEOUT if timeout is None else timeout
    )
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(wheels) or 1)))
    try:
        futures: list[Future[Fetched]] = [
            pool.submit(
                _fetch_one,
                wheel,
                folder,
                bool(wheel_dir),
                slot,
                parts,
                trying,
            )
            for wheel, slot in zip(wheels, slots, strict=True)
        ]
        _wait(futures, slots, total, progress)
    except BaseException:  # interrupted: the workers are not waited for (see _Parts)
        parts.stop()  # from here on no worker makes a file or a folder
        pool.shutdown(wait=False, cancel_futures=True)
        remove_empty(made)
        raise
    pool.shutdown()
    fetched: list[Fetched] = []
    problems: list[Problem] = []
    for future in futures:
        try:
            fetched.append(future.result())
        except Refused as refused:
            problems += refused.problems
    if problems:
        remove_empty(made)
        raise Refused(problems)
    return tuple(fetched)


def confirm(plan: Plan, fetched: Sequence[Fetched]) -> None:
    """The planner read the same bytes that were checked against the lock.

    A file could be swapped between the check and the planner's read; the plan's
    sha256 of each wheel must be the one the lock check computed.
    """
    checked = {os.path.abspath(item.path): item for item in fetched}
    problems = []
    for dist in plan.distributions:
        if dist.wheel_path is None:
            continue
        item = checked.get(os.path.abspath(dist.wheel_path))
        if item is not None and item.sha256 != dist.wheel_sha256:
            problems.append(
                Problem(dist.wheel_path, "wheel changed after it was checked against the lock")
            )
    if problems:
        raise Refused(problems)


__all__ = ["Fetched", "confirm", "fetch"]
