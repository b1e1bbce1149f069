"""A click group that imports a command's module only when that command runs.

Importing every command module up front pulled in SQLAlchemy, Alembic, boto3 and the API's settings for
any invocation: `neurmatic --help` took 1.5-2.4 s. The group lists its commands from a table (module,
attribute, the short help it shows), and `tests/unit/test_cli_lazy.py` checks the table against the
commands themselves, so the listed help cannot drift from the commands' own.

A command usually lives under ``neurmatic.ops.commands``; one that belongs to another layer names its
package (``neurmatic api`` is in ``neurmatic.api.cli``, so no ops module imports the web layer).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

COMMANDS_PACKAGE = "neurmatic.ops.commands"
SHORT_HELP_LIMIT = 80


@dataclass(frozen=True)
class LazyCommand:
    module: str  # under ``package``
    attribute: str
    help: str  # the command's own short help, as `--help` lists it
    hidden: bool = False
    package: str = COMMANDS_PACKAGE  # another one for a command that lives outside the ops kit

    @property
    def module_path(self) -> str:
        return f"{self.package}.{self.module}"

    def load(self) -> click.Command:
        command = getattr(importlib.import_module(self.module_path), self.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.module_path}.{self.attribute} is not a click command")
        return command


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: listing must not import every command."""
        rows = [(name, entry.help) for name, entry in sorted(self.lazy.items()) if not entry.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
