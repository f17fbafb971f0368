"""The site file and the command line: mistakes end in one clear line (exit 2), the reference site is
valid and complete, and the documented invocations work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from zonewarden.cli.simulate import simulate
from zonewarden.errors import ConfigError
from zonewarden.simulate import attacks
from zonewarden.simulate.site import ROLES, default_site_text, load_site, parse_site


def _site() -> dict[str, Any]:
    data = yaml.safe_load(default_site_text())
    assert isinstance(data, dict)
    return data


def _device(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in data["devices"] if d["name"] == name)


def test_reference_site_covers_the_purdue_layers() -> None:
    site = load_site()
    zones = {d.zone for d in site.devices.values()}
    assert {"enterprise", "it-ot-dmz", "site-operations", "supervisory", "cell-water", "substation"} <= zones
    served = {p for d in site.devices.values() for p in d.protocols}
    assert {"modbus", "s7comm", "enip", "dnp3", "iec104", "bacnet", "profinet_dcp", "opcua", "mqtt"} <= served
    assert {d.role for d in site.devices.values()} <= set(ROLES)
    for d in site.devices.values():
        assert d.mac or site.networks[d.network].external, d.name


def _broken(change: Any) -> str:
    data = _site()
    change(data)
    with pytest.raises(ConfigError) as err:
        parse_site(data, "site.yaml")
    return str(err.value)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: _device(d, "plc-mb-tank").update(ip="10.99.0.1"), "ip 10.99.0.1 is not in network cell-water"),
    (lambda d: _device(d, "plc-mb-tank").update(mac="00:80:f4:0c:31"), "bad mac address"),
    (lambda d: _device(d, "plc-mb-tank").update(role="robot"), "unknown role 'robot'"),
    (lambda d: _device(d, "plc-mb-tank").update(purdue_level=7), "'purdue_level' must be one of"),
    (lambda d: _device(d, "plc-mb-tank").update(ip="10.21.1.14"),
     "device plc-mb-chem: ip 10.21.1.14 already used by plc-mb-tank"),
    (lambda d: _device(d, "hmi-water")["polls"].append({"server": "nope", "proto": "modbus", "period": 1}),
     "polls unknown server 'nope'"),
    (lambda d: _device(d, "hmi-water")["polls"].append({"server": "dc-01", "proto": "modbus", "period": 1}),
     "which does not serve it"),
    (lambda d: _device(d, "hmi-water")["polls"].append({"server": "dc-01", "proto": "gopher", "period": 1}),
     "unknown proto 'gopher'"),
    (lambda d: d["networks"][0].update(vlan=5000), "vlan must be 1-4094"),
    (lambda d: d.update(colour="blue"), "unknown key(s) colour"),
    (lambda d: d["devices"].pop(0), "no device has the gateway address"),
    (lambda d: _device(d, "plc-mb-tank").update(process="reactor"), "unknown process 'reactor'"),
], ids=["ip-outside-subnet", "bad-mac", "unknown-role", "bad-level", "duplicate-ip", "unknown-server",
        "server-not-serving", "unknown-proto", "bad-vlan", "unknown-key", "missing-gateway", "unknown-process"])
def test_site_mistakes_are_explained(change: Any, message: str) -> None:
    text = _broken(change)
    assert text.startswith("site.yaml: ") and message in text and "\n" not in text


def _run(*args: str) -> Any:
    return CliRunner().invoke(simulate, list(args))


def test_cli_usage_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("networks: [\n")
    for args, text in (([], "--out is required"), (["--site", str(bad), "--out", str(tmp_path / "x.pcap")],
                                                    "is not valid YAML"),
                       (["--scenario", "nonsense", "--out", str(tmp_path / "x.pcap")], "unknown scenario 'nonsense'"),
                       (["--duration", "0", "--out", str(tmp_path / "x.pcap")], "--duration must be positive"),
                       (["--out", str(tmp_path / "missing" / "x.pcap")], "cannot write")):
        result = _run(*args)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and text in result.output


def test_cli_writes_capture_labels_and_truth(tmp_path: Path) -> None:
    out, labels, truth = tmp_path / "p.pcapng", tmp_path / "l.jsonl", tmp_path / "t.json"
    result = _run("--scenario", "dnp3-restart", "--duration", "30", "--seed", "2", "--out", str(out),
                  "--labels", str(labels), "--truth", str(truth))
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    steps = [json.loads(line)["step"] for line in labels.read_text().splitlines()]
    assert steps == ["disable-unsolicited", "cold-restart"]
    assert len(json.loads(truth.read_text())["assets"]) == len(load_site().devices)


def test_cli_lists_scenarios_and_prints_the_site() -> None:
    listing = _run("--list-scenarios").output
    for name in [*attacks.scenario_names(), "demo", "all", "baseline"]:
        assert name in listing
    assert yaml.safe_load(_run("--print-site").output) == _site()


def test_attacks_in_the_site_file(tmp_path: Path) -> None:
    data = _site()
    data["attacks"] = [{"scenario": "modbus-setpoint", "at": 3, "attacker": "ews-1"},
                       {"scenario": "dos-flood", "at": 8, "rate": 300, "duration": 1}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    labels = tmp_path / "l.jsonl"
    assert _run("--site", str(path), "--duration", "20", "--out", str(tmp_path / "p.pcap"), "--labels",
                str(labels)).exit_code == 0
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert rows[0]["attacker"] == "10.30.0.20" and rows[0]["ts_start"] - load_site().start.timestamp() >= 3
    assert len(next(r for r in rows if r["step"] == "syn-flood")["frames"]) >= 300
    data["attacks"] = [{"scenario": "modbus-setpoint", "attacker": "nobody"}]
    path.write_text(yaml.safe_dump(data))
    result = _run("--site", str(path), "--out", str(tmp_path / "p.pcap"))
    assert result.exit_code == 2 and "no device named 'nobody'" in result.output


def test_python_dash_m(tmp_path: Path) -> None:
    out = tmp_path / "m.pcap"
    done = subprocess.run([sys.executable, "-m", "zonewarden.simulate", "--duration", "5", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and out.stat().st_size > 1000 and "frames" in done.stderr
