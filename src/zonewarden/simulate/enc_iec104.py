"""IEC 60870-5-104: APCI frames (I, S, U formats) and the ASDUs a SCADA master and a substation RTU exchange.

Common address 2 octets, cause of transmission 2 octets (with originator address), IOA 3 octets: the
104 defaults (IEC 60870-5-104 clause 9).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

PORT = 2404
STARTDT_ACT, STARTDT_CON, STOPDT_ACT, STOPDT_CON, TESTFR_ACT, TESTFR_CON = 0x07, 0x0B, 0x13, 0x23, 0x43, 0x83
# Type identifications.
M_SP_NA_1, M_DP_NA_1, M_ME_NC_1, M_IT_NA_1, M_SP_TB_1, M_DP_TB_1, M_ME_TF_1 = 1, 3, 13, 15, 30, 31, 36
C_SC_NA_1, C_DC_NA_1, C_IC_NA_1, C_CS_NA_1 = 45, 46, 100, 103
# Causes of transmission.
COT_PERIODIC, COT_SPONTANEOUS, COT_REQUEST, COT_ACT, COT_ACTCON, COT_DEACT, COT_ACTTERM = 1, 3, 5, 6, 7, 8, 10
COT_INROGEN = 20
DP_OFF, DP_ON = 1, 2


def u_frame(function: int) -> bytes:
    return bytes([0x68, 4, function, 0, 0, 0])


def s_frame(recv_seq: int) -> bytes:
    return bytes([0x68, 4, 1, 0]) + struct.pack("<H", (recv_seq << 1) & 0xFFFF)


def i_frame(send_seq: int, recv_seq: int, asdu: bytes) -> bytes:
    return bytes([0x68, 4 + len(asdu)]) + struct.pack("<HH", (send_seq << 1) & 0xFFFF, (recv_seq << 1) & 0xFFFF) + asdu


def asdu(type_id: int, cot: int, common_address: int, objects: list[tuple[int, bytes]], *, negative: bool = False,
         test: bool = False, originator: int = 0) -> bytes:
    """Information objects as ``(ioa, element bytes)``, each with its own address (SQ = 0)."""
    cause = cot | (0x40 if negative else 0) | (0x80 if test else 0)
    head = struct.pack("<BBBBH", type_id, len(objects), cause, originator, common_address)
    return head + b"".join(ioa.to_bytes(3, "little") + element for ioa, element in objects)


def cp56time2a(epoch_ms: int) -> bytes:
    t = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    ms = t.second * 1000 + t.microsecond // 1000
    return struct.pack("<HBBBBB", ms, t.minute, t.hour, t.day | (t.isoweekday() << 5), t.month, t.year % 100)


def single_point(on: bool, quality: int = 0) -> bytes:
    return bytes([quality | int(on)])


def double_point(state: int, quality: int = 0) -> bytes:
    return bytes([quality | state])


def short_float(value: float, quality: int = 0) -> bytes:
    return struct.pack("<fB", value, quality)


def integrated_total(value: int, seq: int) -> bytes:
    return struct.pack("<iB", value, seq & 0x1F)


def single_command(on: bool, *, select: bool = False) -> bytes:
    """SCO: S/E bit 7 (1 select, 0 execute), qualifier 0 (no additional definition), SCS bit 0."""
    return bytes([(0x80 if select else 0) | int(on)])


def double_command(state: int, *, select: bool = False) -> bytes:
    return bytes([(0x80 if select else 0) | state])


def interrogation(qoi: int = 20) -> bytes:
    return bytes([qoi])
