"""The simulator's contracts: same seed same bytes, bounded streaming, the truth matches what tshark
dissects for identity, and the rhythm of the plant is there (polling periods, report-by-exception, ARP)."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulate.conftest import Run, run_sim, tshark, tshark_fields
from zonewarden.simulate import engine
from zonewarden.simulate.site import load_site


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = run_sim(tmp_path, "a", "arp-mitm,dnp3-restart", 11, 40.0)
    b = run_sim(tmp_path, "b", "arp-mitm,dnp3-restart", 11, 40.0)
    c = run_sim(tmp_path, "c", "arp-mitm,dnp3-restart", 12, 40.0)
    assert _digest(a.pcap) == _digest(b.pcap)
    assert a.labels == b.labels and a.truth == b.truth
    assert _digest(a.pcap) != _digest(c.pcap)


def test_same_bytes_across_processes(tmp_path: Path) -> None:
    """Nothing depends on hash randomisation: two interpreters with different hash seeds agree."""
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}.pcap"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-m", "zonewarden.simulate", "--scenario", "all", "--duration", "30",
                        "--out", str(out), "-q"], check=True, env=env, timeout=300)
        digests.append(_digest(out))
    assert digests[0] == digests[1]


def test_pcapng_holds_the_same_frames(tmp_path: Path) -> None:
    classic = run_sim(tmp_path, "p", None, 4, 15.0)
    ng = run_sim(tmp_path, "n", None, 4, 15.0, suffix=".pcapng")
    fields = ("frame.time_epoch", "frame.len", "frame.protocols")
    assert tshark_fields(classic.pcap, fields) == tshark_fields(ng.pcap, fields)


def test_streaming_keeps_memory_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine writes as it goes: the frames waiting in memory stay a small fraction of the output."""
    peak = 0
    original = engine.Sink.release

    def watch(self: engine.Sink, before_us: int) -> list[tuple[int, int, bytes, int]]:
        nonlocal peak
        peak = max(peak, len(self))
        return original(self, before_us)

    monkeypatch.setattr(engine.Sink, "release", watch)
    result = engine.simulate(load_site(), tmp_path / "big.pcap", duration_s=40.0, rate_scale=20.0)
    assert result.frames > 30_000
    assert peak < result.frames / 20


def test_timestamps_never_go_back(attack_run: Run) -> None:
    times = [float(line) for line in tshark(attack_run.pcap, "-T", "fields", "-e", "frame.time_epoch").split()]
    assert times == sorted(times)
    start = load_site().start.timestamp()
    assert start <= times[0] and times[-1] < start + 300


def test_polling_rhythm(baseline: Run) -> None:
    """hmi-water polls plc-mb-tank every 0.5 s with a little jitter; every frame carries its VLAN tag."""
    rows = tshark_fields(baseline.pcap, ("frame.time_epoch", "vlan.id"),
                         "-Y", "ip.src==10.21.1.10 && ip.dst==10.21.1.13 && modbus.func_code==3")
    times = [float(r["frame.time_epoch"]) for r in rows]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Holding registers every poll, coils every second poll: two reads per second.
    assert 0.45 < statistics.median(gaps) < 0.55 and max(gaps) < 0.6
    assert {r["vlan.id"] for r in rows} == {"101"}


def test_report_by_exception(attack_run: Run) -> None:
    """DNP3 unsolicited responses and IEC 104 spontaneous transmissions happen between polls."""
    dnp3 = tshark(attack_run.pcap, "-Y", "dnp3.al.func == 130", "-T", "fields", "-e", "frame.number")
    iec = tshark(attack_run.pcap, "-Y", "iec60870_asdu.causetx == 3", "-T", "fields", "-e", "frame.number")
    assert dnp3.split() and iec.split()


TRUTH_FIELDS = ("ip.src", "enip.lir.name", "enip.lir.serial", "enip.lir.prodcode", "modbus.object_str_value",
                "s7comm.szl.xy11.0001.anz", "s7comm.szl.001c.0005.serialn", "s7comm.szl.001c.0007.cputypname",
                "pn_dcp.suboption_device_nameofstation", "pn_dcp.suboption_vendor_id", "pn_dcp.suboption_device_id",
                "eth.src", "dnp3.al.da.value")


@pytest.fixture(scope="module")
def identity_frames(baseline: Run) -> list[dict[str, str]]:
    filt = "enip.lir.name or modbus.object_str_value or s7comm.szl.001c.0005.serialn or s7comm.szl.xy11.0001.anz " \
           "or pn_dcp.suboption_device_nameofstation or dnp3.al.da.value"
    return tshark_fields(baseline.pcap, TRUTH_FIELDS, "-Y", filt)


