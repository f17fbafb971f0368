"""S7comm and S7comm-plus events agree with the Zeek/ICSNPP (cisagov/icsnpp-s7comm) baseline logs.

The logs carry no frame numbers and their timestamps are masked, so records are aligned in order: each
of our messages either matches the next log record on its key fields (then every mapped field must
agree) or is listed in EXCEPTIONS with the reason ICSNPP did not log it. Log records left unmatched fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.peers.events_peer import CORPUS
from tests.peers.test_s7comm_vs_tshark import _ours

_ICSNPP = "s7comm/cisagov-icsnpp-s7comm"
_SNAP7 = f"{_ICSNPP}/snap7.pcap"
_PLUS = f"{_ICSNPP}/s7comm_plus.pcap"
LOGS = {
    _SNAP7: CORPUS / f"{_SNAP7}.expected/zeek-icsnpp/icsnpp-s7comm__analyzer.snap7",
    _PLUS: CORPUS / f"{_PLUS}.expected/zeek-icsnpp/icsnpp-s7comm__analyzer.s7comm_plus",
}

# Our messages ICSNPP does not log, by (capture, log, frame), with the reason (checked against its binpac
# grammar s7comm-protocol.pac and analyzer s7comm-analyzer.pac).
EXCEPTIONS: dict[tuple[str, str, int], str] = {
    (_SNAP7, "s7comm", 6): "first fragment of a fragmented SZL answer (data unit 0xd5, last data unit = no): "
                           "ICSNPP logs its COTP DT (cotp.log) but no s7comm record; tshark dissects it as a "
                           "well-formed userdata PDU",
    (_SNAP7, "s7comm", 7): "userdata follow-up request (method 0x12, type request, empty data part): ICSNPP parses "
                           "method 0x12 as a response whose Read_SZL record needs an SZL id and index the empty data "
                           "part lacks",
    (_SNAP7, "s7comm", 44): "ROSCTR 2 (ack without data): ICSNPP's ROSCTR_ACK record reads a function code byte "
                            "after the error code, but an ack has no parameter part (parameter length 0), so the "
                            "12-byte PDU fails to parse",
    (_SNAP7, "s7comm_read_szl", 6): "first fragment of a fragmented SZL answer: not logged by ICSNPP (see s7comm)",
    (_SNAP7, "s7comm_read_szl", 8): "last fragment of a fragmented SZL answer (data unit 0xd5): ICSNPP's "
                                    "process_s7comm_read_szl skips fragments ('Fragmented Packets do not contain "
                                    "information we need to log'); we report the reassembled answer here",
}


def read_zeek_log(path: Path) -> list[dict[str, str | None]]:
    """Rows of a Zeek TSV log as dicts keyed by the ``#fields`` header; ``-`` (unset) becomes None."""
    fields: list[str] = []
    rows: list[dict[str, str | None]] = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append({k: (None if v == "-" else v) for k, v in zip(fields, line.split("\t"), strict=True)})
    assert fields, f"no #fields header in {path}"
    return rows


def _swap(value: int) -> int:
    """ICSNPP logs the PDU reference byte-swapped (it reads the big-endian field as little-endian)."""
    return ((value >> 8) | (value << 8)) & 0xFFFF


def _hex(value: int | None, width: int = 2) -> str | None:
    return None if value is None else f"0x{value:0{width}x}"


def _s7_record(e: dict[str, Any]) -> dict[str, Any]:
    """Our S7comm event in s7comm.log terms."""
    userdata = e["rosctr"] == 7
    function = (e["userdata_type"] << 4 | e["function_group"]) if userdata else e["function"]
    subfunction = _hex(e["subfunction"]) if userdata else (e["pi_service"] if e["function"] == 0x28 and
                                                           e["rosctr"] == 1 else None)
    error = e["userdata_error"] if userdata and e["is_response"] else e["error_code"]
    return {"is_orig": "T" if e["dport"] == 102 else "F", "rosctr_code": str(e["rosctr"]),
            "pdu_reference": str(_swap(e["pdu_ref"])), "function_code": _hex(function),
            "subfunction_code": subfunction, "error_code": _hex(error)}


def _plus_record(e: dict[str, Any]) -> dict[str, Any]:
    request_or_response = e["opcode"] in (0x31, 0x32)
    return {"is_orig": "T" if e["dport"] == 102 else "F", "version": str(e["version"]),
            "opcode": _hex(e["opcode"]), "function_code": _hex(e["function"], 4) if request_or_response else None}


def _szl_record(e: dict[str, Any]) -> dict[str, Any]:
    return {"pdu_reference": str(_swap(e["pdu_ref"])), "method": "Response" if e["is_response"] else "Request",
            "szl_id": _hex(e["szl_id"], 4), "szl_index": _hex(e["szl_index"], 4), "return_code": _hex(e["return_code"])}


