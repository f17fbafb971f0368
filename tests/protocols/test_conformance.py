"""The shared contract every registered analyzer must meet (STYLE principle 8).

Discovered from the registry, so a new protocol is exercised without anyone adding it here.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zonewarden.errors import DecodeError
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import (
    AnalyzerSpec,
    DatagramAnalyzer,
    FlowContext,
    FrameAnalyzer,
    StreamAnalyzer,
)
from zonewarden.protocols.registry import ANALYZERS

ROOT = Path(__file__).resolve().parents[2]
SPECS = {spec.name: spec for spec in ANALYZERS}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutations(spec: AnalyzerSpec) -> st.SearchStrategy[bytes]:
    """Random bytes, and real samples with flipped bytes, cut short or with garbage appended."""
    randoms = st.binary(max_size=600)
    if not spec.samples:
        return randoms

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(spec.samples)))
        for _ in range(draw(st.integers(0, 4))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
        return bytes(data) + draw(st.binary(max_size=16))

    return st.one_of(randoms, mutate())


def _check_events(spec: AnalyzerSpec, events: list[Event]) -> None:
    allowed = (*spec.events, AnomalyEvent)
    for e in events:
        assert isinstance(e, allowed), f"{spec.name} emitted {type(e).__name__}"
        assert e.proto in spec.event_protos
        round_trip = msgspec.json.decode(msgspec.json.encode(e), type=type(e))
        assert round_trip == e


def test_at_least_the_required_protocols_are_registered() -> None:
    assert "modbus" in SPECS


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_is_complete(name: str) -> None:
    spec = SPECS[name]
    assert spec.events, "an analyzer documents the events it emits"
    assert spec.wire_parse is not None, "the pure parser entry point is needed for fuzzing"
    assert spec.samples, "real sample payloads seed the mutation fuzzing"
    assert spec.ports or spec.ethertypes or spec.probe, "the dispatcher needs a way to find the protocol"
    for cls in spec.events:
        for f in msgspec.structs.fields(cls):
            assert SNAKE.match(f.name), f"{cls.__name__}.{f.name} is not snake_case"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_wire_parser_raises_only_decode_errors(name: str) -> None:
    spec = SPECS[name]
    assert spec.wire_parse is not None
    parse = spec.wire_parse

    @FUZZ
    @given(_mutations(spec))
    def run(data: bytes) -> None:
        with contextlib.suppress(DecodeError):
            parse(data)

    run()


FACTORIES = sorted([(name, "factory") for name in SPECS]
                   + [(name, "datagram_factory") for name, s in SPECS.items() if s.datagram_factory is not None])


@pytest.mark.parametrize(("name", "which"), FACTORIES)
def test_analyzer_never_raises_and_emits_documented_events(name: str, which: str) -> None:
    spec = SPECS[name]
    factory = getattr(spec, which)

    @FUZZ
    @given(st.lists(st.tuples(st.integers(0, 1), _mutations(spec), st.integers(0, 3)), max_size=12))
    def run(parts: list[tuple[int, bytes, int]]) -> None:
        events: list[Event] = []
        ctx = FlowContext("Cfuzz", "10.0.0.1", "10.0.0.2", 40000, min(spec.ports, default=0) or None)
        analyzer = factory(ctx, events.append)
        for n, (direction, data, gap) in enumerate(parts, start=1):
            if isinstance(analyzer, StreamAnalyzer):
                if gap == 3:
                    analyzer.gap(direction, len(data) + 1, n, n)
                else:
                    analyzer.data(direction, data, n, n)
            elif isinstance(analyzer, DatagramAnalyzer):
                analyzer.datagram(direction, data, n, n)
            elif isinstance(analyzer, FrameAnalyzer):
                analyzer.frame("00:00:00:00:00:01", "00:00:00:00:00:02", data, n, n)
        analyzer.end()
        _check_events(spec, events)

    run()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_samples_parse_into_messages(name: str) -> None:
    spec = SPECS[name]
    events: list[Event] = []
    analyzer = spec.factory(FlowContext("Csample", "10.0.0.1", "10.0.0.2", 40000, None), events.append)
    for n, sample in enumerate(spec.samples, start=1):
        if isinstance(analyzer, StreamAnalyzer):
            analyzer.data(0, sample, n, n)
        elif isinstance(analyzer, DatagramAnalyzer):
            analyzer.datagram(0, sample, n, n)
        elif isinstance(analyzer, FrameAnalyzer):
            analyzer.frame("00:00:00:00:00:01", "00:00:00:00:00:02", sample, n, n)
    assert any(e.kind == "message" for e in events), f"no sample of {name} parsed into a message"


def test_event_reference_is_generated_from_the_code() -> None:
    """docs/events.md must be exactly what `zonewarden schema` prints (regenerate it when events change)."""
    out = subprocess.run([sys.executable, "-m", "zonewarden", "schema"], capture_output=True, text=True,
                         check=True).stdout
    assert (ROOT / "docs" / "events.md").read_text() == out, "run: zonewarden schema > docs/events.md"


def test_cli_help_lists_every_registered_protocol() -> None:
    from zonewarden.cli.events import PROTOCOLS
    from zonewarden.protocols.registry import event_protocols

    assert list(PROTOCOLS) == event_protocols()
