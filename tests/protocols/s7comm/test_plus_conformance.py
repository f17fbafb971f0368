"""The shared conformance contract, applied to the S7comm-plus side of the ``s7comm`` analyzer.

The shared suite (tests/protocols/test_conformance.py) requires every event's ``proto`` to equal the
spec name, so the spec's samples are S7comm only. This suite fuzzes the same analyzer with S7comm-plus
samples too and checks the contract with the event protos the spec may emit: ``s7comm`` (S7comm events,
anomalies, COTP events of S7comm connections) and ``s7comm_plus`` (S7comm-plus events, COTP events of
S7comm-plus connections). It goes once AnalyzerSpec can declare the event protos it emits.
"""

from __future__ import annotations

import contextlib

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocols.s7comm import fixtures as fx
from zonewarden.errors import DecodeError
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.registry import ANALYZERS
from zonewarden.protocols.s7comm.events import CotpEvent, S7commEvent, S7commPlusEvent

SPEC = next(s for s in ANALYZERS if s.name == "s7comm")
PLUS_SAMPLES = (fx.COTP_CR_TIA_HMI, fx.PLUS_V1_CREATE_OBJECT_REQUEST, fx.PLUS_V2_GET_MULTI_VARIABLES_REQUEST,
                fx.PLUS_V3_SET_VARIABLE_REQUEST, fx.PLUS_V3_NOTIFICATION, fx.PLUS_SYSTEM_EVENT, fx.PLUS_KEEPALIVE,
                fx.PLUS_IDENTITY_RESPONSE, fx.PLUS_FRAGMENT_1, fx.PLUS_FRAGMENT_2)
SAMPLES = (*SPEC.samples, *PLUS_SAMPLES, fx.READ_SZL_001C_FIRST_FRAGMENT, fx.READ_SZL_001C_LAST_FRAGMENT)
# Which protos each event class may carry.
PROTOS: dict[type[Event], frozenset[str]] = {
    S7commEvent: frozenset({"s7comm"}), S7commPlusEvent: frozenset({"s7comm_plus"}),
    CotpEvent: frozenset({"s7comm", "s7comm_plus"}), AnomalyEvent: frozenset({"s7comm"}),
}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    data = data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
    return bytes(data) + draw(st.binary(max_size=16))


PAYLOADS = st.one_of(st.binary(max_size=600), _mutated(), st.sampled_from(SAMPLES))


def _check(events: list[Event]) -> None:
    for e in events:
        assert type(e) in PROTOS, f"undocumented event {type(e).__name__}"
        assert type(e) is AnomalyEvent or type(e) in SPEC.events
        assert e.proto in PROTOS[type(e)], f"{type(e).__name__} with proto {e.proto}"
        assert msgspec.json.decode(msgspec.json.encode(e), type=type(e)) == e


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), PAYLOADS, st.integers(0, 3)), max_size=12))
def test_analyzer_never_raises_and_emits_documented_events(parts: list[tuple[int, bytes, int]]) -> None:
    events: list[Event] = []
    analyzer = SPEC.factory(FlowContext("Cfuzz", "10.0.0.1", "10.0.0.2", 40000, 102), events.append)
    for n, (direction, data, gap) in enumerate(parts, start=1):
        if gap == 3:
            analyzer.gap(direction, len(data) + 1, n, n)  # type: ignore[attr-defined]
        else:
            analyzer.data(direction, data, n, n)  # type: ignore[attr-defined]
    analyzer.end()
    _check(events)


@FUZZ
@given(PAYLOADS)
def test_wire_parser_raises_only_decode_errors(data: bytes) -> None:
    assert SPEC.wire_parse is not None
    with contextlib.suppress(DecodeError):
        SPEC.wire_parse(data)


def test_plus_samples_parse_into_plus_messages() -> None:
    events: list[Event] = []
    analyzer = SPEC.factory(FlowContext("Csample", "10.0.0.1", "10.0.0.2", 40000, 102), events.append)
    for n, sample in enumerate(PLUS_SAMPLES, start=1):
        analyzer.data(0, sample, n, n)  # type: ignore[attr-defined]
    _check(events)
    assert sum(isinstance(e, S7commPlusEvent) for e in events) == len(PLUS_SAMPLES) - 2  # CR; 2 PDUs, 1 message
    assert not any(isinstance(e, AnomalyEvent) for e in events)
