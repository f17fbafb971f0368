"""The store: named migrations, atomic analyses, idempotent re-runs, overrides that survive; SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from zonewarden.errors import StoreError
from zonewarden.pipeline.analysis import analyze
from zonewarden.simulate.demo_capture import write_demo
from zonewarden.store.db import Store
from zonewarden.store.schema import MIGRATIONS

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.pcap"
    write_demo(path)
    return path


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL (CI starts the server)."""
    name = f"zw_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def snapshot(store: Store) -> tuple[object, ...]:
    return (sorted(store.load_assets().items()), sorted(map(str, store.load_edges())), len(store.analyses()))


def test_migrations_are_recorded_by_name(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "z.db"))
    assert store.applied_migrations() == sorted(name for name, _ in MIGRATIONS)
    assert Store(str(tmp_path / "z.db")).migrate() == []  # nothing left to apply on reopen


def test_rerunning_the_same_capture_changes_nothing(tmp_path: Path, demo: Path) -> None:
    store = Store(str(tmp_path / "z.db"))
    first = analyze([str(demo)], store)
    assert first.analysis_id is not None and len(first.assets) >= 7
    before = snapshot(store)
    again = analyze([str(demo)], store)
    assert again.analysis_id is None and again.skipped == [str(demo)]
    assert snapshot(store) == before


def test_an_analysis_killed_while_writing_leaves_the_store_as_it_was(tmp_path: Path, demo: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(str(tmp_path / "z.db"))
    before = snapshot(store)

    def dying_unique(items: list[dict[str, object]]) -> list[dict[str, object]]:
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C in the middle of the write

    monkeypatch.setattr("zonewarden.store.db._unique_evidence", dying_unique)
    with pytest.raises(KeyboardInterrupt):
        analyze([str(demo)], store)
    monkeypatch.undo()
    assert snapshot(store) == before
    assert analyze([str(demo)], store).analysis_id is not None  # the input was not recorded as done


def test_changes_between_analyses(tmp_path: Path, demo: Path) -> None:
    from zonewarden.simulate.frames import ethernet, tcp_session
    from zonewarden.simulate.pcap_writer import write_pcap

    store = Store(str(tmp_path / "z.db"))
    first = analyze([str(demo)], store)
    plc = next(a for a in first.assets if "10.10.1.11" in a.ips)
    # A rogue laptop appears and writes a register on the Siemens PLC over Modbus.
    request = bytes.fromhex("0001 0000 0006 01 06 0010 00ff")
    packets = tcp_session("10.10.9.99", "10.10.1.11", 50123, 502, [(request, request)], 1000, 5000)
    laptop, plc_mac = "02:00:00:00:09:99", "00:1b:1b:4e:81:0b"
    frames = []
    for n, pkt in enumerate(packets):
        from_laptop = pkt[12:16] == bytes([10, 10, 9, 99])
        dst, src = (plc_mac, laptop) if from_laptop else (laptop, plc_mac)
        frames.append((1_767_600_000_000_000_000 + n * 1_000_000, ethernet(dst, src, 0x0800, pkt)))
    rogue = tmp_path / "rogue.pcap"
    write_pcap(rogue, frames)
    result = analyze([str(rogue)], store)
    kinds = [(c["kind"], c.get("asset_id")) for c in result.changes]
    new = [aid for kind, aid in kinds if kind == "new_asset"]
    assert len(new) == 1 and "10.10.9.99" in store.load_assets()[new[0]]["ips"]
    assert any(c["kind"] == "new_edge" and c["server"] == plc.asset_id and c["proto"] == "modbus"
               for c in result.changes)
    assert any(c["kind"] == "vanished_asset" for c in result.changes)  # the HMI was not in this capture
    assert store.changes() == result.changes


def test_overrides_survive_new_analyses(tmp_path: Path, demo: Path) -> None:
    store = Store(str(tmp_path / "z.db"))
    result = analyze([str(demo)], store)
    plc = next(a for a in result.assets if "10.10.1.11" in a.ips)
    store.set_override(plc.asset_id, "zone", "cell-1", "test")
    other = tmp_path / "other.pcap"
    write_demo(other, seed=3)
    analyze([str(other)], store)
    assert store.load_assets()[plc.asset_id]["zone"] == "cell-1"


def saved_asset(asset_id: str, values: list[str]) -> dict[str, Any]:
    return {"asset_id": asset_id, "first_seen": 1.0, "last_seen": 2.0, "evidence": [
        {"attribute": "vendor", "value": v, "proto": "modbus", "ts": 1.0, "flow_id": None, "confidence": 0.5}
        for v in values]}


def save(store: Store, *assets: dict[str, Any]) -> int:
    return store.save_analysis(inputs=[], summary={}, ts_first=None, ts_last=None, assets=list(assets), edges=[],
                               changes=[], seen={a["asset_id"] for a in assets})


def test_a_saved_asset_keeps_exactly_its_evidence_list(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "z.db"))
    save(store, saved_asset("A1", ["x", "y", "y"]), saved_asset("A2", ["z"]))
    save(store, saved_asset("A1", ["y", "w"]))  # x dropped, w added; A2 not written this time
    stored = store.load_assets()
    assert [e["value"] for e in stored["A1"]["evidence"]] == ["y", "w"]
    assert [e["value"] for e in stored["A2"]["evidence"]] == ["z"]


def test_saving_an_analysis_takes_the_same_few_statements_whatever_its_size(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "z.db"))
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = []
    for n in (3, 300):
        statements.clear()
        save(store, *(saved_asset(f"A{n}-{i}", ["x", "y"]) for i in range(n)))
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 10, statements


def test_same_code_runs_on_postgresql(pg_url: str, demo: Path) -> None:
    store = Store(pg_url)
    assert store.applied_migrations() == sorted(name for name, _ in MIGRATIONS)
    result = analyze([str(demo)], store)
    assert result.analysis_id is not None
    stored = store.load_assets()
    assert {a.asset_id for a in result.assets} == set(stored)
    assert analyze([str(demo)], store).analysis_id is None  # idempotent there too
    store.engine.dispose()


def test_unreachable_store_is_a_clean_error() -> None:
    with pytest.raises(StoreError):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_cli_analyze_assets_map_round_trip(tmp_path: Path, demo: Path) -> None:
    db = str(tmp_path / "z.db")
    run = subprocess.run([".venv/bin/zonewarden", "analyze", str(demo), "--db", db, "--report",
                          str(tmp_path / "r.html")], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "assets:" in run.stderr
    for fmt in ("json", "csv", "table"):
        out = subprocess.run([".venv/bin/zonewarden", "assets", "--db", db, "--format", fmt], capture_output=True,
                             text=True, check=True).stdout
        assert "10.10.1.11" in out
    for fmt in ("json", "csv", "graphml", "svg", "table"):
        out = subprocess.run([".venv/bin/zonewarden", "map", "--db", db, "--format", fmt], capture_output=True,
                             text=True, check=True).stdout
        assert "modbus" in out, fmt