def _updown_record(e: dict[str, Any]) -> dict[str, Any]:
    number, length = e["block_number"], e["block_length"]
    if e["function"] == 0x1E and e["rosctr"] == 3 and e["data_length"] >= 4:
        length = e["data_length"] - 4  # ICSNPP's blocklength of an upload answer: the block bytes it carries
    return {"pdu_reference": str(_swap(e["pdu_ref"])), "function_status": _hex(e["function_status"]),
            "session_id": None if e["upload_id"] is None else str(e["upload_id"]),
            "blocklength": None if length is None else str(length),
            "filename": e["filename"], "block_number": None if number is None else f"{number:05d}"}


def align(rel: str, log: str, ours: list[tuple[int, dict[str, Any]]], rows: list[dict[str, str | None]],
          key: tuple[str, ...], compared: tuple[str, ...]) -> tuple[int, list[str]]:
    """Walk our records and the log in order; returns (records matched, problems)."""
    problems: list[str] = []
    matched = 0
    pos = 0
    for frame, mine in ours:
        row = rows[pos] if pos < len(rows) else None
        if row is None or any(row[k] != mine[k] for k in key):
            if (rel, log, frame) not in EXCEPTIONS:
                problems.append(f"{rel} frame {frame}: {[mine[k] for k in key]} not in the log "
                                f"(next log record {[row[k] for k in key] if row else None})")
            continue
        pos += 1
        matched += 1
        for name in compared:
            if row[name] is not None and mine[name] != row[name]:
                problems.append(f"{rel} frame {frame}: {name} ours={mine[name]!r} zeek={row[name]!r}")
    problems += [f"{rel}: log record {[r[k] for k in key]} has no message of ours" for r in rows[pos:]]
    return matched, problems


@pytest.mark.parametrize("rel", sorted(LOGS))
def test_s7comm_log_agrees(rel: str) -> None:
    ours = _ours(rel)["s7comm"]
    records = [(f, _s7_record(e)) for f in sorted(ours) for e in ours[f]]
    rows = read_zeek_log(LOGS[rel] / "s7comm.log")
    matched, problems = align(rel, "s7comm", records, rows, ("is_orig", "rosctr_code", "pdu_reference"),
                              ("function_code", "subfunction_code", "error_code"))
    assert not problems, "\n".join(problems)
    assert matched == len(rows) > 0


def test_s7comm_plus_log_agrees() -> None:
    ours = _ours(_PLUS)["s7comm_plus"]
    records = [(f, _plus_record(e)) for f in sorted(ours) for e in ours[f]]
    rows = read_zeek_log(LOGS[_PLUS] / "s7comm_plus.log")
    matched, problems = align(_PLUS, "s7comm_plus", records, rows, ("is_orig", "version", "opcode"), ("function_code",))
    assert not problems, "\n".join(problems)
    assert matched == len(rows) == 121


def test_read_szl_log_agrees() -> None:
    ours = _ours(_SNAP7)["s7comm"]
    records = [(f, _szl_record(e)) for f in sorted(ours) for e in ours[f] if e["szl_id"] is not None]
    rows = read_zeek_log(LOGS[_SNAP7] / "s7comm_read_szl.log")
    matched, problems = align(_SNAP7, "s7comm_read_szl", records, rows, ("pdu_reference", "method"),
                              ("szl_id", "szl_index", "return_code"))
    assert not problems, "\n".join(problems)
    assert matched == len(rows) > 0


def test_upload_download_log_agrees() -> None:
    ours = _ours(_SNAP7)["s7comm"]
    records = [(f, _updown_record(e)) for f in sorted(ours) for e in ours[f]
               if e["function"] in range(0x1A, 0x20) and e["rosctr"] in (1, 3)]
    rows = read_zeek_log(LOGS[_SNAP7] / "s7comm_upload_download.log")
    matched, problems = align(_SNAP7, "s7comm_upload_download", records, rows, ("pdu_reference",),
                              ("function_status", "session_id", "blocklength", "filename", "block_number"))
    assert not problems, "\n".join(problems)
    assert matched == len(rows) > 0


@pytest.mark.parametrize("rel", sorted(LOGS))
def test_cotp_connection_records_agree(rel: str) -> None:
    """cotp.log lists every TPDU; its connection TPDUs (CR, CC, DR, DC) are our COTP events, in order."""
    ours = _ours(rel)["cotp"]
    mine = [(e["pdu_type"], e["dport"] == 102) for f in sorted(ours) for e in ours[f]]
    rows = read_zeek_log(LOGS[rel] / "cotp.log")
    theirs = [(int(r["pdu_code"] or "0", 16), r["is_orig"] == "T") for r in rows if r["pdu_code"] != "0x0f"]
    assert mine == theirs
