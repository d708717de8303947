"""`uninstall -r FILE` reads the names a requirements file gives as pip and uv read
them: every way a line spells a distribution names that distribution."""

from __future__ import annotations

import codecs
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from planner import requirementsfile
from planner.errors import Refused
from planner.inputfiles import read_input
from planner.requirementsfile import MAX_INCLUDE_DEPTH, MAX_REQUIREMENTS_BYTES, uninstall_names

NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?", fullmatch=True)
# What a line adds to its name that does not change which distribution it names.
AFTER = st.sampled_from(
    [
        "",
        "==1.0",
        " >= 0.1, <2",
        "[extra,other]",
        '; python_version < "3"',
        "[x] @ https://example.com/any.tar.gz#sha256=00",
        " @ https://example.com/other-1.0-py3-none-any.whl",
        " --hash=sha256:" + "0" * 64,
        " --hash sha256:" + "0" * 64 + " --hash=sha256:" + "1" * 64,
        " --config-settings=key=value -C other=value",
        "  # why it goes",
    ]
)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.tuples(NAMES, AFTER), min_size=1, max_size=6))
def test_a_line_names_its_requirement_s_distribution_in_the_file_s_order(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[str, str]]
) -> None:
    path = tmp_path_factory.mktemp("reqs") / "requirements.txt"
    path.write_text("".join(f"{name}{after}\n" for name, after in lines), encoding="utf-8")
    expected = dict.fromkeys(canonicalize_name(name) for name, _ in lines)
    assert uninstall_names([str(path)], {}) == tuple(expected)


@given(name=NAMES, where=st.sampled_from(["", "./wheels/", "https://example.com/wheels/"]))
def test_a_wheel_s_path_or_url_names_the_wheel_s_distribution(
    tmp_path_factory: pytest.TempPathFactory, name: str, where: str
) -> None:
    """A bare `NAME-1.0-py3-none-any.whl` is a name PEP 508 allows: pip takes it for a
    wheel's path all the same."""
    escaped = canonicalize_name(name).replace("-", "_")  # as a wheel file names it
    fragment = "#sha256=" + "0" * 64 if where.startswith("https:") else ""
    path: Path = tmp_path_factory.mktemp("reqs") / "requirements.txt"
    path.write_text(f"{where}{escaped}-1.0-py3-none-any.whl{fragment}\n", encoding="utf-8")
    assert uninstall_names([str(path)], {}) == (canonicalize_name(name),)


def test_a_chain_of_files_deeper_than_any_real_one_is_refused_at_the_line_too_deep(
    tmp_path: Path,
) -> None:
    """A chain of 1,500 files each reading the next ended in a RecursionError's
    traceback (pip's ends so too, and uv overflows its stack)."""
    for index in range(1500):
        (tmp_path / f"r{index}.txt").write_text(f"-r r{index + 1}.txt\n")
    (tmp_path / "r1500.txt").write_text("six\n")
    with pytest.raises(Refused) as refused:
        uninstall_names([str(tmp_path / "r0.txt")], {})
    last = MAX_INCLUDE_DEPTH - 1
    assert [str(problem) for problem in refused.value.problems] == [
        f"{tmp_path}/r{last}.txt:1: reads r{last + 1}.txt, deeper than"
        f" {MAX_INCLUDE_DEPTH} requirements files, each read by the one before"
    ]


