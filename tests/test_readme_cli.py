"""Every ``main.py`` command the README shows (in its ``sh`` blocks and inline) is one the
command line accepts as written: the subcommand exists and takes those options."""

import re
import shlex
from pathlib import Path

import pytest

from main import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCK_LINE = re.compile(r"^(?:\.venv/bin/)?python3? main\.py (.*)$", re.M)
INLINE = re.compile(r"`(?:(?:\.venv/bin/)?python3? )?main\.py ([^`]+)`")


def documented() -> list[str]:
    """The argument part of every documented command, in README order."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        found += BLOCK_LINE.findall(block)
    return found + INLINE.findall(README)


def argv(command: str) -> list[str]:
    """The arguments as a shell passes them; ``[--opt x]`` (optional parts) are kept."""
    return [word.strip("[]") for word in shlex.split(command, comments=True)]


def test_the_readme_documents_the_commands_of_each_area() -> None:
    used = {argv(command)[0] for command in documented()}
    assert {"serve", "migrate", "server", "token", "reconcile", "backup", "restore"} <= used
    assert "audit" in used


@pytest.mark.parametrize("command", documented())
def test_a_documented_command_is_accepted_as_written(command: str) -> None:
    try:
        build_parser().parse_args(argv(command))
    except SystemExit as exit_:
        raise AssertionError(f"main.py {command}: refused by the parser") from exit_
