"""The event lane's Modbus/TCP encoder against the Python analyzer, payload by payload, and its JSON helpers."""

from __future__ import annotations

import struct

import msgspec
import numpy as np
import pytest
from numba import njit

from zonewarden.json_bytes import TS_MAX, TS_MIN, ts_writable, write_int, write_ts
from zonewarden.pipeline import eventlane_layout as E
from zonewarden.pipeline.eventlane_kernel import frame_end
from zonewarden.pipeline.eventlane_modbus import MAX_PENDING, encode_modbus
from zonewarden.pipeline.fastlane_layout import P_DNP3, P_ENIP, P_MODBUS, P_S7
from zonewarden.protocols.modbus.analyzer import ModbusAnalyzer

from .eventlane_support import Pair


def adu(tid: int, unit: int, pdu: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HHHB", tid, 0, len(pdu) + 1 if length is None else length, unit) + pdu


@pytest.fixture
def pair() -> Pair:
    return Pair(P_MODBUS, ModbusAnalyzer, encode_modbus, 50123, 502)


def test_reads_and_their_responses(pair: Pair) -> None:
    pair.same(0, adu(1, 255, bytes([3, 0, 10, 0, 3])) + adu(2, 1, bytes([1, 0, 0, 0, 11])))  # pipelined
    lines = pair.same(1, adu(1, 255, bytes([3, 6, 0, 1, 0xFF, 0xFF, 0, 0])) + adu(2, 1, bytes([1, 2, 0xA5, 0x03])))
    first, second = (msgspec.json.decode(line) for line in lines.splitlines())
    assert first["values"] == [1, 65535, 0] and first["address"] == 10 and first["request_frame"] == 1
    assert second["values"] == [1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0] and second["quantity"] == 11
    pair.same(0, adu(3, 0, bytes([4, 0, 0, 0, 0])))
    pair.same(1, adu(3, 0, bytes([4, 0])))  # no registers: an empty list


def test_writes_exceptions_and_echoes(pair: Pair) -> None:
    pair.same(0, adu(7, 1, bytes([5, 0, 4, 0xFF, 0])))
    pair.same(1, adu(7, 1, bytes([5, 0, 4, 0xFF, 0])))
    pair.same(0, adu(8, 1, bytes([6, 0, 5, 0x12, 0x34])))
    pair.same(1, adu(8, 1, bytes([6, 0, 5, 0x12, 0x34])))
    pair.same(0, adu(9, 1, bytes([15, 0, 1, 0, 10, 2, 0xFF, 0x01])))  # 10 coils of 16 bits sent
    pair.same(1, adu(9, 1, bytes([15, 0, 1, 0, 10])))
    pair.same(0, adu(10, 1, bytes([16, 0, 1, 0, 2, 4, 0, 1, 0, 2])))
    pair.same(1, adu(10, 1, bytes([16, 0, 1, 0, 2])))
    pair.same(0, adu(11, 1, bytes([3, 0, 1, 0, 2])))
    line = pair.same(1, adu(11, 1, bytes([0x83, 2])))
    assert msgspec.json.decode(line)["exception_code"] == 2


def test_a_response_to_no_request_is_an_anomaly_then_the_message(pair: Pair) -> None:
    lines = pair.same(1, adu(40, 1, bytes([3, 2, 0, 7]))).splitlines()
    assert [msgspec.json.decode(line)["kind"] for line in lines] == ["anomaly", "message"]


@pytest.mark.parametrize("payload", [
    adu(1, 1, bytes([3, 0, 1, 0])),  # a read request one byte short: a length_mismatch anomaly
    adu(1, 1, bytes([43, 14, 1, 0])),  # MEI device identification: the analyzer's
    adu(1, 1, bytes([8, 0, 0, 0x12, 0x34])),  # diagnostics
    adu(1, 1, bytes([3, 0, 1, 0, 1]) + bytes(250)),  # oversized
    adu(1, 1, bytes([3, 0, 1, 0, 1]))[:6],  # a stray tail the driver would have kept
])
def test_refusals(pair: Pair, payload: bytes) -> None:
    _python, (status, _lane) = pair.both(0, payload)
    assert status == E.ENC_REFUSE


def test_mismatch_and_reuse_are_refused(pair: Pair) -> None:
    pair.same(0, adu(5, 1, bytes([3, 0, 1, 0, 1])))
    python, (status, _) = pair.both(0, adu(5, 1, bytes([3, 0, 1, 0, 1])))  # reused before its response
    assert status == E.ENC_REFUSE and b"duplicate_transaction" in python
    python, (status, _) = pair.both(1, adu(5, 1, bytes([4, 2, 0, 1])))  # function 4 answers a 3
    assert status == E.ENC_REFUSE and b"function_mismatch" in python


def test_outstanding_requests_are_bounded(pair: Pair) -> None:
    for tid in range(MAX_PENDING):
        pair.same(0, adu(tid, 1, bytes([3, 0, 1, 0, 1])))
    _python, (status, _) = pair.both(0, adu(MAX_PENDING, 1, bytes([3, 0, 1, 0, 1])))
    assert status == E.ENC_REFUSE


def test_a_full_buffer_is_reported(pair: Pair) -> None:
    data = np.frombuffer(adu(1, 1, bytes([3, 0, 1, 0, 1])), np.uint8)
    small = np.zeros(100, np.uint8)
    status, _ = encode_modbus(data, 0, data.shape[0], 0, 1_600_000_000 * 10**9, 1, pair.hdr, pair.st, pair.sb,
                              small, 0)
    assert status == E.ENC_FULL


@pytest.mark.parametrize(("proto", "stream", "whole"), [
    (P_MODBUS, adu(1, 1, bytes([3, 0, 1, 0, 1])) * 2 + adu(1, 1, bytes([3, 0, 1, 0, 1]))[:9], 24),
    (P_MODBUS, adu(1, 1, bytes([3, 0, 1, 0, 1]))[:5], 0),
    (P_MODBUS, struct.pack("!HHHB", 1, 9, 6, 1) + bytes(5), 12),  # protocol id 9: all to the encoder
    (P_S7, bytes([3, 0, 0, 7, 2, 0xF0, 0x80]) + bytes([3, 0, 0, 9]), 7),
    (P_S7, bytes([4, 0, 0, 7, 2, 0xF0, 0x80]), 7),
    (P_ENIP, bytes([0x65, 0, 4, 0]) + bytes(24) + bytes([0x6F, 0, 0]), 28),
    (P_DNP3, bytes([5, 0x64, 5, 0xC0, 1, 0, 10, 0, 0xAA, 0xBB]) + bytes([5, 0x64, 20]), 10),
    (P_DNP3, bytes([5]), 0),
    (P_DNP3, bytes([5, 0x65, 5]), 3),
])
def test_the_driver_frames_whole_pdus(proto: int, stream: bytes, whole: int) -> None:
    data = np.frombuffer(stream, np.uint8)
    assert frame_end(proto, data, 0, data.shape[0]) == whole


@njit
def _format(ts: np.ndarray, values: np.ndarray, out: np.ndarray) -> int:
    pos = 0
    for k in range(ts.shape[0]):
        pos = write_ts(out, pos, ts[k])
        out[pos] = 44
        pos += 1
    for k in range(values.shape[0]):
        pos = write_int(out, pos, values[k])
        out[pos] = 44
        pos += 1
    return pos


def test_times_and_integers_are_written_as_msgspec_writes_them() -> None:
    rng = np.random.default_rng(7)
    ts = np.concatenate([
        rng.integers(1 << 26, 1 << 33, 100_000) * 10**9 + rng.integers(0, 10**9, 100_000),  # nanoseconds
        rng.integers(10**9, 2 * 10**9, 100_000) * 10**9 + rng.integers(0, 10**6, 100_000) * 1000,  # microseconds
        rng.integers(10**9, 2 * 10**9, 1000) * 10**9,  # whole seconds: "N.0"
        np.array([int(TS_MIN * 1e9), np.iinfo(np.int64).max]),  # (int64 nanoseconds end below TS_MAX)
    ]).astype(np.int64)
    values = np.concatenate([rng.integers(-(2**62), 2**62, 10_000), np.array([0, 1, -1, 9, 10, 99, 100])])
    out = np.zeros(ts.shape[0] * 24 + values.shape[0] * 24, np.uint8)
    n = _format(ts, values.astype(np.int64), out)
    expected = b"".join(msgspec.json.encode(v) + b"," for v in [*(ts / 1e9).tolist(), *values.tolist()])
    assert out[:n].tobytes() == expected
    assert not ts_writable(np.int64(0)) and not ts_writable(np.int64(int(TS_MIN * 1e9) - 10**9))
    assert np.iinfo(np.int64).max / 1e9 < TS_MAX