def test_a_file_that_several_files_read_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files each reading the next twice read the last 2**N times: forty of them hung
    where the names were known after its first read."""
    reads: list[str] = []

    def counted(path: str, *args: Any) -> bytes:
        reads.append(path)
        return read_input(path, *args)

    monkeypatch.setattr(requirementsfile, "read_input", counted)
    for index in range(10):
        (tmp_path / f"r{index}.txt").write_text(f"-r r{index + 1}.txt\n-r ./r{index + 1}.txt\n")
    (tmp_path / "r10.txt").write_text("six\n")
    assert uninstall_names([str(tmp_path / "r0.txt")], {}) == ("six",)
    assert len(reads) == 11


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_a_file_in_utf_16_with_a_byte_order_mark_is_read_as_pip_and_uv_read_it(
    tmp_path: Path, encoding: str
) -> None:
    """Windows PowerShell's `pip freeze > requirements.txt` writes UTF-16 with a byte
    order mark, which pip and uv read, and wheelplan refused as not UTF-8."""
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    path = tmp_path / "requirements.txt"
    path.write_bytes(bom + "six==1.17.0\r\n# café\r\nIDNA\r\n".encode(encoding))
    assert uninstall_names([str(path)], {}) == ("six", "idna")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("six\n".encode("utf-32"), "requirements.txt:1: is not UTF-8 text"),
        (b"six\n# caf\xe9\n", "requirements.txt:2: is not UTF-8 text"),
        ("six\n".encode("utf-16") + b"\x00\xd8", "requirements.txt:2: is not UTF-16 text"),
    ],
    ids=["utf-32", "latin-1", "cut-utf-16"],
)
def test_a_file_in_another_encoding_is_refused_at_its_line(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    """As uv refuses it (pip reads UTF-32, and guesses at the rest from the locale)."""
    path = tmp_path / "requirements.txt"
    path.write_bytes(data)
    with pytest.raises(Refused) as refused:
        uninstall_names([str(path)], {})
    assert [str(problem) for problem in refused.value.problems] == [f"{tmp_path}/{problem}"]


@pytest.mark.parametrize("options", ["--frobnicate", "--hash=sha256:00 --global-option=x", "-e"])
def test_a_requirement_s_own_option_pip_does_not_take_is_refused(
    tmp_path: Path, options: str
) -> None:
    """pip and uv refuse `six --frobnicate` (uv takes `--hash` alone, pip `--config-settings`
    too), where uninstall -r removed six."""
    path = tmp_path / "requirements.txt"
    path.write_text(f"idna\nsix {options}\n")
    with pytest.raises(Refused) as refused:
        uninstall_names([str(path)], {})
    assert [str(problem) for problem in refused.value.problems] == [
        f"{path}:2: {options.split()[-1].partition('=')[0]!r} is no option pip takes on a"
        " requirement's line (--hash, --config-settings), or lacks its value"
    ]


@pytest.mark.parametrize(
    ("lines", "environ", "names"),
    [
        # pip's form alone, an upper-case name, expanded: in a requirement, after the
        # comment is cut (a value's ` #` is no comment), and in a file an option reads.
        ("${NAME}\n", {"NAME": "six"}, ("six",)),
        ("s${MID_1}x==1.0 # not ${NAME}\n", {"MID_1": "i"}, ("six",)),
        ("six @ ${BASE}/six-1.0.tar.gz\n", {"BASE": "https://example.com"}, ("six",)),
        ("-r ${SUB}/r1.txt\n", {"SUB": "sub"}, ("idna",)),
        ("${NAME}\n", {"NAME": "six #1"}, "six #1"),
        # `$NAME`, `${name}` and an unset or empty one are left as they are.
        ("six${EMPTY}\n", {"EMPTY": ""}, "six${EMPTY}"),
        ("six${UNSET}\n", {}, "six${UNSET}"),
        ("six${lower}\n", {"lower": "x"}, "six${lower}"),
        ("six$NAME\n", {"NAME": "x"}, "six$NAME"),
    ],
)
def test_an_environment_variable_is_expanded_as_pip_expands_it(
    tmp_path: Path, lines: str, environ: dict[str, str], names: tuple[str, ...] | str
) -> None:
    """pip 26.3 replaces `${NAME}` by NAME's value, leaving it where NAME is unset or
    empty; uv 0.13.9 refuses the line, and so did wheelplan, which follows pip. A
    refused line is quoted as expanded, as pip quotes it."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "r1.txt").write_text("idna\n", encoding="utf-8")
    path = tmp_path / "r0.txt"
    path.write_text(lines, encoding="utf-8")
    if isinstance(names, tuple):
        assert uninstall_names([str(path)], environ) == names
        return
    with pytest.raises(Refused) as refused:
        uninstall_names([str(path)], environ)
    (problem,) = refused.value.problems
    assert problem.subject == f"{path}:1"
    assert problem.message.startswith(f"{names!r} names no distribution")


