"""Finished flow records as the Flow JSONL contract of DESIGN.md describes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from zonewarden import kernels
from zonewarden.flow.layout import JSONL_ROW_MAX
from zonewarden.flow.names import END_REASONS, history_string, proto_name, tcp_state
from zonewarden.flow.table import flow_id_text
from zonewarden.model.packets import format_address

RECORD_SLICE = 16_384  # flow records turned into Python objects at a time


class FlowRecord(NamedTuple):
    """One finished flow, fields in Flow JSONL order; absent values are None."""

    flow_id: str
    ts_start: float
    ts_end: float
    proto: str
    src: str
    sport: int | None
    dst: str
    dport: int | None
    vlan: int | None
    vlan_inner: int | None
    packets_orig: int
    packets_resp: int
    bytes_orig: int
    bytes_resp: int
    payload_orig: int
    payload_resp: int
    state: str
    history: str
    end_reason: str


FLOW_FIELDS = FlowRecord._fields


_COLUMNS = ("fid", "proto", "orig_is_a", "end_reason", "vlan_outer", "vlan_inner", "a_port", "b_port", "a_hi", "a_lo",
            "b_hi", "b_lo", "ts_first", "ts_last", "pkts_o", "pkts_r", "bytes_o", "bytes_r", "payload_o", "payload_r",
            "history", "flags_o", "flags_r", "icmp_type", "icmp_code", "ipver")


def flow_records(records: npt.NDArray[np.void]) -> Iterator[FlowRecord]:
    """One FlowRecord per finished flow. Columns are converted to Python lists (column-wise conversion is far
    cheaper than per row) a slice at a time: the end of a capture may finish a flood's flows at once."""
    for start in range(0, len(records), RECORD_SLICE):
        yield from _flow_records(records[start:start + RECORD_SLICE])


def _flow_records(records: npt.NDArray[np.void]) -> Iterator[FlowRecord]:
    col = {name: records[name].tolist() for name in _COLUMNS}
    ids = [flow_id_text(v) for v in col["fid"]]
    rows = zip(
        ids, col["proto"], col["orig_is_a"], col["end_reason"], col["vlan_outer"], col["vlan_inner"],
        col["a_port"], col["b_port"], col["a_hi"], col["a_lo"], col["b_hi"], col["b_lo"], col["ts_first"],
        col["ts_last"], col["pkts_o"], col["pkts_r"], col["bytes_o"], col["bytes_r"], col["payload_o"],
        col["payload_r"], col["history"], col["flags_o"], col["flags_r"], col["icmp_type"], col["icmp_code"],
        col["ipver"], strict=True,
    )
    for (fid, proto, orig_is_a, end_reason, vo, vi, a_port, b_port, a_hi, a_lo, b_hi, b_lo, ts_first, ts_last,
         pkts_o, pkts_r, bytes_o, bytes_r, pay_o, pay_r, history, flags_o, flags_r, icmp_type, icmp_code,
         ipver) in rows:
        a, b = format_address(a_hi, a_lo, ipver), format_address(b_hi, b_lo, ipver)
        if orig_is_a:
            src, sport, dst, dport = a, a_port, b, b_port
        else:
            src, sport, dst, dport = b, b_port, a, a_port
        if proto in (1, 58):
            sport, dport = icmp_type, icmp_code
        has_ports = proto in (1, 6, 17, 58, 132)
        state = tcp_state(flags_o, flags_r) if proto == 6 else ("SF" if pkts_r else "S0")
        yield FlowRecord(fid, ts_first / 1e9, ts_last / 1e9, proto_name(proto), src, sport if has_ports else None,
                         dst, dport if has_ports else None, vo if vo >= 0 else None, vi if vi >= 0 else None,
                         pkts_o, pkts_r, bytes_o, bytes_r, pay_o, pay_r, state, history_string(history),
                         END_REASONS[end_reason])


def flow_dicts(records: npt.NDArray[np.void]) -> Iterator[dict[str, Any]]:
    """One dict per finished flow, keys in FLOW_FIELDS order; absent values are None."""
    for r in flow_records(records):
        yield r._asdict()


def _text(values: npt.NDArray[Any], absent: npt.NDArray[np.bool_] | None = None) -> list[str]:
    """Numbers as JSON text (repr: the shortest round-trip form for floats, as msgspec writes them);
    ``absent`` entries become null. map over a list beats numpy's string conversion here."""
    text = list(map(repr, values.tolist()))
    if absent is not None and absent.any():
        for i in np.flatnonzero(absent).tolist():
            text[i] = "null"
    return text


