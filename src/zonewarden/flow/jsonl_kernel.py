"""Flow JSONL in compiled code: the bytes records.flow_jsonl writes, for the flows command's output.

A flood finishes hundreds of thousands of flows; their text, formatted in Python, was most of the command's
time. Every field is written here as flow_jsonl writes it (the names come from names.py's tables, addresses
as model.packets.format_address, times as repr of ``ns / 1e9``); a row whose text this writer cannot
promise is left to flow_jsonl (records.flow_jsonl_pieces puts it in its place): times outside json_bytes'
exact range (before 1972), counters at the most negative int64, an end reason without a name (there
flow_jsonl raises). The tests compare the two writers over the corpus and over random records.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.flow.layout import JSONL_ROW_MAX
from zonewarden.flow.names import END_REASONS, PROTO_NAMES, history_string, tcp_state
from zonewarden.json_bytes import (
    HEX,
    UNCOUNTED,
    lit,
    name_table,
    ts_writable,
    write_address,
    write_bytes,
    write_int,
    write_name,
    write_null,
    write_opt,
    write_ts,
)

PROTOS, PROTO_AT = name_table(PROTO_NAMES, 256, "ip-{}")
# tcp_state reads four flag bits of each side: its answer for every combination, indexed by
# (flags_o & 15) | (flags_r & 15) << 4.
STATES, STATE_AT = name_table({k: tcp_state(k & 15, k >> 4) for k in range(256)}, 256)
NOT_TCP_STATES, NOT_TCP_AT = name_table({0: "S0", 1: "SF"}, 2)  # by whether the responder sent anything
ENDS, END_AT = name_table(dict(enumerate(END_REASONS)), len(END_REASONS))
N_ENDS = len(END_REASONS)
# The letter of each history nibble, as history_string writes it (a nibble 0 below others included).
LETTERS = lit("".join(history_string(0x10 | nibble)[0] for nibble in range(16)))
INT64_MIN = -(1 << 63)

K_ID = lit('{"flow_id":"C')
K_TS_START = lit('","ts_start":')
K_TS_END = lit(',"ts_end":')
K_PROTO = lit(',"proto":')
K_SRC = lit(',"src":"')
K_SPORT = lit('","sport":')
K_DST = lit(',"dst":"')
K_DPORT = lit('","dport":')
K_VLAN = lit(',"vlan":')
K_VLAN_INNER = lit(',"vlan_inner":')
K_PACKETS_ORIG = lit(',"packets_orig":')
K_PACKETS_RESP = lit(',"packets_resp":')
K_BYTES_ORIG = lit(',"bytes_orig":')
K_BYTES_RESP = lit(',"bytes_resp":')
K_PAYLOAD_ORIG = lit(',"payload_orig":')
K_PAYLOAD_RESP = lit(',"payload_resp":')
K_STATE = lit(',"state":')
K_HISTORY = lit(',"history":"')
K_END_REASON = lit('","end_reason":')
K_CLOSE = lit("}\n")


@njit(**UNCOUNTED)
def _writable(r):  # type: ignore[no-untyped-def]
    return (ts_writable(r.ts_first) and ts_writable(r.ts_last) and r.end_reason < N_ENDS
            and r.pkts_o != INT64_MIN and r.pkts_r != INT64_MIN and r.bytes_o != INT64_MIN
            and r.bytes_r != INT64_MIN and r.payload_o != INT64_MIN and r.payload_r != INT64_MIN)


@njit(**UNCOUNTED)
def _write_int_field(out, pos, key, v, present):  # type: ignore[no-untyped-def]
    """A field (``key``: its ``,"name":`` literal) holding a signed integer, or null when not ``present``."""
    pos = write_bytes(out, pos, key)
    return write_int(out, pos, v) if present else write_null(out, pos)


@njit(**UNCOUNTED)
def _write_row(out, pos, r):  # type: ignore[no-untyped-def]
    pos = write_bytes(out, pos, K_ID)
    for k in range(15, -1, -1):
        out[pos] = HEX[np.int64((r.fid >> np.uint64(4 * k)) & np.uint64(15))]
        pos += 1
    pos = write_bytes(out, pos, K_TS_START)
    pos = write_ts(out, pos, r.ts_first)
    pos = write_bytes(out, pos, K_TS_END)
    pos = write_ts(out, pos, r.ts_last)
    proto = r.proto
    pos = write_bytes(out, pos, K_PROTO)
    pos = write_name(out, pos, PROTOS, PROTO_AT, proto)
    if r.orig_is_a == 1:
        src_hi, src_lo, sport = r.a_hi, r.a_lo, np.int64(r.a_port)
        dst_hi, dst_lo, dport = r.b_hi, r.b_lo, np.int64(r.b_port)
    else:
        src_hi, src_lo, sport = r.b_hi, r.b_lo, np.int64(r.b_port)
        dst_hi, dst_lo, dport = r.a_hi, r.a_lo, np.int64(r.a_port)
    if proto == 1 or proto == 58:
        sport, dport = np.int64(r.icmp_type), np.int64(r.icmp_code)
    has_ports = proto == 1 or proto == 6 or proto == 17 or proto == 58 or proto == 132
    pos = write_bytes(out, pos, K_SRC)
    pos = write_address(out, pos, src_hi, src_lo, r.ipver)
    pos = _write_int_field(out, pos, K_SPORT, sport, has_ports)
    pos = write_bytes(out, pos, K_DST)
    pos = write_address(out, pos, dst_hi, dst_lo, r.ipver)
    pos = _write_int_field(out, pos, K_DPORT, dport, has_ports)
    pos = write_opt(out, pos, K_VLAN, r.vlan_outer)
    pos = write_opt(out, pos, K_VLAN_INNER, r.vlan_inner)
    pos = _write_int_field(out, pos, K_PACKETS_ORIG, r.pkts_o, True)
    pos = _write_int_field(out, pos, K_PACKETS_RESP, r.pkts_r, True)
    pos = _write_int_field(out, pos, K_BYTES_ORIG, r.bytes_o, True)
    pos = _write_int_field(out, pos, K_BYTES_RESP, r.bytes_r, True)
    pos = _write_int_field(out, pos, K_PAYLOAD_ORIG, r.payload_o, True)
    pos = _write_int_field(out, pos, K_PAYLOAD_RESP, r.payload_r, True)
    pos = write_bytes(out, pos, K_STATE)
    if proto == 6:
        pos = write_name(out, pos, STATES, STATE_AT, (np.int64(r.flags_o) & 15) | ((np.int64(r.flags_r) & 15) << 4))
    else:
        pos = write_name(out, pos, NOT_TCP_STATES, NOT_TCP_AT, 1 if r.pkts_r != 0 else 0)
    pos = write_bytes(out, pos, K_HISTORY)
    h = r.history
    while h != 0:
        out[pos] = LETTERS[np.int64(h & np.uint64(15))]
        pos += 1
        h >>= np.uint64(4)
    pos = write_bytes(out, pos, K_END_REASON)
    pos = write_name(out, pos, ENDS, END_AT, r.end_reason)
    return write_bytes(out, pos, K_CLOSE)


@njit(cache=True)
def flow_jsonl_rows(records, out, ends):  # type: ignore[no-untyped-def]
    """The Flow JSONL line of each record, one after another in ``out``; ends[i]: where row i's line ends.
    A row left to the Python writer gets no bytes (ends[i] equals the previous end). Returns the rows
    handled: all of them, unless ``out`` lacks JSONL_ROW_MAX bytes for a row (sized from the records, it
    does not)."""
    pos = 0
    for i in range(records.shape[0]):
        if pos + JSONL_ROW_MAX > out.shape[0]:
            return i
        r = records[i]
        if _writable(r):
            pos = _write_row(out, pos, r)
        ends[i] = pos
    return records.shape[0]