@pytest.mark.parametrize(
    ("line", "quoted"),
    [
        (
            "https://user:{pw}@example.com/six-1.0.tar.gz",
            "'https://user:****@example.com/six-1.0.tar.gz' names",
        ),
        (
            "-e https://{pw}@example.com/six-1.0.tar.gz",
            "'https://****@example.com/six-1.0.tar.gz' names",
        ),
        (
            "-i https://user:{pw}@example.com/simple extra",
            "'-i https://user:****@example.com/simple extra' is no option",
        ),
        (
            "six --hash https://user:{pw}@example.com/ '",
            '"--hash https://user:****@example.com/ \'" is no option',
        ),
        (
            "-r https://user:{pw}@example.com/r.txt",
            "cannot read requirements file https://user:****@example.com/r.txt:",
        ),
    ],
    ids=["requirement", "editable", "option", "own option", "file"],
)
@pytest.mark.parametrize("given", ["as written", "by a variable"])
def test_a_url_s_password_is_never_shown(
    tmp_path: Path, line: str, quoted: str, given: str
) -> None:
    """pip's own documentation has a requirements file take a password from `${NAME}`:
    a refused line quoted it, as written or expanded, where uv 0.13.9 shows `****`."""
    path = tmp_path / "requirements.txt"
    written = line.format(pw="s3cret" if given == "as written" else "${PASSWORD}")
    path.write_text(f"{written}\n", encoding="utf-8")
    with pytest.raises(Refused) as refused:
        uninstall_names([str(path)], {"PASSWORD": "s3cret"})
    (problem,) = refused.value.problems
    assert problem.subject == f"{path}:1"
    assert quoted in problem.message
    assert "s3cret" not in str(problem)


@pytest.mark.parametrize("where", ["file://{folder}", "FILE://localhost{folder}"])
@pytest.mark.parametrize("named", ["on the command line", "by -r"])
def test_a_requirements_file_a_file_url_names_is_read(
    tmp_path: Path, where: str, named: str
) -> None:
    """pip 26.3 and uv 0.13.9 read `-r file:///...`; wheelplan took the URL for a path
    beside the file naming it, 'No such file or directory'."""
    folder = tmp_path / "a folder"
    folder.mkdir()
    (folder / "r1.txt").write_text("six\n", encoding="utf-8")
    url = where.format(folder=str(folder).replace(" ", "%20")) + "/r1.txt"
    path = tmp_path / "r0.txt"
    path.write_text(f"-r {url}\nidna\n", encoding="utf-8")
    given = str(path) if named == "by -r" else url
    assert uninstall_names([given], {}) == (("six", "idna") if named == "by -r" else ("six",))


@pytest.mark.parametrize(
    "url", ["https://user:{pw}@example.com/r.txt", "HTTP://example.com/r.txt", "file://host/r.txt"]
)
def test_a_requirements_file_at_a_url_is_refused_as_one(tmp_path: Path, url: str) -> None:
    """pip 26.3 and uv 0.13.9 download one at an http or https URL (and pip refuses a
    file URL of another host); wheelplan said 'No such file or directory' of a path
    made of the folder and the URL."""
    path = tmp_path / "r0.txt"
    path.write_text(f"six\n-r {url.format(pw='s3cret')}\n", encoding="utf-8")
    with pytest.raises(Refused) as refused:
        uninstall_names([str(path)], {})
    problem = (
        f"cannot read requirements file {url.format(pw='****')}: wheelplan reads one on"
        " this machine alone; download it and name the file"
    )
    assert [str(problem) for problem in refused.value.problems] == [f"{path}:2: {problem}"]
    with pytest.raises(Refused) as refused:
        uninstall_names([url.format(pw="s3cret")], {})
    assert [str(problem) for problem in refused.value.problems] == [
        f"{url.format(pw='****')}: {problem}"
    ]


