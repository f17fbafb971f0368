"""``zonewarden``: the command group. User mistakes end in one clean line, never a traceback."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from zonewarden import __version__
from zonewarden.errors import ZonewardenError

EXIT_INPUT = 1
EXIT_USAGE = 2


# Command name -> (module, attribute). Commands load when used: `zonewarden flows` does not pay for
# importing the inventory, the store (SQLAlchemy) or the simulator.
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("zonewarden.cli.inventory", "analyze"),
    "assets": ("zonewarden.cli.inventory", "assets"),
    "events": ("zonewarden.cli.events", "events"),
    "flows": ("zonewarden.cli.flows", "flows"),
    "map": ("zonewarden.cli.inventory", "comm_map"),
    "override": ("zonewarden.cli.inventory", "override"),
    "schema": ("zonewarden.cli.schema", "schema"),
    "simulate": ("zonewarden.cli.simulate", "simulate"),
}


class ZonewardenGroup(click.Group):
    """Loads commands on demand and turns zonewarden's own errors into `error: ...` and the exit status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        command = getattr(importlib.import_module(target[0]), target[1])
        assert isinstance(command, click.Command)
        return command

    @property
    def all_commands(self) -> dict[str, click.Command]:
        """Every command, loaded (for tests and documentation)."""
        ctx = click.Context(self)
        return {name: cmd for name in self.list_commands(ctx) if (cmd := self.get_command(ctx, name)) is not None}

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZonewardenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_INPUT)
        except BrokenPipeError:
            # Output piped into `head` and closed early: not an error worth a traceback.
            sys.stderr.close()
            sys.exit(0)


@click.group(cls=ZonewardenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zonewarden")
def cli() -> None:
    """zonewarden: passive security monitoring for converged IT/OT networks.

    It reads captures (pcap, pcapng, gzip-compressed, directories of them, or - for stdin) and never
    sends a packet. Exit status: 0 success, 1 input problems reported (partial results kept), 2 usage
    error.
    """
