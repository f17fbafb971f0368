"""``zonewarden``: the command group. User mistakes end in one clean line, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

import click

from zonewarden import __version__
from zonewarden.errors import ZonewardenError

EXIT_INPUT = 1
EXIT_USAGE = 2


class ZonewardenGroup(click.Group):
    """Turns zonewarden's own errors into `error: ...` and the documented exit status."""

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


def _register() -> None:
    from zonewarden.cli.events import events
    from zonewarden.cli.flows import flows
    from zonewarden.cli.inventory import analyze, assets, comm_map, override
    from zonewarden.cli.schema import schema
    from zonewarden.cli.simulate import simulate

    cli.add_command(analyze)
    cli.add_command(assets)
    cli.add_command(comm_map)
    cli.add_command(override)
    cli.add_command(flows)
    cli.add_command(events)
    cli.add_command(schema)
    cli.add_command(simulate)


_register()