@settings(max_examples=500)
@given(line=st.text(alphabet=st.sampled_from(list("a#= \t\u2003\u00a0/:")), max_size=30))
def test_a_comment_is_cut_where_pip_cuts_it(line: str) -> None:
    """pip's `(^|\\s+)#.*$`, which this follows without trying each space of a run again."""
    assert requirementsfile._uncommented(line) == re.sub(r"(^|\s+)#.*$", "", line).strip()


def test_a_long_run_of_spaces_is_read_in_one_pass(tmp_path: Path) -> None:
    """pip's comment pattern tried each space of a run with no `#` after it again: a
    line of 15 MiB of spaces took hours to read (pip's, too)."""
    path = tmp_path / "requirements.txt"
    spaces = " " * (MAX_REQUIREMENTS_BYTES - 200)
    path.write_text(f"six{spaces}--hash=sha256:{'0' * 64}\nidna\n")
    assert uninstall_names([str(path)], {}) == ("six", "idna")


def _pip_expanded(line: str, environ: dict[str, str]) -> str:
    """pip 26.3's expand_env_variables, as it reads."""
    for variable, name in re.findall(r"(\$\{([A-Z0-9_]+)\})", line):
        if value := environ.get(name):
            line = line.replace(variable, value)
    return line


@given(
    parts=st.lists(st.sampled_from(["${A}", "${B}", "${C_1}", "${", "}", "$", "x", " "])),
    environ=st.dictionaries(
        st.sampled_from(["A", "B", "C_1"]), st.sampled_from(["", "six", "a b", " ", "-r"])
    ),
)
def test_a_variable_is_expanded_as_pip_expands_it_whatever_the_line(
    parts: list[str], environ: dict[str, str]
) -> None:
    """For values that make no `${NAME}` (real ones), which is where replacing each NAME
    once differs from replacing it again at each of its places, as pip does."""
    line = "".join(parts)
    assert requirementsfile._expanded(line, environ) == _pip_expanded(line, environ)


def test_a_variable_named_a_million_times_is_expanded_in_one_pass(tmp_path: Path) -> None:
    """pip replaces a variable again for each place it is named, a pass over the line
    each: a line of 4 million `${PAD}` was not read in 3 minutes (pip's, too)."""
    path = tmp_path / "requirements.txt"
    path.write_text("six" + "${PAD}" * ((MAX_REQUIREMENTS_BYTES - 100) // 6) + "\nidna\n")
    assert uninstall_names([str(path)], {"PAD": " "}) == ("six", "idna")


@given(text=st.text(alphabet=st.sampled_from(list("ab-= \t'\"\\#\u2003")), max_size=20))
def test_options_are_split_as_shlex_splits_them(text: str) -> None:
    try:
        expected: list[str] | None = shlex.split(text)
    except ValueError:
        expected = None
    assert requirementsfile._words(text) == expected


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("six --hash=" + "0" * 15 * 1024**2, None),
        ("six --hash '" + "a " * 5 * 1024**2 + "'", "is no option"),
        ("-r '" + "a " * 5 * 1024**2 + "'", "is no option pip's requirements files take"),
        # Quoted in the refusal, its password hidden: a scheme was sought from each letter.
        ("a" * 15 * 1024**2 + "!", "names no distribution"),
    ],
    ids=["word", "quoted", "option line", "no requirement"],
)
def test_a_word_of_megabytes_is_read_in_one_pass(
    tmp_path: Path, line: str, problem: str | None
) -> None:
    """shlex, which splits options as pip's reading does, takes time quadratic in a
    word's length: a line holding one of 15 MiB was not read in 3 minutes (pip's, too).
    Quoted, it is refused as a line that cannot be split."""
    path = tmp_path / "requirements.txt"
    path.write_text(f"{line}\nidna\n")
    if problem is None:
        assert uninstall_names([str(path)], {}) == ("six", "idna")
        return
    with pytest.raises(Refused) as refused:
        uninstall_names([str(path)], {})
    (found,) = refused.value.problems
    assert found.subject == f"{path}:1"
    assert problem in found.message
