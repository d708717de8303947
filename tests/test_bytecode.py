"""The bytecode step runs the target's interpreter: what it may say and how it runs.

Its answers are read under a ceiling (the target's `.pth` files run at start-up), but
no legitimate answer may hit it; and its compilers run side by side.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from applier import bytecode

TAG = sys.implementation.cache_tag


def test_a_python_warning_at_every_start_still_gives_its_tag(tmp_path: Path, target: Path) -> None:
    """Seven `.pth` files naming modules long gone make 4-5 KiB of stderr at every start,
    and Python goes on: a ceiling of 4 KiB on both pipes refused its tag."""
    site = next(target.parent.parent.glob("lib/python*/site-packages"))
    for number in range(20):
        (site / f"gone{number}.pth").write_text(f"import removed_plugin_{number}\n")
    assert bytecode.cache_tag(str(target)) == TAG


@pytest.mark.parametrize(
    "line",
    ["r.v{}.w.x = s.t.u\n", "a<a<a<a<a<a<a<a<a<a\n"],
    ids=["attributes", "chained-comparisons"],
)
def test_dense_code_compiles_though_its_bytecode_outgrows_its_source(
    tmp_path: Path, line: str
) -> None:
    """A .pyc of attribute-heavy code is four times its source (3.11's inline caches),
    of chained comparisons thirteen, and more in base64: ceilings of four, then eight
    times the source refused them, where pip compiles them."""
    source = tmp_path / "dense.py"
    source.write_text("".join(line.format(i % 50) for i in range(100_000)))
    compiled = bytecode.compile_sources(
        sys.executable, str(tmp_path), str(tmp_path), ["dense.py"], 1, TAG, False
    )
    (pyc,) = compiled.data.values()
    assert len(pyc) > 3 * source.stat().st_size
    assert compiled.failures == ()


def _children() -> list[str]:
    tasks = Path(f"/proc/{os.getpid()}/task")
    return [pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()]


def test_a_failed_compiler_takes_the_others_with_it(tmp_path: Path) -> None:
    """Given their lists at once, the other compilers went on compiling after the apply
    had failed and exited; they are stopped and reaped."""
    compiler = tmp_path / "python"
    compiler.write_text(
        "#!/bin/sh\n"
        "grep -q a.py && exit 1\n"  # the batch holding a.py fails at once
        "exec sleep 60\n"
    )
    compiler.chmod(0o755)
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("")
    assert _children() == []
    with pytest.raises(OSError, match=r"^bytecode compiler failed: no output; exit status 1$"):
        bytecode.compile_sources(
            str(compiler), str(tmp_path), str(tmp_path), ["a.py", "b.py", "c.py"], 3, TAG, False
        )
    assert _children() == []


def test_a_failed_compiler_is_quoted_by_its_exception_line(tmp_path: Path) -> None:
    """A compiler that crashed was quoted by the last 200 characters of its stderr, the
    traceback's frames and line breaks among them; it is quoted as the probe is."""
    said = tmp_path / "said.txt"
    said.write_text(
        'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
        "    import   marshal\nImportError: cannot import name 'dumps'\n"
    )
    compiler = tmp_path / "python"
    compiler.write_text(f"#!/bin/sh\ncat '{said}' >&2\nexit 1\n")
    compiler.chmod(0o755)
    (tmp_path / "a.py").write_text("")
    with pytest.raises(OSError) as raised:
        bytecode.compile_sources(
            str(compiler), str(tmp_path), str(tmp_path), ["a.py"], 1, TAG, False
        )
    assert str(raised.value) == (
        "bytecode compiler failed: ImportError: cannot import name 'dumps'; exit status 1"
    )


def test_the_compilers_run_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each compiler must have its list before any has finished: one that waits for the
    other to have read its own (up to 30 s) answers only if it did. Fed through pipes
    one after another, the second got its list once the first had ended."""
    started = tmp_path / "started"
    started.mkdir()
    compiler = tmp_path / "python"
    compiler.write_text(
        "#!/bin/sh\n"
        "cat >/dev/null\n"  # its list first, as the real compiler reads it
        f"touch '{started}'/$$\n"
        "for i in $(seq 300); do\n"
        f"  [ $(ls '{started}' | wc -l) -ge 2 ] && {{ echo '[]'; exit 0; }}\n"
        "  sleep 0.1\n"
        "done\n"
        "exit 1\n"
    )
    compiler.chmod(0o755)
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("")
    # Their lists are not files in a temporary folder, which may be full or missing.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    compiled = bytecode.compile_sources(
        str(compiler), str(tmp_path), str(tmp_path), ["a.py", "b.py"], 2, TAG, False
    )
    assert compiled.data == {}
    assert len(list(started.iterdir())) == 2


def test_a_batch_that_fails_before_its_compiler_starts_stops_the_others(tmp_path: Path) -> None:
    """A source gone before its batch's compiler started left the compilers already
    started running, unreaped."""
    compiler = tmp_path / "python"
    compiler.write_text("#!/bin/sh\nexec sleep 60\n")
    compiler.chmod(0o755)
    (tmp_path / "a.py").write_text("")
    assert _children() == []
    with pytest.raises(FileNotFoundError):
        bytecode.compile_sources(
            str(compiler), str(tmp_path), str(tmp_path), ["a.py", "gone.py"], 2, TAG, False
        )
    assert _children() == []
