"""Every packet of the built-in scenarios dissects cleanly in tshark, and the labels point at the attack.

One five-minute capture holds every scenario at its default time (and the baseline around it), so each is
checked in context: the attack's frames among the plant's normal traffic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.simulate.conftest import BROKEN, Run, tshark
from zonewarden.simulate import attacks
from zonewarden.simulate.attacks import TECHNIQUES
from zonewarden.simulate.link import BROADCAST_IP

Frame = dict[str, str]
ATTACK_ICS = Path("intel") / "attack-ics" / "ics-attack-18.1.json"  # under ../shared


def test_every_scenario_runs(attack_run: Run) -> None:
    steps = {row["scenario"] for row in attack_run.labels}
    assert steps == set(attacks.scenario_names())
    assert attack_run.result.late_frames == 0
    assert not attack_run.result.warnings


def test_no_malformed_or_expert_errors(attack_run: Run, baseline: Run) -> None:
    for run in (attack_run, baseline):
        assert tshark(run.pcap, "-Y", BROKEN) == "", f"{run.pcap.name} has broken frames"


def test_no_malformed_in_the_demo(tmp_path: Path) -> None:
    from tests.simulate.conftest import run_sim

    run = run_sim(tmp_path, "demo", "demo", 1, 120.0, suffix=".pcapng")
    assert {r["scenario"] for r in run.labels} == set(attacks.BUNDLES["demo"])
    assert tshark(run.pcap, "-Y", BROKEN) == ""


def test_label_shape_and_frame_numbers(attack_run: Run) -> None:
    total = attack_run.result.frames
    for row in attack_run.labels:
        assert set(row) >= {"scenario", "step", "ts_start", "ts_end", "attacker", "targets", "techniques", "frames"}
        assert row["frames"] == sorted(set(row["frames"])), row["step"]
        assert row["frames"][0] >= 1 and row["frames"][-1] <= total
        assert row["ts_start"] <= row["ts_end"]
        assert row["techniques"] and all(t in TECHNIQUES for t in row["techniques"])


def test_techniques_exist_in_attack_for_ics(shared_dir: Path) -> None:
    bundle = json.loads((shared_dir / ATTACK_ICS).read_text())
    names = {}
    for obj in bundle["objects"]:
        if obj.get("type") == "attack-pattern" and not obj.get("revoked") and not obj.get("x_mitre_deprecated"):
            for ref in obj.get("external_references", []):
                if ref.get("external_id", "").startswith("T0"):
                    names[ref["external_id"]] = obj["name"]
    for technique, name in TECHNIQUES.items():
        assert names.get(technique) == name, technique


def _has(field: str, *values: str) -> Callable[[Frame], bool]:
    return lambda f: any(v in f[field].split(",") for v in values)


# Per labelled step: a predicate at least one of its frames meets (what the step is about) and one every
# frame meets (nothing unrelated is labelled).
EVIDENCE: dict[tuple[str, str], tuple[Callable[[Frame], bool], Callable[[Frame], bool]]] = {
    ("recon-scan", "ping-sweep"): (_has("icmp.type", "8"), lambda f: bool(f["icmp.type"] or f["arp.opcode"])),
    ("recon-scan", "port-scan"): (_has("tcp.flags.syn", "1", "True"),
                                  lambda f: bool(f["tcp.flags.syn"] or f["arp.opcode"])),
    ("ics-enum", "cip-list-identity"): (_has("enip.command", "0x0063"), _has("enip.command", "0x0063")),
    ("ics-enum", "modbus-unit-id-sweep"): (_has("modbus.func_code", "3"), lambda f: True),
    ("ics-enum", "s7-szl-read"): (lambda f: "s7comm" in f["frame.protocols"], lambda f: True),
    ("ics-enum", "bacnet-who-is"): (_has("bacapp.unconfirmed_service", "8"), lambda f: True),
    ("s7-stop", "plc-stop"): (_has("s7comm.param.func", "0x29"), lambda f: True),
    ("s7-stop", "program-download"): (_has("s7comm.param.func", "0x1b"), lambda f: True),
    ("s7-stop", "plc-start"): (_has("s7comm.param.func", "0x28"), lambda f: True),
    ("modbus-setpoint", "setpoint-out-of-range"): (_has("modbus.func_code", "16"), lambda f: True),
    ("modbus-setpoint", "pumps-to-manual"): (_has("modbus.func_code", "5"), lambda f: True),
    ("dnp3-restart", "disable-unsolicited"): (_has("dnp3.al.func", "21"), lambda f: True),
    ("dnp3-restart", "cold-restart"): (_has("dnp3.al.func", "13"), lambda f: True),
    ("iec104-control", "breaker-open-sweep"): (_has("iec60870_asdu.typeid", "46"), lambda f: True),
    ("cip-firmware", "firmware-update"): (_has("cip.sc", "0x50"), lambda f: True),
    ("cip-firmware", "device-reset"): (_has("cip.sc", "0x05"), lambda f: True),
    ("arp-mitm", "arp-poisoning"): (_has("arp.opcode", "2"), _has("arp.opcode", "2")),
    ("arp-mitm", "relay-and-spoof"): (lambda f: bool(f["ip.src"]), lambda f: bool(f["ip.src"])),
    ("lateral-movement", "rdp-to-jump-host"): (_has("rdp.neg_type", "0x01"), lambda f: True),
    ("lateral-movement", "smb-tool-transfer"): (_has("smb2.cmd", "9"), lambda f: True),
    ("lateral-movement", "ssh-onward"): (lambda f: bool(f["ssh.protocol"]), lambda f: True),
    ("rogue-device", "dhcp-discover"): (_has("dhcp.option.dhcp", "1"), _has("dhcp.option.dhcp", "1")),
    ("rogue-device", "arp-scan"): (_has("arp.opcode", "1"), lambda f: bool(f["arp.opcode"])),
    ("rogue-device", "modbus-read"): (_has("modbus.func_code", "3"), lambda f: True),
    ("dos-flood", "syn-flood"): (_has("tcp.flags.syn", "1", "True"), lambda f: f["tcp.dstport"] == "502"
                                 or f["tcp.flags.syn"] in ("1", "True") or bool(f["arp.opcode"])
                                 or "502" in f["tcp.dstport"]),
    ("cleartext-creds", "telnet-default-login"): (lambda f: "telnet" in f["frame.protocols"], lambda f: True),
    ("cleartext-creds", "ftp-default-login"): (_has("ftp.request.command", "PASS"), lambda f: True),
    ("exfil-historian", "tls-upload"): (lambda f: ":tls" in f["frame.protocols"], lambda f: True),
}


@pytest.mark.parametrize("key", sorted(EVIDENCE), ids=["/".join(k) for k in sorted(EVIDENCE)])
def test_labelled_frames_are_the_attack(key: tuple[str, str], attack_run: Run, attack_frames: list[Frame]) -> None:
    rows = [r for r in attack_run.labels if (r["scenario"], r["step"]) == key]
    assert rows, f"no label {key}"
    some, every = EVIDENCE[key]
    for row in rows:
        frames = [attack_frames[n - 1] for n in row["frames"]]
        assert any(some(f) for f in frames), f"{key}: none of its frames shows the attack"
        bad = [f["frame.number"] for f in frames if not every(f)]
        assert not bad, f"{key}: unrelated frames labelled: {bad[:10]}"
        involved = {row["attacker"], *row["targets"], BROADCAST_IP, ""}
        for f in frames:
            if f["ip.src"] and not f["arp.opcode"]:
                # Every IP frame is to or from the attacker or a target (a router's ARP may be among them).
                assert {f["ip.src"], f["ip.dst"]} & involved or key[0] == "recon-scan", (key, f["frame.number"])


def test_every_step_has_evidence_rules(attack_run: Run) -> None:
    """A new step needs a rule above, or its labels go unchecked."""
    unchecked = {(r["scenario"], r["step"]) for r in attack_run.labels} - set(EVIDENCE)
    allowed = {("ics-enum", "s7-szl-read"), ("s7-stop", "s7-connect-mode-check"), ("modbus-setpoint",
               "register-map-read"), ("iec104-control", "startdt-interrogation"), ("cip-firmware", "cip-identity"),
               ("arp-mitm", "arp-restore"), ("lateral-movement", "rdp-to-ews"), ("rogue-device", "arp-probe-announce"),
               ("exfil-historian", "dns-lookup")}
    assert unchecked <= allowed, unchecked - allowed


def test_attacks_change_the_plant(attack_run: Run, attack_frames: list[Frame]) -> None:
    """The consequences show in normal traffic: the breakers the IEC 104 attack opened are reported to
    SCADA spontaneously (M_DP_TB_1), and the restarted DNP3 outstation reconnects with IIN restart."""
    sweep = next(r for r in attack_run.labels if r["step"] == "breaker-open-sweep")
    after = [f for f in attack_frames[sweep["frames"][0]:] if "31" in f["iec60870_asdu.typeid"].split(",")]
    assert any(f["ip.dst"] == "10.20.0.10" for f in after)
    restart = next(r for r in attack_run.labels if r["step"] == "cold-restart")
    later = [f for f in attack_frames[restart["frames"][-1]:] if f["dnp3.al.func"]]
    assert any(f["ip.src"] == "10.20.0.10" and "2" in f["dnp3.al.func"].split(",") for f in later)
