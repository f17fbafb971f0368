"""The store's bulk write binds values as SQLAlchemy would and stores the same on SQLite and PostgreSQL; a store
made before 0006 migrates to the schema of a fresh one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, inspect, text

from zonewarden.store import db
from zonewarden.store.db import Store
from zonewarden.store.schema import MIGRATIONS, metadata, schema_migrations

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
    assert write_twice(migrated) == write_twice(fresh)  # (and it is written as a fresh one)
    migrated.engine.dispose()
    fresh.engine.dispose()


def test_a_store_made_before_0006_migrates_to_the_schema_of_a_fresh_store(tmp_path: Path) -> None:
    check_old_store_migrates(f"sqlite:///{tmp_path / 'old.db'}", str(tmp_path / "fresh.db"))


def test_a_postgresql_store_made_before_0006_migrates_too(pg_url: str, other_pg_url: str) -> None:
    check_old_store_migrates(pg_url, other_pg_url)


def evidence(attribute: str, value: Any, ts: float, confidence: float = 0.5) -> dict[str, Any]:
    return {"attribute": attribute, "value": value, "proto": "modbus", "ts": ts, "flow_id": None,
            "confidence": confidence}


def asset(asset_id: str, *items: dict[str, Any], last_seen: float = 2.0) -> dict[str, Any]:
    return {"asset_id": asset_id, "ips": [f"10.0.0.{asset_id[1:]}"], "vendor": None, "purdue_level": 1,
            "first_seen": 1, "last_seen": last_seen, "protocols": {"served": ["modbus"], "used": []},
            "evidence": list(items)}


def edge(client: str, server: str, packets: int) -> dict[str, Any]:
    return {"client": client, "server": server, "proto": "modbus", "operations": {"read": packets},
            "messages": packets, "flows": 1, "packets": packets, "bytes": 60 * packets, "first_seen": 1.0,
            "last_seen": 2.5}


def write_twice(store: Store) -> tuple[object, ...]:
    """Two analyses through every path of the write: new assets and evidence, then evidence kept, restated,
    dropped and added, an asset carried over, edges updated, changes with details; what the store then reads."""
    first = [asset("A1", evidence("vendor", "x", 1.0), evidence("vendor", "y", 1.0), evidence("vendor", "y", 1.5),
                   evidence("vendor_id", 42, 1.0), evidence("product_name", None, 1.0, 0.25),
                   evidence("zone", {"name": "cell-1", "tags": ["a", "é"]}, 1.0)),
             asset("A2", evidence("role", "plc", 1.0)), asset("A3")]
    store.save_analysis(inputs=[("fp1", "one.pcap", 100)], summary={"files": 1}, ts_first=1.0, ts_last=2.0,
                        assets=first, edges=[edge("A1", "A2", 3)],
                        changes=[{"kind": "new_asset", "asset_id": "A1"}, {"kind": "new_edge", "client": "A1",
                                                                          "server": "A2", "proto": "modbus"}],
                        seen={"A1", "A2", "A3"})
    second = [asset("A1", evidence("vendor", "y", 3.0, 0.75), evidence("vendor", "w", 3.0),
                    evidence("vendor_id", 42, 1.0), evidence("zone", {"name": "cell-1", "tags": ["a", "é"]}, 1.0),
                    last_seen=3),
              asset("A2", evidence("role", "plc", 1.0)), asset("A4", evidence("role", "hmi", 3.0))]
    store.save_analysis(inputs=[("fp2", "two.pcap", 200)], summary={"files": 1}, ts_first=3.0, ts_last=3.0,
                        assets=second, edges=[edge("A1", "A2", 5), edge("A4", "A1", 1)],
                        changes=[{"kind": "changed_attribute", "asset_id": "A1", "attribute": "vendor",
                                  "old": "x", "new": "y"}, {"kind": "vanished_asset", "asset_id": "A3"}],
                        seen={"A1", "A4"})
    analyses = [{k: v for k, v in a.items() if k != "started_at"} for a in store.analyses()]
    return (store.load_assets(), store.load_assets({"A1", "A4"}), sorted(map(str, store.load_edges())),
            sorted(map(str, store.load_edges({"A1", "A2"}))), store.changes(1), store.changes(2), analyses,
            store.latest_analysis_assets(), store.known_inputs())


def test_a_write_keeps_every_path_of_the_evidence_diff(tmp_path: Path) -> None:
    stored = write_twice(Store(str(tmp_path / "z.db")))
    a1 = stored[0]["A1"]  # type: ignore[index]
    assert [(e["value"], e["ts"], e["confidence"]) for e in a1["evidence"]] == [
        ("y", 3.0, 0.75), (42, 1.0, 0.5), ({"name": "cell-1", "tags": ["a", "é"]}, 1.0, 0.5), ("w", 3.0, 0.5)]
    assert a1["first_seen"] == 1 and a1["last_seen"] == 3 and a1["protocols"] == {"served": ["modbus"], "used": []}
    # A2 was written again (its stored copy, carried over) but not seen: the latest analysis to see it is the first.
    assert stored[7] == {"A1": ["10.0.0.1"], "A4": ["10.0.0.4"]}
    # Listed reads hold only the listed assets, and edges only between them.
    assert set(stored[1]) == {"A1", "A4"}  # type: ignore[arg-type]
    assert any("'A4'" in e for e in stored[2]) and not any("'A4'" in e for e in stored[3])  # type: ignore[union-attr]


def test_postgresql_stores_what_sqlite_stores(tmp_path: Path, pg_url: str) -> None:
    store = Store(pg_url)
    assert write_twice(store) == write_twice(Store(str(tmp_path / "z.db")))
    store.engine.dispose()


SAMPLES: dict[str, list[Any]] = {
    "JSON": [None, 1, 2.5, "x", "é\"'", [1, None, "a"], {"b": 1, "a": [True, False]}, {}, []],
    "FLOAT": [None, 1, 2.5, True, 1e300, -0.0],
    "other": [None, "x", "é", 7],
}


def check_binding(store: Store) -> None:
    dialect = store.engine.dialect
    for table in metadata.sorted_tables:
        for column in table.columns:
            kind = str(column.type) if str(column.type) in SAMPLES else "other"
            process = column.type.bind_processor(dialect)
            expected = SAMPLES[kind] if process is None else [process(v) for v in SAMPLES[kind]]
            assert list(db._bound(column, dialect, SAMPLES[kind])) == expected, (table.name, column.name)


def test_bulk_values_are_bound_as_sqlalchemy_binds_them_on_sqlite(tmp_path: Path) -> None:
    check_binding(Store(str(tmp_path / "z.db")))


def test_bulk_values_are_bound_as_sqlalchemy_binds_them_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    check_binding(store)
    store.engine.dispose()
