"""A store made before 0006 migrates to the schema of a fresh one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, inspect, text

from zonewarden.store.db import Store
from zonewarden.store.schema import MIGRATIONS, schema_migrations

DROP_INDEX = "0006_drop_evidence_asset_id_index"


def old_store(url: str) -> None:
    """A store as the versions before 0006 made it: their 0003 also created ix_evidence_asset_id."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for name, step in MIGRATIONS[:[name for name, _ in MIGRATIONS].index(DROP_INDEX)]:
            step(conn)
            conn.execute(insert(schema_migrations).values(name=name, applied_at="2026-01-01T00:00:00+00:00"))
        conn.execute(text("CREATE INDEX ix_evidence_asset_id ON evidence (asset_id)"))
    engine.dispose()


def schema(store: Store) -> dict[str, object]:
    """Every table's columns, keys, constraints and indexes, as the database reports them."""
    inspector = inspect(store.engine)
    out: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        out[table] = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            inspector.get_pk_constraint(table), inspector.get_foreign_keys(table),
            sorted(map(str, inspector.get_unique_constraints(table))), sorted(map(str, inspector.get_indexes(table))))
    if store.url.startswith("sqlite"):
        with store.engine.connect() as conn:
            out["sqlite_master"] = sorted(conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master")))
    return out


def index_names(engine: Engine) -> set[str]:
    inspector = inspect(engine)
    return {i["name"] or "" for t in inspector.get_table_names() for i in inspector.get_indexes(t)}


def check_old_store_migrates(old_url: str, fresh_url: str) -> None:
    old_store(old_url)
    engine = create_engine(old_url)
    assert "ix_evidence_asset_id" in index_names(engine)
    engine.dispose()
    migrated = Store(old_url)
    assert migrated.migrate() == [] and migrated.applied_migrations() == sorted(name for name, _ in MIGRATIONS)
    fresh = Store(fresh_url)
    assert "ix_evidence_asset_id" not in index_names(migrated.engine) | index_names(fresh.engine)
    assert schema(migrated) == schema(fresh)
    migrated.engine.dispose()
    fresh.engine.dispose()


def test_a_store_made_before_0006_migrates_to_the_schema_of_a_fresh_store(tmp_path: Path) -> None:
    check_old_store_migrates(f"sqlite:///{tmp_path / 'old.db'}", str(tmp_path / "fresh.db"))


def test_a_postgresql_store_made_before_0006_migrates_too(pg_url: str, other_pg_url: str) -> None:
    check_old_store_migrates(pg_url, other_pg_url)
