"""The event lane's proof: ``zonewarden events`` writes the same bytes with and without it.

For every corpus capture (those carrying Modbus/TCP, S7comm, DNP3 or EtherNet/IP are the point; the
others check that the lane leaves everything else alone) the JSON lines written with the lane (compiled
encoders for the flows they take, the Python analyzers for the rest) must equal those of the Python
analyzers alone, byte for byte, and the flow counts per protocol must be the same. The captures the
benchmark capture is made of must be (almost) all the lane's, or it is not worth having.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from zonewarden.cli.events import EventsRun, Selection, run_single
from zonewarden.pipeline import eventlane
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.eventlane import ENV_SWITCH, EventLane, attach
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.registry import ANALYZERS

from .test_fastlane_parity import BENCH_PARTS

ALL = Selection(True, frozenset())


def events_bytes(path: Path, lane: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, EventsRun]:
    out: list[bytes] = []
    with monkeypatch.context() as m:
        m.setenv(ENV_SWITCH, "1" if lane else "0")
        run = run_single([str(path)], ANALYZERS, ALL, out.append, False, lines=True)
    return b"".join(out), run


def assert_same_events(path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    python, python_run = events_bytes(path, False, monkeypatch)
    lane, lane_run = events_bytes(path, True, monkeypatch)
    if lane != python:
        a, b = python.splitlines(), lane.splitlines()
        first = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        raise AssertionError(f"{len(a)} Python lines, {len(b)} with the lane; first difference at line {first}:\n"
                             f"python: {a[first] if first < len(a) else None!r}\n"
                             f"lane:   {b[first] if first < len(b) else None!r}")
    assert lane_run.flows_by_protocol == python_run.flows_by_protocol
    assert lane_run.handed_back == python_run.handed_back
    return lane


def lane_share(path: Path) -> tuple[int, int]:
    """(events the lane wrote, events in all) for one capture."""
    python: list[object] = []
    app = AppLayer(python.append, ANALYZERS)
    lane = attach(app, [str(path)])
    assert lane is not None
    written = 0
    for _records in PacketPipeline([str(path)], consumers=[app]).flow_batches():
        written += lane.take()[0].shape[0]
    written += lane.take()[0].shape[0]
    return written, written + len(python)


def test_the_lane_writes_the_same_events(corpus_capture: str, shared_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_events(shared_dir / "corpus" / corpus_capture, monkeypatch)


# The protocols whose encoders are written so far (the others refuse every flow).
LANE_PARTS = BENCH_PARTS[:1]


@pytest.mark.parametrize("capture", LANE_PARTS)
def test_the_lane_writes_the_benchmark_flows(capture: str, shared_dir: Path) -> None:
    written, total = lane_share(shared_dir / "corpus" / capture)
    assert total > 1000
    assert written >= 0.95 * total, f"the lane wrote {written} of {total} events"


def test_small_buffers_and_tables_change_nothing(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output spilled every few payloads, the flow table regrown often: the same bytes."""
    path = shared_dir / "corpus" / BENCH_PARTS[0]
    expected = assert_same_events(path, monkeypatch)
    monkeypatch.setattr(eventlane, "MIN_ROWS", 4)
    monkeypatch.setattr(eventlane, "OUT_BYTES", (1 << 16) + 4096)
    lane, _run = events_bytes(path, True, monkeypatch)
    assert lane == expected


def test_the_switch_and_stdin_turn_the_lane_off(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(shared_dir / "corpus" / BENCH_PARTS[0])
    app = AppLayer(lambda e: None, ANALYZERS)
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert attach(app, [path]) is None
    monkeypatch.delenv(ENV_SWITCH)
    assert attach(app, ["-"]) is None
    only_mqtt = AppLayer(lambda e: None, [s for s in ANALYZERS if s.name == "mqtt"])
    assert attach(only_mqtt, [path]) is None
    assert isinstance(attach(app, [path]), EventLane)


def test_a_survey_refusal_is_kept_by_uid(shared_dir: Path) -> None:
    """The survey's verdict covers every flow uid it saw; refused flows are not the lane's in the run."""
    path = str(shared_dir / "corpus" / BENCH_PARTS[0])
    app = AppLayer(lambda e: None, ANALYZERS)
    refused = eventlane.survey([path], app.tcp_ports)
    assert refused.dtype == np.uint8
    lane = EventLane(app.tcp_ports, np.ones_like(refused))  # every flow refused: the lane writes nothing
    app.lane = lane  # type: ignore[assignment]
    for _records in PacketPipeline([path], consumers=[app]).flow_batches():
        assert lane.take()[0].shape[0] == 0
    assert lane.flows_taken() == Counter()