def _truth(run: Run, name: str) -> dict[str, object]:
    return next(a for a in run.truth["assets"] if a["name"] == name)


def _values(frames: list[dict[str, str]], field: str, *, src: str) -> set[str]:
    return {v for f in frames if src in (f["ip.src"], f["eth.src"]) for v in f[field].split(",") if v}


@pytest.mark.parametrize("name", ["plc-ab-pack", "plc-ab-filler"])
def test_truth_matches_cip_identity(name: str, baseline: Run, identity_frames: list[dict[str, str]]) -> None:
    asset = _truth(baseline, name)
    ip = asset["ips"][0]
    assert _values(identity_frames, "enip.lir.name", src=ip) == {asset["product_name"]}
    assert {int(v, 16) for v in _values(identity_frames, "enip.lir.serial", src=ip)} == {int(str(asset["serial"]), 16)}
    assert _values(identity_frames, "enip.lir.prodcode", src=ip) == {asset["product_code"]}


@pytest.mark.parametrize("name", ["plc-mb-tank", "plc-mb-chem", "mbgw-mcc"])
def test_truth_matches_modbus_device_identification(name: str, baseline: Run,
                                                    identity_frames: list[dict[str, str]]) -> None:
    asset = _truth(baseline, name)
    values = _values(identity_frames, "modbus.object_str_value", src=asset["ips"][0])
    assert {asset["vendor"], asset["product_name"], asset["firmware"], asset["product_code"]} <= values


@pytest.mark.parametrize("name", ["plc-s7-intake", "plc-s7-filter"])
def test_truth_matches_s7_szl(name: str, baseline: Run, identity_frames: list[dict[str, str]]) -> None:
    asset = _truth(baseline, name)
    ip = asset["ips"][0]
    # The firmware record (index 7) carries a blank MlfB; the module and hardware records the order number.
    mlfb = {v.strip() for v in _values(identity_frames, "s7comm.szl.xy11.0001.anz", src=ip)} - {""}
    assert mlfb == {asset["order_number"]}
    assert _values(identity_frames, "s7comm.szl.001c.0005.serialn", src=ip) == {asset["serial"]}
    assert _values(identity_frames, "s7comm.szl.001c.0007.cputypname", src=ip) == {asset["product_name"]}


def test_truth_matches_profinet_dcp(baseline: Run, identity_frames: list[dict[str, str]]) -> None:
    for name in ("plc-s7-intake", "et200sp-intake"):
        asset = _truth(baseline, name)
        mac = asset["macs"][0]
        ident = asset["identity"]["profinet_dcp"]
        assert _values(identity_frames, "pn_dcp.suboption_device_nameofstation", src=mac) == {ident["name_of_station"]}
        assert {int(v, 16) for v in _values(identity_frames, "pn_dcp.suboption_device_id", src=mac)} == {
            ident["device_id"]}


def test_truth_matches_dnp3_device_attributes(baseline: Run, identity_frames: list[dict[str, str]]) -> None:
    asset = _truth(baseline, "rtu-feeder-1")
    values = _values(identity_frames, "dnp3.al.da.value", src=asset["ips"][0])
    assert {asset["vendor"], asset["product_name"], asset["firmware"], asset["serial"]} <= values


def test_truth_matches_bacnet_device_properties(baseline: Run) -> None:
    text = tshark(baseline.pcap, "-Y", "bacapp.type == 3", "-V", "-O", "bacapp")
    for name in ("bac-ahu-1", "bac-vav-2", "bac-boiler-3"):
        asset = _truth(baseline, name)
        for prop, attribute in (("vendor-name", "vendor"), ("model-name", "product_name"),
                                ("firmware-revision", "firmware")):
            assert re.search(rf"{prop}: UTF-8 '{re.escape(str(asset[attribute]))}'", text), (name, prop)


def test_truth_lists_every_device_and_poll(baseline: Run) -> None:
    site = load_site()
    assert {a["name"] for a in baseline.truth["assets"]} == set(site.devices)
    polls = {(d.name, p.server) for d in site.devices.values() for p in d.polls}
    assert polls <= {(e["client"], e["server"]) for e in baseline.truth["edges"]}
    for asset in baseline.truth["assets"]:
        assert asset["role"] and asset["zone"] and (asset["macs"] or asset["zone"] == "internet")
