"""The store: named migrations, atomic analyses, idempotent re-runs, overrides that survive; SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from zonewarden.errors import StoreError
from zonewarden.pipeline.analysis import analyze
from zonewarden.simulate.demo_capture import write_demo
from zonewarden.store.db import Store
from zonewarden.store.schema import MIGRATIONS


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.pcap"
    write_demo(path)
    return path


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


def _capture(path: Path, start_ns: int, sessions: list[tuple[str, str, int, int, list[tuple[bytes, bytes]]]]) -> Path:
    """TCP sessions between the hosts of ``MACS`` as an Ethernet capture starting at ``start_ns``."""
    from zonewarden.simulate.frames import ethernet, tcp_session
    from zonewarden.simulate.pcap_writer import write_pcap

    frames = []
    for client, server, cport, sport, exchanges in sessions:
        for pkt in tcp_session(client, server, cport, sport, exchanges, 1000, 5000):
            src, dst = ".".join(map(str, pkt[12:16])), ".".join(map(str, pkt[16:20]))
            frames.append((start_ns + len(frames) * 1_000_000, ethernet(MACS[dst], MACS[src], 0x0800, pkt)))
    write_pcap(path, frames)
    return path


MACS = {"10.20.1.10": "00:80:f4:00:00:10", "10.20.1.20": "02:00:00:00:00:20", "10.20.1.30": "02:00:00:00:00:30"}
DAY_NS = 86_400 * 10**9
T_FIRST = 1_767_600_000 * 10**9


def _mei(revision: str) -> tuple[bytes, bytes]:
    """Modbus Read Device Identification (MEI 0x0E, basic): vendor, product code, ``revision``."""
    objects = b"".join(bytes([i, len(v)]) + v for i, v in enumerate((b"Schneider Electric", b"BMX P34 2020",
                                                                       revision.encode())))
    request = bytes.fromhex("0001 0000 0005 01 2b 0e 01 00")
    pdu = bytes.fromhex("2b 0e 01 01 00 00 03") + objects
    response = bytes.fromhex("0001 0000") + (len(pdu) + 1).to_bytes(2, "big") + b"\x01" + pdu
    return request, response


READ = (bytes.fromhex("0002 0000 0006 01 03 0000 0002"), bytes.fromhex("0002 0000 0007 01 03 04 0001 0002"))


def test_a_firmware_upgrade_and_a_new_role_are_reported_as_changes(tmp_path: Path) -> None:
    """The same statement at the same confidence, made later with another value, is the device as it is now."""
    store = Store(str(tmp_path / "z.db"))
    plc, hmi = "10.20.1.10", "10.20.1.20"
    analyze([str(_capture(tmp_path / "a.pcap", T_FIRST, [(hmi, plc, 50100, 502, [_mei("v2.7"), READ])]))], store)
    first = next(a for a in store.load_assets().values() if plc in a["ips"])
    assert (first["firmware"], first["role"]) == ("v2.7", "plc")

    later = _capture(tmp_path / "b.pcap", T_FIRST + DAY_NS, [(hmi, plc, 50200, 502, [_mei("v3.1"), READ])])
    result = analyze([str(later)], store)
    changed = [(c["attribute"], c["old"], c["new"]) for c in result.changes
               if c["kind"] == "changed_attribute" and c["asset_id"] == first["asset_id"]]
    assert changed == [("firmware", "v2.7", "v3.1")]
    again = store.load_assets()[first["asset_id"]]
    assert again["firmware"] == "v3.1"
    assert {e["value"] for e in again["evidence"] if e["attribute"] == "firmware"} == {"v2.7", "v3.1"}

    # The PLC is replaced by a station polling another controller: its role changes, and the level with it.
    polling = _capture(tmp_path / "c.pcap", T_FIRST + 2 * DAY_NS, [(plc, "10.20.1.30", 50300, 502, [READ])])
    result = analyze([str(polling)], store)
    changed = {c["attribute"]: (c["old"], c["new"]) for c in result.changes
               if c["kind"] == "changed_attribute" and c["asset_id"] == first["asset_id"]}
    assert changed == {"role": ("plc", "hmi"), "purdue_level": (1, 2)}


def test_a_capture_showing_only_it_traffic_does_not_demote_a_controller(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "z.db"))
    plc, hmi = "10.20.1.10", "10.20.1.20"
    analyze([str(_capture(tmp_path / "a.pcap", T_FIRST, [(hmi, plc, 50100, 502, [READ])]))], store)
    web = (b"GET / HTTP/1.1\r\nHost: plc\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    result = analyze([str(_capture(tmp_path / "b.pcap", T_FIRST + DAY_NS, [(hmi, plc, 50200, 80, [web])]))], store)
    asset = next(a for a in store.load_assets().values() if plc in a["ips"])
    assert (asset["role"], asset["purdue_level"]) == ("plc", 1)
    assert not [c for c in result.changes if c["kind"] == "changed_attribute" and c["asset_id"] == asset["asset_id"]]
    # The weaker reading is kept as evidence all the same.
    assert {e["value"] for e in asset["evidence"] if e["attribute"] == "role"} == {"plc", "it_host"}


def test_a_value_stated_again_stays_current_in_later_analyses(tmp_path: Path) -> None:
    """v1, then v2, then v1 again: the store keeps when each was last said, so an analysis that says nothing
    about the firmware changes nothing."""
    store = Store(str(tmp_path / "z.db"))
    plc, hmi = "10.20.1.10", "10.20.1.20"
    for day, exchanges in enumerate(([_mei("v1")], [_mei("v2")], [_mei("v1")], [READ])):
        result = analyze([str(_capture(tmp_path / f"{day}.pcap", T_FIRST + day * DAY_NS,
                                       [(hmi, plc, 50100 + day, 502, exchanges)]))], store)
        asset = next(a for a in store.load_assets().values() if plc in a["ips"])
        changed = [(c["old"], c["new"]) for c in result.changes
                   if c["kind"] == "changed_attribute" and c["attribute"] == "firmware"]
        assert (asset["firmware"], changed) == [("v1", []), ("v2", [("v1", "v2")]), ("v1", [("v2", "v1")]),
                                                ("v1", [])][day]
    restated = [e for e in asset["evidence"] if e["attribute"] == "firmware" and e["value"] == "v1"]
    assert len(restated) == 1 and restated[0]["ts"] > T_FIRST / 1e9 + 2 * DAY_NS / 1e9


def test_an_analysis_touches_what_it_saw_and_vanishes_what_the_previous_one_saw(tmp_path: Path) -> None:
    """Appending captures to a big store costs their own size: untouched assets are neither read nor written,
    and "vanished" means seen by the previous analysis, not by any earlier one."""
    store = Store(str(tmp_path / "z.db"))
    plc, hmi, other = "10.20.1.10", "10.20.1.20", "10.20.1.30"
    runs = [[(hmi, plc, 50100, 502, [READ])], [(other, hmi, 50200, 502, [READ])], [(other, hmi, 50300, 502, [READ])]]
    statements: list[str] = []
    results = []
    for day, sessions in enumerate(runs):
        if day == 2:
            event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        results.append(analyze([str(_capture(tmp_path / f"{day}.pcap", T_FIRST + day * DAY_NS, sessions))], store))
    third = list(statements)
    by_ip = {a["ips"][0]: aid for aid, a in store.load_assets().items()}
    vanished = [[c["asset_id"] for c in r.changes if c["kind"] == "vanished_asset"] for r in results]
    assert vanished == [[], [by_ip[plc]], []]  # the PLC went missing once, not again at every analysis
    assert {a.asset_id for a in results[2].assets} == {by_ip[hmi], by_ip[other]}
    # The third run read the assets it saw by id, not the whole table.
    reads = [q for q in third if q.lstrip().upper().startswith("SELECT") and "FROM assets" in q]
    assert reads and all(" IN " in q.upper() or "WHERE assets.analysis_id =" in q for q in reads), reads
