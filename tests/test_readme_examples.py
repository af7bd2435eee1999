"""The README's HTTP API examples run as written, in order, against a fresh ``--demo``.

Every ``curl`` command of the "HTTP API" section is followed in the README by a line
``# → STATUS``; the command is run by bash with ``API``, ``TOKEN`` and ``AUTH`` set as the
section says, and must answer that status.
"""

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from tests.serving import cli_env, serving

ROOT = Path(__file__).resolve().parent.parent
EXPECT = re.compile(r"^# → (\d{3})\b")


def api_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## HTTP API") : text.index("\n## ", text.index("## HTTP API") + 3)]


def examples() -> list[tuple[str, int]]:
    """(command, expected status) for every curl command of the section, in order."""
    found: list[tuple[str, int]] = []
    for block in re.findall(r"```sh\n(.*?)```", api_section(), re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("curl "):
                i += 1
                continue
            command = lines[i]
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + lines[i].strip()
            i += 1
            expected = EXPECT.match(lines[i]) if i < len(lines) else None
            assert expected, f"no '# → STATUS' line after: {command}"
            found.append((command, int(expected[1])))
    return found


def test_every_api_example_says_what_it_answers() -> None:
    found = examples()
    assert len(found) >= 17
    assert all(command.startswith("curl -s ") for command, _ in found)


async def test_the_api_examples_answer_as_documented_on_a_fresh_demo(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    async with serving(cli_env(f"sqlite://{tmp_path}/unused.sqlite3"), "--demo") as running:
        token = next(
            line.rsplit(" ", 1)[1]
            for line in running.stdout
            if line.startswith("API token (shown once): ")
        )
        prelude = (
            f"API={running.base}\nTOKEN={token}\n"
            'AUTH="Authorization: Bearer $TOKEN"\n'
            # The status on a line of its own after the body, the command left as written.
            "curl() { command curl -w '\\n%{http_code}' \"$@\"; }\n"
        )
        for command, status in examples():
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", prelude + command,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await proc.communicate()
            body, _, code = out.decode().rpartition("\n")
            assert (proc.returncode, code) == (0, str(status)), (command, body, err.decode())
