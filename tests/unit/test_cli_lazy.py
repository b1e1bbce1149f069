"""The CLI imports a command only to run it: `neurmatic --help` lists every command from a table, which
must say exactly what each command says of itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from neurmatic.ops.cli import COMMANDS
from neurmatic.ops.lazy_group import SHORT_HELP_LIMIT


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_matches_each_command(name: str) -> None:
    entry = COMMANDS[name]
    command = entry.load()
    assert command.name == name
    assert command.hidden == entry.hidden
    assert command.get_short_help_str(limit=SHORT_HELP_LIMIT) == entry.help


def test_help_imports_no_command_and_none_of_the_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "from neurmatic.ops.cli import cli\n"
        "try:\n"
        "    cli.main(['--help'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = ('neurmatic.ops.commands.', 'sqlalchemy', 'alembic', 'boto3', 'pydantic_settings')\n"
        "    print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "restore-table" in result.stdout and "mailcatcher" not in result.stdout  # hidden stays hidden
    assert result.stderr.strip() == "[]", result.stderr


def test_an_unknown_command_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neurmatic", "no-such-command"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "No such command" in result.stderr
