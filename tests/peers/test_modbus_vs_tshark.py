"""Modbus/TCP events agree with tshark's mbtcp/modbus dissection, message by message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.peers.events_peer import (
    Agreement,
    Layer,
    assert_corpus_agrees,
    assert_file_agrees,
    compare,
    corpus_files,
    find_field,
    int_field,
    iterate,
    our_messages,
    tshark_messages,
)

FILES = corpus_files("modbus")

_MB2 = "modbus/iti-ics-security-tools/mb2.pcap"
_FUZZ = "modbus/zeek/fuzz-72.pcap"
# Every remaining difference, with the reason we are right or why the two legitimately differ.
EXCEPTIONS: dict[tuple[str, int], str] = {
    # Capture loss: the original segments were never captured; tshark labels the first copy it sees a
    # "retransmission" and does not dissect it, we deliver those bytes the first time they appear.
    **{(_MB2, f): "first captured copy of lost data: tshark suppresses it as a retransmission"
       for f in (1131, 3674, 13176)},
    (_MB2, 3008): "server data overlapping a sequence range tshark had marked lost: tshark parses the "
                  "retransmitted range, we had already declared it a gap (first-wins reassembly)",
    # A fuzzed capture (Zeek's fuzz corpus): segments overlap with different contents; tshark parses each
    # segment on its own, we reassemble the stream first-wins and resynchronise on the MBAP framing.
    **{(_FUZZ, f): "fuzzed overlapping segments: tshark dissects per segment, we reassemble first-wins"
       for f in (5, 16, 17, 18, 20, 22, 24, 28, 29, 31, 33)},
}


def _exception(msg: dict[str, Layer]) -> int | None:
    fc = int_field("modbus", "modbus.func_code")(msg)
    if fc is None:
        return None
    code = find_field(msg, "modbus.exception_code")
    return int(code) if code is not None else None


FIELDS: dict[str, Any] = {
    "transaction_id": int_field("mbtcp", "mbtcp.trans_id"),
    "unit_id": int_field("mbtcp", "mbtcp.unit_id"),
    "function_code": lambda m: (int(fc) & 0x7F) if (fc := m.get("modbus", {}).get("modbus.func_code")) else None,
    "exception_code": _exception,
    "address": lambda m: int(v) if (v := find_field(m, "modbus.reference_num")) is not None else None,
    "quantity": lambda m: int(v) if (v := find_field(m, "modbus.word_cnt") or find_field(m, "modbus.bit_cnt"))
    is not None else None,
}


@pytest.fixture(scope="module")
def results() -> dict[str, Agreement]:
    """Each capture compared once (tshark runs once per file for both tests)."""
    return {rel: compare(rel, our_messages(path, "modbus"), tshark_messages(path, ["mbtcp", "modbus"]), FIELDS)
            for rel, path in iterate(FILES)}


@pytest.mark.parametrize("rel", FILES)
def test_modbus_file_agrees(rel: str, results: dict[str, Agreement]) -> None:
    assert_file_agrees(results[rel], EXCEPTIONS)


def test_modbus_corpus_agreement(results: dict[str, Agreement]) -> None:
    assert_corpus_agrees(results.values(), 1000)
