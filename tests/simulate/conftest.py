"""Simulated captures shared by the simulator tests: made once per session, read by tshark once each."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zonewarden.simulate import attacks
from zonewarden.simulate.engine import Result, simulate
from zonewarden.simulate.site import load_site

BASELINE_SEED, ATTACK_SEED = 3, 5
BASELINE_S, ATTACK_S = 60.0, 300.0
# Display filter for what "dissects cleanly" forbids.
BROKEN = "_ws.malformed or _ws.expert.severity == error"


@dataclass
class Run:
    pcap: Path
    labels: list[dict[str, Any]]
    truth: dict[str, Any]
    result: Result


def run_sim(directory: Path, name: str, scenario: str | None, seed: int, duration: float,
            suffix: str = ".pcap") -> Run:
    pcap = directory / f"{name}{suffix}"
    labels, truth = directory / f"{name}.labels.jsonl", directory / f"{name}.truth.json"
    specs = attacks.expand(scenario) if scenario else []
    result = simulate(load_site(), pcap, scenarios=specs, seed=seed, duration_s=duration, labels_path=labels,
                      truth_path=truth)
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    return Run(pcap, rows, json.loads(truth.read_text()), result)


def tshark(path: Path, *args: str) -> str:
    cmd = ["tshark", "-n", "-r", str(path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout


def tshark_fields(path: Path, fields: Sequence[str], *args: str) -> list[dict[str, str]]:
    """One dict per frame (in frame order); repeated values comma-joined, absent ones ''."""
    cmd = [*args, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in fields:
        cmd += ["-e", name]
    out = tshark(path, *cmd)
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The reference site without attacks: one minute from the start (every session opens in it)."""
    return run_sim(tmp_path_factory.mktemp("sim"), "baseline", None, BASELINE_SEED, BASELINE_S)


@pytest.fixture(scope="session")
def attack_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every scenario at its default time in five minutes of plant traffic."""
    return run_sim(tmp_path_factory.mktemp("sim"), "all", "all", ATTACK_SEED, ATTACK_S)


ATTACK_FIELDS = ("frame.number", "eth.src", "ip.src", "ip.dst", "arp.opcode", "arp.src.hw_mac", "tcp.flags.syn",
                 "tcp.dstport", "icmp.type", "s7comm.param.func", "modbus.func_code", "dnp3.al.func",
                 "iec60870_asdu.typeid", "cip.sc", "enip.command", "bacapp.unconfirmed_service", "dhcp.option.dhcp",
                 "telnet.data", "ftp.request.command", "rdp.neg_type", "smb2.cmd",
                 "ssh.protocol", "frame.protocols", "_ws.malformed", "_ws.expert.severity")


@pytest.fixture(scope="session")
def attack_frames(attack_run: Run) -> list[dict[str, str]]:
    return tshark_fields(attack_run.pcap, ATTACK_FIELDS)
