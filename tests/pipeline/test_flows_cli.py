"""``zonewarden flows``: JSONL records, table, summary, options, exit status (in process, through click), and the
same output from the ahead-of-time and just-in-time compiled kernels (subprocesses, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.strategies import NS, T0_NS, eth, v4
from zonewarden.cli import flows as flows_cli
from zonewarden.cli.main import cli
from zonewarden.flow.records import FLOW_FIELDS
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

ZONEWARDEN = [sys.executable, "-m", "zonewarden"]
CLIENT, SERVER = v4(1), v4(2)
# Corpus captures for the JIT/AOT comparison: Ethernet with VLANs, IPv6 fragments, Linux SLL, BSD NULL,
# malformed packets, many flows.
JIT_SAMPLE = [
    "bsap/malcolm-pcap/malcolm-BSAP-merged.pcap",
    "encapsulation/zeek/vlan-qinqinq.pcap",
    "encapsulation/zeek/ipv6-fragmented-dns.pcap",
    "c1222/cisagov-icsnpp-c1222/c1222_over_ipv6.pcap",
    "dnp3/iti-ics-security-tools/opendnp3-conformance-6.1.2.pcap",
    "robustness/ndpi/badpackets.pcap",
    "robustness/ndpi/ip_fragmented_garbage.pcap",
    "modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap",
]


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZONEWARDEN, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


def invoke(args: list[str]) -> subprocess.CompletedProcess[str]:
    """The command in this process (click's runner), shaped like a subprocess result."""
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def session_pcap(tmp_path: Path) -> Path:
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, 1000, 5000)
    packets = c.handshake() + c.send(True, b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a")
    packets += c.send(False, b"\x00\x01\x00\x00\x00\x17\x01\x03\x14" + bytes(20)) + c.close()
    frames = [(T0_NS + i * 1_000_000, eth(p)) for i, p in enumerate(packets)]
    frames.append((T0_NS + 5 * NS, eth(f.ipv4(CLIENT, v4(3), f.IPPROTO_UDP, f.udp(CLIENT, v4(3), 5353, 53, b"q")),
                                       [(f.ETH_P_8021Q, 12)])))
    path = tmp_path / "session.pcap"
    write_pcap(path, frames, nanosecond=True)
    return path


def test_jsonl_records_are_the_contract(session_pcap: Path) -> None:
    done = invoke(["flows", str(session_pcap), "-q"])
    assert done.returncode == 0
    assert done.stderr == ""
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [tuple(r) for r in rows] == [FLOW_FIELDS, FLOW_FIELDS]
    tcp = next(r for r in rows if r["proto"] == "tcp")
    flow_id = tcp.pop("flow_id")
    assert flow_id.startswith("C") and len(flow_id) == 17
    assert tcp == {
        "ts_start": T0_NS / 1e9, "ts_end": (T0_NS + 7_000_000) / 1e9, "proto": "tcp", "src": CLIENT, "sport": 40000,
        "dst": SERVER, "dport": 502, "vlan": None, "vlan_inner": None, "packets_orig": 5, "packets_resp": 3,
        # SYN and SYN-ACK carry an MSS option (4 bytes); the others are 54-byte frames plus payload.
        "bytes_orig": 58 + 54 + (54 + 12) + 54 + 54, "bytes_resp": 58 + (54 + 29) + 54,
        "payload_orig": 12, "payload_resp": 29,
        "state": "SF", "history": "ShADdFf", "end_reason": "active",
    }
    udp = next(r for r in rows if r["proto"] == "udp")
    assert (udp["src"], udp["dst"], udp["vlan"], udp["state"], udp["history"]) == (CLIENT, v4(3), 12, "S0", "D")


def test_table_format_lists_every_flow_in_time_order(session_pcap: Path) -> None:
    done = invoke(["flows", str(session_pcap), "--format", "table", "-q"])
    assert done.returncode == 0
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    assert lines[0][:3] == ["ts_start", "proto", "src"]
    assert [(row[2], row[3]) for row in lines[1:]] == [("tcp", CLIENT), ("udp", CLIENT)]
    assert lines[1][:2] == ["2026-01-05", "06:00:00.123"]


def test_summary_goes_to_stderr(session_pcap: Path) -> None:
    done = invoke(["flows", str(session_pcap)])
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    wire = session_pcap.stat().st_size - 24 - 9 * 16
    assert lines[0] == f"1 file(s), 9 frames, {wire} wire bytes, 2 flows"
    assert lines[1] == "link types: ethernet 9"
    assert lines[2] == "network: ipv4 9"
    assert lines[3] == "decode errors: none"


def test_idle_option_splits_flows(session_pcap: Path) -> None:
    path = session_pcap.parent / "udp.pcap"
    write_pcap(path, [(T0_NS + i * 10 * NS, eth(f.ipv4(CLIENT, SERVER, 17, f.udp(CLIENT, SERVER, 1, 2, b""))))
                      for i in range(3)])
    default = invoke(["flows", str(path), "-q"])
    short = invoke(["flows", str(path), "-q", "--udp-idle", "5"])
    assert len(default.stdout.splitlines()) == 1
    assert len(short.stdout.splitlines()) == 3


@pytest.mark.parametrize("args", [["--max-flows", "10"], ["--udp-idle", "0"], ["--format", "xml"], []],
                         ids=["max-flows-too-small", "idle-zero", "unknown-format", "no-capture"])
def test_usage_errors_exit_2(session_pcap: Path, args: list[str]) -> None:
    done = invoke(["flows", *([str(session_pcap)] if args else []), *args])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_jsonl_is_written_in_slices_with_the_same_lines(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The end of a capture may finish a flood's flows at once: their text is made a slice at a time.
    captures = [str(corpus_dir / rel) for rel in JIT_SAMPLE]
    whole = invoke(["flows", *captures, "-q"])
    written: list[int] = []
    pieces = flows_cli.flow_jsonl_pieces
    monkeypatch.setattr(flows_cli, "JSONL_SLICE", 7)
    monkeypatch.setattr(flows_cli, "flow_jsonl_pieces", lambda records: written.append(len(records)) or pieces(records))
    sliced = invoke(["flows", *captures, "-q"])
    assert sliced.stdout == whole.stdout and sliced.returncode == whole.returncode
    assert max(written) == 7 and sum(written) == whole.stdout.count("\n") > 30


def test_jit_and_aot_kernels_give_identical_flows(corpus_dir: Path) -> None:
    captures = [str(corpus_dir / rel) for rel in JIT_SAMPLE]
    probe = [sys.executable, "-c", "import zonewarden.kernels as k; print(k.MODE)"]
    jit_env = {**os.environ, "ZONEWARDEN_JIT": "1"}
    modes = (subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip(),
             subprocess.run(probe, capture_output=True, text=True, check=True, env=jit_env).stdout.strip())
    assert modes == ("aot", "jit")
    aot = run(["flows", *captures, "-q"])
    # The JIT run compiles the kernels first when numba's cache is cold.
    jit = run(["flows", *captures, "-q"], env=jit_env, timeout=600)
    assert aot.returncode == jit.returncode
    assert aot.stdout.count("\n") > 30
    assert jit.stdout == aot.stdout


@pytest.mark.parametrize("module", ["zonewarden.kernels", "zonewarden.decode.packets", "zonewarden.flow.table",
                                    "zonewarden.flow.records"])
def test_kernel_users_import_first_in_jit_mode(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ZONEWARDEN_JIT": "1"}, check=False)
    assert done.returncode == 0, done.stderr.splitlines()[-1]


def test_kernels_built_from_other_sources_are_said_to_be_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from zonewarden import kernels

    monkeypatch.delenv("ZONEWARDEN_JIT", raising=False)
    monkeypatch.setattr(kernels, "_HERE", tmp_path)
    monkeypatch.setattr(kernels, "sources_digest", lambda: "crc32:12345678")
    (tmp_path / kernels.HASH_FILE).write_text("crc32:12345678\n")
    kernels._load_aot()  # built from these sources: nothing to say
    assert capsys.readouterr().err == ""
    (tmp_path / kernels.HASH_FILE).write_text("crc32:00000000\n")
    assert kernels._load_aot() is None  # not used...
    assert "run `make setup`" in capsys.readouterr().err  # ...and said so
