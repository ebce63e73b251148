"""The documentation's examples and links work (README.md and docs/*.md).

What is checked, per fenced code block (the info string after the three backticks):

- ``python``: the block runs, as a new user would run it: in a fresh interpreter, in a
  temporary folder that holds links to the repository's ``cases/`` and ``meshes/``, with
  the repository on ``PYTHONPATH``. Each block is self-contained (no state from earlier
  blocks) and must take seconds (keep examples small, e.g. ``time.steps=20``).
- ``sh``, ``bash`` and ``console``: every command line that calls ``seedsoil`` (any path ending in
  ``seedsoil``, or ``python -m solver``) is parsed by the real CLI parser
  (``solver.cli._parser``), nothing is run; every ``cases/*.toml`` and ``scripts/*.py`` a
  line names must exist. Continuation lines (trailing backslash) are joined; ``#`` starts
  a comment; a ``$ `` prompt is dropped.
- ``toml``: the block is a valid case, or a valid part of one: it is loaded as a case file
  in a temporary ``cases/`` folder beside a link to ``meshes/`` (so relative mesh paths
  resolve as in the repository), every key checked by the schema.
- A block that must not run (an hour-long study, an example that needs a file you do not
  have) adds ``no-run`` to its info string: ```` ```python no-run ````. Its Python is then
  compiled only, and its command lines are still parsed (parsing runs nothing). Blocks
  fenced as ``text`` (synopses with placeholders like ``[--set KEY=VALUE ...]``, output
  listings) are not checked.

Links: every relative link ``[text](target)`` in those pages must name an existing file or
folder (anchors and external URLs are not checked). Pages that other parts of issue 13
write are allowed to be missing only while they are listed in ``PENDING``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Pages written by the other parts of issue 13, linked from these pages before they land.
# The integrator empties this list when merging; a name left here after that hides nothing
# (the test then also requires each listed page to be missing).
PENDING: set[str] = set()

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def blocks(page: Path) -> list[tuple[str, set[str], str, int]]:
    """The fenced blocks of a page: (language, flags, text, line number)."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        info = m.group(1).split()
        lang = info[0] if info else ""
        out.append((lang, set(info[1:]), m.group(2), text.count("\n", 0, m.start()) + 1))
    return out


def _blocks_of(lang: set[str]) -> list:
    params = []
    for page in PAGES:
        for kind, flags, code, line in blocks(page):
            if kind in lang:
                name = f"{page.relative_to(ROOT)}:{line}"
                params.append(pytest.param(page, flags, code, id=name))
    return params


def command_lines(code: str) -> list[str]:
    """The logical lines of a shell block, continuations joined, prompts dropped."""
    lines, cur = [], ""
    for raw in code.splitlines():
        line = raw.rstrip()
        if line.startswith("$ "):
            line = line[2:]
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        lines.append(cur + line)
        cur = ""
    if cur:
        lines.append(cur)
    return [ln for ln in lines if ln.strip()]


