"""Tables and the named migrations that create and evolve them (recorded in ``schema_migrations``)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.schema import DropIndex

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("name", String(200), primary_key=True),
    Column("applied_at", String(40), nullable=False),
)

analyses = Table(
    "analyses", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", String(40), nullable=False),  # wall clock, for the user's history only
    Column("ts_first", Float), Column("ts_last", Float),  # packet time covered
    Column("inputs", JSON, nullable=False),
    Column("summary", JSON, nullable=False),
)

inputs = Table(
    "inputs", metadata,
    Column("fingerprint", String(80), primary_key=True),
    Column("path", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("analysis_id", Integer, ForeignKey("analyses.id"), nullable=False),
)

assets = Table(
    "assets", metadata,
    Column("asset_id", String(40), primary_key=True),
    Column("data", JSON, nullable=False),  # the Asset JSON without evidence
    Column("first_seen", Float), Column("last_seen", Float),
    Column("analysis_id", Integer, ForeignKey("analyses.id"), nullable=False),  # last analysis that saw it
)

evidence = Table(
    "evidence", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # (No index of its own: uq_evidence starts with it, and serves lookups by asset.)
    Column("asset_id", String(40), ForeignKey("assets.asset_id"), nullable=False),
    Column("attribute", String(60), nullable=False),
    Column("value_key", String(400), nullable=False),  # repr of the value, for uniqueness
    Column("value", JSON),
    Column("proto", String(40), nullable=False),
    Column("ts", Float, nullable=False),
    Column("flow_id", String(40)),
    Column("confidence", Float, nullable=False),
    UniqueConstraint("asset_id", "attribute", "value_key", "proto", name="uq_evidence"),
)

edges = Table(
    "edges", metadata,
    Column("client", String(40), primary_key=True),
    Column("server", String(40), primary_key=True),
    Column("proto", String(40), primary_key=True),
    Column("data", JSON, nullable=False),  # operations, messages, flows, packets, bytes
    Column("first_seen", Float), Column("last_seen", Float),
)

overrides = Table(
    "overrides", metadata,
    Column("asset_id", String(40), primary_key=True),
    Column("attribute", String(60), primary_key=True),
    Column("value", JSON),
    Column("source", Text, nullable=False),
)

changes = Table(
    "changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("analysis_id", Integer, ForeignKey("analyses.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),  # new_asset, vanished_asset, changed_attribute, new_edge, new_operation
    Column("asset_id", String(40)),
    Column("detail", JSON, nullable=False),
)


def _create(*tables: Table) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        for t in tables:
            t.create(conn, checkfirst=True)

    return apply


def _drop_index(name: str) -> Callable[[Connection], None]:
    def apply(conn: Connection) -> None:
        conn.execute(DropIndex(Index(name), if_exists=True))  # (a fresh store never made it)

    return apply


# Append only: a released migration is never edited; a change of schema is a new named step.
MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("0001_create_migrations", _create(schema_migrations)),
    ("0002_analyses_and_inputs", _create(analyses, inputs)),
    ("0003_assets_and_evidence", _create(assets, evidence)),
    ("0004_edges", _create(edges)),
    ("0005_overrides_and_changes", _create(overrides, changes)),
    # uq_evidence already serves lookups by asset; the index cost every evidence insert a second b-tree.
    ("0006_drop_evidence_asset_id_index", _drop_index("ix_evidence_asset_id")),
]
