"""``zonewarden events --workers N``: the flows shared between processes, the output byte for byte as with one.

The contract: stdout, stderr and the exit status are those of ``--workers 1`` for any capture, and when
the workers cannot show that (a reassembly budget that might have bitten, two workers with events of one
frame) a single process takes over from that flush on, writing what the workers had not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from zonewarden.cli import events_shards
from zonewarden.cli.events import PARALLEL_MIN_BYTES, _workers
from zonewarden.cli.main import cli
from zonewarden.flow.table import FlowAttribution
from zonewarden.pipeline.app_layer import AppLayer, Shard
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.registry import ANALYZERS
from zonewarden.simulate import attacks
from zonewarden.simulate.engine import simulate
from zonewarden.simulate.site import load_site

# Captures whose events cover the analyzers and the framing paths: every ICS protocol, reassembly across
# segments, DNP3 over UDP, layer-2 PROFINET DCP, IP fragments and damaged captures.
CORPUS = ("modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap", "s7comm/controlthings-ct-samples/Plant1_S7comm.pcap",
          "dnp3/emreekin-ics-pcaps/dnp3dataset_capture.pcap", "enip-cip/iti-ics-security-tools/EthernetIP-CIP.pcap",
          "bacnet/cisagov-icsnpp-bacnet/bacnet_services.pcap", "profinet/iti-ics-security-tools/PROFINET-RT.pcap",
          "encapsulation/zeek/ipv6-fragmented-dns.pcap", "robustness/ndpi/ip_fragmented_garbage.pcap",
          "robustness/ndpi/fuzz-2021-10-13.pcap")


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "zonewarden", "events", *args], capture_output=True, check=False)


def assert_same(one: Any, many: Any) -> None:
    assert many.returncode == one.returncode
    assert many.stderr == one.stderr
    assert many.stdout == one.stdout


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated plant running every attack scenario: all the industrial protocols, many flows ending."""
    pcap = tmp_path_factory.mktemp("plant") / "plant.pcap"
    simulate(load_site(), pcap, scenarios=attacks.expand("all"), seed=7, duration_s=60.0)
    return pcap


@pytest.mark.parametrize("workers", ["2", "3"])
def test_workers_print_what_one_process_prints(plant: Path, workers: str) -> None:
    one = run(str(plant), "--workers", "1")
    assert one.returncode == 0 and one.stdout.count(b"\n") > 1000
    assert_same(one, run(str(plant), "--workers", workers))


@pytest.mark.parametrize("capture", CORPUS)
def test_workers_on_corpus_captures(capture: str, corpus_dir: Path) -> None:
    path = str(corpus_dir / capture)
    assert_same(run(path, "--workers", "1"), run(path, "--workers", "3"))


def test_workers_with_selections(plant: Path) -> None:
    for args in (["--protocol", "modbus", "--protocol", "s7comm"], ["--no-anomalies"], ["-q"]):
        assert_same(run(str(plant), *args, "--workers", "1"), run(str(plant), *args, "--workers", "2"))