def seedsoil_args(line: str) -> list[list[str]]:
    """The argument lists of every seedsoil call on a line (split at ; && ||)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)  # "1000;" is "1000", ";"
    lexer.whitespace_split = True
    words = list(lexer)  # "#" starts a comment
    calls, cmd = [], []
    for w in words + [";"]:
        if w in (";", "&&", "||", "|", "&"):
            # The last seedsoil on a command is the program (docker run IMAGE seedsoil ...);
            # one after -t is an image tag.
            for i in reversed(range(len(cmd))):
                tag = i > 0 and cmd[i - 1] in ("-t", "--tag")
                if Path(cmd[i]).name == "seedsoil" and not tag:
                    calls.append(cmd[i + 1 :])
                    break
                if cmd[i] == "-m" and i + 1 < len(cmd) and cmd[i + 1] == "solver":
                    calls.append(cmd[i + 2 :])
                    break
            cmd = []
        else:
            cmd.append(w)
    return calls


@pytest.mark.parametrize("page, flags, code", _blocks_of({"sh", "console", "bash"}))
def test_shell_commands_parse(page, flags, code):
    from solver.cli import _parser

    parser = _parser()
    for line in command_lines(code):
        for name in re.findall(r"(?<![\w/.])((?:cases|scripts)/[\w./-]+\.(?:toml|py))", line):
            assert (ROOT / name).exists(), f"{page.name}: {line!r} names {name}, which is missing"
        for args in seedsoil_args(line):
            try:
                parser.parse_args(args)
            except SystemExit:
                pytest.fail(
                    f"{page.name}: the CLI does not accept {line!r} (seedsoil {' '.join(args)})"
                )


@pytest.mark.parametrize("page, flags, code", _blocks_of({"python"}))
def test_python_examples_run(page, flags, code, tmp_path):
    if "no-run" in flags:
        compile(code, str(page), "exec")
        return
    for name in ("cases", "meshes"):
        (tmp_path / name).symlink_to(ROOT / name)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (
        f"{page.name}: the example failed:\n{code}\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    )


@pytest.mark.parametrize("page, flags, code", _blocks_of({"toml"}))
def test_toml_examples_are_valid_cases(page, flags, code, tmp_path):
    import tomllib

    from solver import config

    if "no-run" in flags:
        tomllib.loads(code)
        return
    (tmp_path / "cases").mkdir()
    (tmp_path / "meshes").symlink_to(ROOT / "meshes")
    case = tmp_path / "cases" / "example.toml"
    case.write_text(code)
    config.load(str(case))


def links(page: Path) -> list[str]:
    """Relative link targets of a page, outside code blocks and code spans."""
    text = FENCE.sub("", page.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)
    out = []
    for m in LINK.finditer(text):
        target = (m.group(1) or m.group(2)).split("#")[0]
        if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target):
            out.append(target)
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_exist(page):
    missing = []
    for target in links(page):
        path = (page.parent / target).resolve()
        rel = os.path.relpath(path, ROOT)
        if not path.exists() and rel not in PENDING:
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_pending_pages_are_still_missing():
    """A page in PENDING that has landed must leave the list (so its links are checked)."""
    landed = sorted(p for p in PENDING if (ROOT / p).exists())
    assert not landed, f"remove from PENDING in tests/system/test_docs.py, they exist now: {landed}"


def test_docs_pages_named_in_the_code_exist():
    """Code comments, messages, scripts and cases cite pages as ``docs/<page>.md``: each exists."""
    missing = set()
    for top in ("solver", "scripts", "tests", "cases", "meshes"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".toml", ".sh", ".md", ".geo") or not path.is_file():
                continue
            for name in re.findall(r"docs/[\w./-]*\w\.md", path.read_text(errors="replace")):
                if not (ROOT / name).exists() and name not in PENDING:
                    missing.add(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, f"pages named but missing: {sorted(missing)}"


def test_running_page_names_every_command_and_option():
    """docs/running.md documents the CLI in full: every sub-command and every option of the
    real parser appears on the page (a new option fails this until it is documented)."""
    import argparse

    from solver.cli import _parser

    text = (ROOT / "docs" / "running.md").read_text()
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in sub.choices.items():
        if f"seedsoil {name}" not in text:
            missing.append(name)
        for action in parser._actions:
            missing += [
                f"{name} {o}"
                for o in action.option_strings
                if o.startswith("--") and o != "--help" and o not in text
            ]
    assert not missing, f"docs/running.md does not mention: {missing}"


def test_sections_cited_in_the_code_exist():
    """Code cites "docs/model.md section 3" (or "sections 2 and 5"): each page has a heading
    "## 3." for every section number cited, so renumbering a page fails here."""
    cite = re.compile(r"docs/([\w-]+\.md),? sections? ((?:\d+(?:, | and |,)?)+)")
    missing = set()
    for top in ("solver", "scripts", "tests", "cases", "docs"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".toml", ".sh", ".md") or not path.is_file():
                continue
            for page, numbers in cite.findall(path.read_text(errors="replace")):
                target = ROOT / "docs" / page
                if not target.exists():
                    continue  # test_docs_pages_named_in_the_code_exist reports it
                text = target.read_text()
                for n in re.findall(r"\d+", numbers):
                    if not re.search(rf"^## {n}\. ", text, re.M):
                        missing.add(f"{path.relative_to(ROOT)}: docs/{page} section {n}")
    assert not missing, f"sections cited but missing: {sorted(missing)}"