def flow_jsonl(records: npt.NDArray[np.void]) -> str:
    """The Flow JSONL lines of ``records``, written directly: the reference the compiled writer
    (flow_jsonl_pieces, the flows command's) is tested against, and the writer of the rows it leaves.

    Byte for byte what encoding ``flow_dicts`` with msgspec gives (a test holds the two together): numbers
    are formatted column by column by numpy, and every string (addresses, ids, names) comes from a fixed
    alphabet that JSON never escapes.
    """
    if records.shape[0] == 0:
        return ""
    r = records
    orig_a = r["orig_is_a"] == 1
    proto = r["proto"]
    icmp = (proto == 1) | (proto == 58)
    no_ports = ~np.isin(proto, (1, 6, 17, 58, 132))
    sport = np.where(icmp, r["icmp_type"], np.where(orig_a, r["a_port"], r["b_port"]))
    dport = np.where(icmp, r["icmp_code"], np.where(orig_a, r["b_port"], r["a_port"]))
    a_txt = [format_address(h, lo, v) for h, lo, v in zip(r["a_hi"].tolist(), r["a_lo"].tolist(),
                                                            r["ipver"].tolist(), strict=True)]
    b_txt = [format_address(h, lo, v) for h, lo, v in zip(r["b_hi"].tolist(), r["b_lo"].tolist(),
                                                            r["ipver"].tolist(), strict=True)]
    src = [a if o else b for a, b, o in zip(a_txt, b_txt, orig_a.tolist(), strict=True)]
    dst = [b if o else a for a, b, o in zip(a_txt, b_txt, orig_a.tolist(), strict=True)]
    states = [tcp_state(fo, fr) if p == 6 else ("SF" if pr else "S0") for p, fo, fr, pr in zip(
        proto.tolist(), r["flags_o"].tolist(), r["flags_r"].tolist(), r["pkts_r"].tolist(), strict=True)]
    columns = zip(
        [flow_id_text(v) for v in r["fid"].tolist()],
        _text(r["ts_first"] / 1e9), _text(r["ts_last"] / 1e9), [proto_name(p) for p in proto.tolist()],
        src, _text(sport, no_ports), dst, _text(dport, no_ports),
        _text(r["vlan_outer"], r["vlan_outer"] < 0), _text(r["vlan_inner"], r["vlan_inner"] < 0),
        _text(r["pkts_o"]), _text(r["pkts_r"]), _text(r["bytes_o"]), _text(r["bytes_r"]), _text(r["payload_o"]),
        _text(r["payload_r"]), states, [history_string(h) for h in r["history"].tolist()],
        [END_REASONS[e] for e in r["end_reason"].tolist()], strict=True,
    )
    return "".join(
        f'{{"flow_id":"{c[0]}","ts_start":{c[1]},"ts_end":{c[2]},"proto":"{c[3]}","src":"{c[4]}","sport":{c[5]},'
        f'"dst":"{c[6]}","dport":{c[7]},"vlan":{c[8]},"vlan_inner":{c[9]},"packets_orig":{c[10]},'
        f'"packets_resp":{c[11]},"bytes_orig":{c[12]},"bytes_resp":{c[13]},"payload_orig":{c[14]},'
        f'"payload_resp":{c[15]},"state":"{c[16]}","history":"{c[17]}","end_reason":"{c[18]}"}}\n'
        for c in columns)


def flow_jsonl_pieces(records: npt.NDArray[np.void]) -> list[bytes | memoryview]:
    """flow_jsonl's text as bytes, in pieces to be written in order (output.write_pieces): the compiled
    writer's rows (kernels.flow_jsonl_rows), and in their places the rows it leaves to flow_jsonl (see
    jsonl_kernel: none in the corpus but captures dated before 1972)."""
    n = records.shape[0]
    if n == 0:
        return []
    records = np.ascontiguousarray(records)
    out = np.empty(n * JSONL_ROW_MAX, np.uint8)
    ends = np.empty(n, np.int64)
    if kernels.flow_jsonl_rows(records, out, ends) != n:
        raise RuntimeError("flow JSONL: the output buffer was sized too small (a bug)")
    text = out.data
    starts = np.concatenate(([0], ends[:-1]))
    left = np.flatnonzero(ends == starts)  # rows without bytes: flow_jsonl's
    if left.shape[0] == 0:
        return [text[:int(ends[-1])]]
    pieces: list[bytes | memoryview] = []
    at = 0
    # runs of consecutive rows: one flow_jsonl call each
    for run in np.split(left, np.flatnonzero(np.diff(left) != 1) + 1):
        first, stop = int(run[0]), int(run[-1]) + 1
        pieces.append(text[at:int(starts[first])])
        pieces.append(flow_jsonl(records[first:stop]).encode())
        at = int(starts[first])
    pieces.append(text[at:int(ends[-1])])
    return pieces