def test_a_missing_capture_is_the_same_clean_error() -> None:
    one, many = run("/nonexistent/x.pcap", "--workers", "1"), run("/nonexistent/x.pcap", "--workers", "2")
    assert_same(one, many)
    assert many.stderr.decode().strip() == "error: /nonexistent/x.pcap: no such file or directory"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["events", *args], catch_exceptions=False)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_single_process_takes_over_where_the_workers_cannot_vouch(plant: Path, where: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An ambiguous merge (or a budget that may have bitten) at flush k: the flushes before k come from the
    workers, the rest from a single process that replays the capture without writing them again."""
    expected = invoke(str(plant), "--workers", "1")
    merges = 0
    give_up_at = -1
    original = events_shards.merge

    def merge(parts: list[Any], **how: Any) -> Any:
        nonlocal merges
        merges += 1
        return None if merges == give_up_at + 1 else original(parts, **how)

    monkeypatch.setattr(events_shards, "merge", merge)
    invoke(str(plant), "--workers", "2")
    flushes, merges = merges, 0
    assert flushes >= 3
    give_up_at = {"first": 0, "middle": flushes // 2, "last": flushes - 1}[where]
    taken_over = invoke(str(plant), "--workers", "2")
    assert merges == give_up_at + 1
    assert taken_over.stdout_bytes == expected.stdout_bytes
    assert taken_over.stderr_bytes == expected.stderr_bytes


def test_budget_pressure_hands_over_to_a_single_process(plant: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = invoke(str(plant), "-q", "--workers", "1")
    calls: list[int] = []
    original = events_shards.merge
    monkeypatch.setattr(events_shards, "budget_capacity", lambda: -1)  # any flush's peaks exceed it
    monkeypatch.setattr(events_shards, "merge", lambda parts, **how: calls.append(1) or original(parts, **how))
    result = invoke(str(plant), "-q", "--workers", "2")
    assert result.stdout_bytes == expected.stdout_bytes
    assert len(calls) == 1  # the first flush already went to the single process


def test_a_failing_worker_is_reported(plant: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: AppLayer, *args: Any) -> None:
        raise ValueError("analyzer bug")

    monkeypatch.setattr(AppLayer, "packets", broken)  # inherited by the forked workers
    result = CliRunner().invoke(cli, ["events", str(plant), "--workers", "2"])
    assert isinstance(result.exception, RuntimeError)
    assert "ValueError: analyzer bug" in str(result.exception)


def part(frames: list[int], tag: str) -> Any:
    lines = [f'{{"frame":{f},"w":"{tag}{i}"}}\n'.encode() for i, f in enumerate(frames)]
    ends = np.cumsum([len(x) for x in lines]).astype(np.int64)
    return events_shards._Flush(0, 0, np.array(frames, np.int64), ends, b"".join(lines))


def test_merge_interleaves_by_frame_and_keeps_each_workers_order() -> None:
    merged = events_shards.merge([part([1, 4, 4, 9], "a"), part([], "b"), part([2, 3, 10], "c")])
    assert merged is not None
    assert [line.split(b'"w":')[1] for line in bytes(merged).splitlines()] == [
        b'"a0"}', b'"c0"}', b'"c1"}', b'"a1"}', b'"a2"}', b'"a3"}', b'"c2"}']


def test_merge_puts_a_part_out_of_frame_order_in_order() -> None:
    """Lines whose frames go back (reassembled fragments completing late) come out by frame, ties in order."""
    merged = events_shards.merge_lines([part([3, 7, 2, 7, 5], "a")])
    assert merged is not None
    frames, ends, data = merged
    assert frames.tolist() == [2, 3, 5, 7, 7]
    lines = bytes(data).splitlines(keepends=True)
    assert [line.split(b'"w":')[1] for line in lines] == [b'"a2"}\n', b'"a0"}\n', b'"a4"}\n', b'"a1"}\n',
                                                           b'"a3"}\n']
    assert ends.tolist() == np.cumsum([len(line) for line in lines]).tolist()
    assert events_shards.merge_lines([part([1, 1, 2], "b")])[2] == part([1, 1, 2], "b").data  # in order: as is


def test_merge_refuses_a_frame_two_workers_have() -> None:
    assert events_shards.merge([part([1, 5], "a"), part([5, 6], "b")]) is None
    assert events_shards.merge([part([1, 5], "a")]) == part([1, 5], "a").data
    assert events_shards.merge([part([], "a")]) == b""


def test_every_flow_goes_to_exactly_one_shard(corpus_dir: Path) -> None:
    capture = str(corpus_dir / CORPUS[0])

    def flows(shard: Shard | None) -> set[str]:
        seen: list[Any] = []
        pipeline = PacketPipeline([capture], consumers=[AppLayer(seen.append, ANALYZERS, shard=shard)])
        for _ in pipeline.flow_batches():
            pass
        return {e.flow_id for e in seen}

    shares = [flows(Shard(i, 3)) for i in range(3)]
    assert all(shares) and not (shares[0] & shares[1] or shares[0] & shares[2] or shares[1] & shares[2])
    assert shares[0] | shares[1] | shares[2] == flows(None)


def test_shard_marks_other_flows_as_no_flow() -> None:
    attribution = FlowAttribution(np.array([0, 1, -1, 3], np.int64), np.zeros(4, np.uint8),
                                  np.array([10, 11, 12, 13], np.uint64))
    assert Shard(0, 2).flows(attribution).uid.tolist() == [0, -1, -1, -1]
    assert Shard(1, 2).flows(attribution).uid.tolist() == [-1, 1, -1, 3]


def test_one_process_where_workers_cannot_help(tmp_path: Path) -> None:
    small = tmp_path / "small.pcap"
    small.write_bytes(b"\0" * 100)
    big = tmp_path / "big.pcap"
    with big.open("wb") as f:
        f.truncate(PARALLEL_MIN_BYTES)
    assert _workers(None, [str(small)], "jsonl") == 1
    assert _workers(3, [str(small)], "jsonl") == 3  # asked for
    assert _workers(3, [str(big)], "table") == 1
    assert _workers(3, ["-"], "jsonl") == 1
    assert 1 <= _workers(None, [str(big)], "jsonl") <= 4
