"""The fast lane's proof: ``analyze`` with and without it builds the same inventory.

For every corpus capture (those carrying Modbus/TCP, S7comm, DNP3 or EtherNet/IP are the point; the
others check that the lane leaves everything else alone) and for a simulated plant with every attack
scenario, the assets (every attribute and its evidence) and the edges (messages, operation counts,
flows, first/last seen) must be identical, and so must the number of messages per protocol.

The one listed difference: anomaly events that depend on matching answers to requests (Modbus/ENIP/S7
``unmatched_response``, ``duplicate_transaction``/``duplicate_request``, ``too_many_outstanding``,
``function_mismatch``) are not raised for the messages the lane counts, because the kernel keeps no
table of outstanding requests; where a flow goes to the Python path part-way, its analyzer may report a
few answers to requests it never saw. They are events, not inventory, so only ``events_by_protocol``
(the summary's event counts) differs, by those anomalies.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from zonewarden.inventory.builder import InventoryBuilder
from zonewarden.pipeline.analysis import analyze
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.fastlane import ENV_SWITCH
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.simulate import attacks
from zonewarden.simulate.engine import simulate
from zonewarden.simulate.site import load_site
from zonewarden.store.db import Store

# The captures the benchmark capture is made of: the lane must carry (almost) all their messages.
BENCH_PARTS = ("modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap",
               "s7comm/controlthings-ct-samples/Plant1_S7comm.pcap",
               "dnp3/emreekin-ics-pcaps/dnp3dataset_capture.pcap",
               "enip-cip/iti-ics-security-tools/EthernetIP-CIP.pcap")


class Outcome:
    def __init__(self, path: Path, lane: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.python_messages: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()
        original = InventoryBuilder.on_event

        def counting(builder: InventoryBuilder, e: Any) -> None:
            (self.python_messages if e.kind == "message" else self.anomalies)[e.proto] += 1
            original(builder, e)

        with monkeypatch.context() as m:
            m.setattr(InventoryBuilder, "on_event", counting)
            result = analyze([str(path)], Store(":memory:"), fastlane=lane, on_pipeline=self._keep)
        self.assets = sorted((a.as_dict() for a in result.assets), key=lambda a: a["asset_id"])
        self.edges = sorted(result.edges, key=lambda e: (e["client"], e["server"], e["proto"]))
        self.messages = Counter(result.events_by_protocol) - self.anomalies

    def _keep(self, pipeline: PacketPipeline) -> None:
        self.pipeline = pipeline


def assert_same_inventory(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Outcome, Outcome]:
    python, lane = Outcome(path, False, monkeypatch), Outcome(path, True, monkeypatch)
    assert lane.assets == python.assets
    assert lane.edges == python.edges
    assert lane.messages == python.messages
    return python, lane


def test_the_lane_builds_the_same_inventory(corpus_capture: str, shared_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_inventory(shared_dir / "corpus" / corpus_capture, monkeypatch)


@pytest.mark.parametrize("capture", BENCH_PARTS)
def test_the_lane_carries_the_plant_captures(capture: str, shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python, lane = assert_same_inventory(shared_dir / "corpus" / capture, monkeypatch)
    total = sum(python.messages.values())
    assert sum(lane.python_messages.values()) < 0.02 * total  # the rest: flows with garbage or captures holes


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two minutes of the reference site with every attack scenario."""
    pcap = tmp_path_factory.mktemp("plant") / "plant.pcap"
    simulate(load_site(), pcap, scenarios=attacks.expand("all"), seed=5, duration_s=120.0)
    return pcap


def test_the_lane_builds_the_same_inventory_of_a_simulated_plant(plant: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python, lane = assert_same_inventory(plant, monkeypatch)
    mine = ("modbus", "s7comm", "dnp3", "enip")
    assert sum(lane.python_messages[p] for p in mine) < 0.05 * sum(python.messages[p] for p in mine)


@pytest.mark.parametrize("capture", ["plant", BENCH_PARTS[2]])
def test_the_lane_grows_its_tables_and_empties_its_outputs_midway(capture: str, plant: Path, shared_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """From the smallest sizes: the flow table and the arena grow, the hand-off outputs fill up, mid-batch."""
    from zonewarden.pipeline import fastlane
    from zonewarden.pipeline.fastlane_kernel import MAX_RUNS_PER_PACKET
    from zonewarden.pipeline.fastlane_layout import ARENA_BYTES

    monkeypatch.setattr(fastlane, "MIN_ROWS", 4)
    monkeypatch.setattr(fastlane, "MIN_SLOTS", 1)
    monkeypatch.setattr(fastlane, "RUNS_CAPACITY", MAX_RUNS_PER_PACKET + 3)
    monkeypatch.setattr(fastlane, "BYTES_CAPACITY", 3 * ARENA_BYTES + 1)
    assert_same_inventory(plant if capture == "plant" else shared_dir / "corpus" / capture, monkeypatch)


def test_the_switch_turns_the_lane_off(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipelines: list[PacketPipeline] = []
    path = str(shared_dir / "corpus" / BENCH_PARTS[0])
    monkeypatch.setenv(ENV_SWITCH, "0")
    analyze([path], Store(":memory:"), on_pipeline=pipelines.append)
    monkeypatch.delenv(ENV_SWITCH)
    analyze([path], Store(":memory:"), on_pipeline=pipelines.append)
    apps = [next(c for c in p.consumers if isinstance(c, AppLayer)) for p in pipelines]
    assert apps[0].lane is None
    assert apps[1].lane is not None and apps[1].lane.consumed > 0
