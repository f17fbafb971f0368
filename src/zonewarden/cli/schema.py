"""``zonewarden schema``: the documented shape of every event, generated from the code."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True,
              help="markdown: the reference in docs/events.md; json: JSON Schema of every event type.")
def schema(fmt: str) -> None:
    """Print the event reference (fields, types, meaning) of every protocol analyzer."""
    from zonewarden.model.events import AnomalyEvent
    from zonewarden.model.schema import events_json_schema, events_markdown
    from zonewarden.protocols.registry import ANALYZERS

    classes = [(_proto_of(cls, spec.name), cls) for spec in ANALYZERS for cls in spec.events]
    if fmt == "markdown":
        click.echo(events_markdown(classes), nl=False)
    else:
        click.echo(json.dumps(events_json_schema([c for _, c in classes] + [AnomalyEvent]), indent=2))


def _proto_of(cls: type, default: str) -> str:
    """The ``proto`` an event class carries (its field default), for the reference's section headings."""
    import msgspec

    for f in msgspec.structs.fields(cls):
        if f.name == "proto" and isinstance(f.default, str):
            return f.default
    return default
