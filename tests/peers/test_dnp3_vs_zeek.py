"""DNP3 events agree with the Zeek and ICSNPP baselines stored next to the corpus captures.

- ``dnp3.log`` (Zeek's base script, also ICSNPP's): one line per response, carrying the last request
  function seen before it, and one per request still unanswered when the connection ends. We replay
  Zeek's script over our events and compare the lines (request function, reply function, IIN).
- Zeek's btest ``output`` of the DNP3 events: every ``dnp3_object_header`` (direction, object type,
  qualifier, number of points) in order, against our ``objects``, ``qualifiers`` and ``ranges``.
- ICSNPP's ``dnp3_control.log`` (every CROB: index, trip/close, operation, count, on/off time, status)
  and ``dnp3_objects.log`` (object type, count and range of each header) against our points and headers.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.peers.events_peer import CORPUS, our_messages
from zonewarden.protocols.dnp3.codes import CONTROL_OPERATIONS, CONTROL_TRIP_CLOSE, function_name

DNP3_LOGS = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob("dnp3/**/dnp3.log"))
OUTPUTS = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob("dnp3/**/zeek-builtin/*/output"))
ICSNPP = "dnp3/cisagov-icsnpp-dnp3/dnp3_example.pcap"
ICSNPP_LOGS = CORPUS / f"{ICSNPP}.expected/zeek-icsnpp/icsnpp-dnp3__analyzer.basic"

# ICSNPP's object table (scripts/consts.zeek dnp3_objects): headers of other objects are not logged.
ICSNPP_KNOWN = frozenset(
    {(g, v) for g in (1, 2, 3, 4) for v in range(4)} | {(10, v) for v in range(3)} | {(11, v) for v in range(3)}
    | {(20, v) for v in range(9)} | {(21, v) for v in range(13)} | {(g, v) for g in (22, 23) for v in range(9)}
    | {(30, v) for v in range(7)} | {(31, v) for v in range(1, 9)} | {(32, v) for v in range(9)}
    | {(33, v) for v in range(1, 9)} | {(40, v) for v in range(5)} | {(41, v) for v in range(1, 5)}
    | {(42, v) for v in range(9)} | {(60, v) for v in range(1, 5)}) - {(1, 3), (10, 3), (11, 3)}
# ICSNPP object type names of the objects in its logs.
ICSNPP_OBJECTS = {
    "Class 0 Data": "g60v1", "Class 1 Data": "g60v2", "Class 2 Data": "g60v3", "Class 3 Data": "g60v4",
    "Binary Input With Status": "g1v2", "Binary Output Status": "g10v2", "16-Bit Analog Input": "g30v2",
    "16-Bit Analog Output Status": "g40v2",
}


def _capture(log_rel: str) -> str:
    return log_rel.split(".expected/")[0]


def zeek_log(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log as {field: value} ('-' unset)."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


@cache
def _events(rel: str) -> list[dict[str, Any]]:
    """Our message events of a capture, in frame order."""
    ours = our_messages(CORPUS / rel, "dnp3")
    return [e for frame in sorted(ours) for e in ours[frame] if e["function_code"] is not None]


def _zeek_name(code: int) -> str:
    name = function_name(code)
    return name if name.startswith("unknown") else name.upper()


Line = tuple[str, str, str]
Endpoints = frozenset[tuple[str, str]]


def replay_dnp3_log(events: list[dict[str, Any]]) -> dict[Endpoints, list[Line]]:
    """Zeek's base/protocols/dnp3/main.zeek over our events, per connection: a request sets fc_request,
    a response writes the line (and clears it), a request left pending is written when the connection
    ends (so lines are compared connection by connection: Zeek interleaves connections by end time)."""
    pending: dict[Endpoints, str] = {}
    lines: dict[Endpoints, list[Line]] = {}
    for e in events:
        conn = frozenset({(e["src"], str(e["sport"])), (e["dst"], str(e["dport"]))})
        if e["is_response"]:
            lines.setdefault(conn, []).append(
                (pending.pop(conn, "-"), _zeek_name(e["function_code"]), str(e["iin"])))
        else:
            pending[conn] = _zeek_name(e["function_code"])
    for conn, request in pending.items():
        lines.setdefault(conn, []).append((request, "-", "-"))
    return lines


@pytest.mark.parametrize("log", DNP3_LOGS)
def test_dnp3_log_agrees(log: str) -> None:
    theirs: dict[Endpoints, list[Line]] = {}
    rows = zeek_log(CORPUS / log)
    for r in rows:
        conn = frozenset({(r["id.orig_h"], r["id.orig_p"]), (r["id.resp_h"], r["id.resp_p"])})
        theirs.setdefault(conn, []).append((r["fc_request"], r["fc_reply"], r["iin"]))
    assert rows
    assert replay_dnp3_log(_events(_capture(log))) == theirs


def _object_headers(events: list[dict[str, Any]]) -> list[tuple[bool, int, int, int]]:
    out = []
    for e in events:
        for name, qualifier, rng in zip(e["objects"], e["qualifiers"], e["ranges"], strict=False):
            group, variation = (int(x) for x in name[1:].split("v"))
            count = rng[1] - rng[0] + 1 if len(rng) == 2 else (rng[0] if rng else 0)
            out.append((not e["is_response"], group << 8 | variation, qualifier, count))
    return out


@pytest.mark.parametrize("output", OUTPUTS)
def test_zeek_object_headers_agree(output: str) -> None:
    theirs = []
    for line in (CORPUS / output).read_text().splitlines():
        if line.startswith("dnp3_object_header, "):
            _, is_orig, obj_type, qualifier, number, *_ = line.split(", ")
            theirs.append((is_orig == "T", int(obj_type), int(qualifier), int(number)))
    assert theirs, "the baseline has object headers"
    assert _object_headers(_events(_capture(output))) == theirs


def test_icsnpp_crobs_agree() -> None:
    theirs = Counter(
        (r["is_orig"] == "T", r["function_code"], int(r["index_number"]), r["trip_control_code"], r["operation_type"],
         r["clear_bit"] == "T", int(r["execute_count"]), int(r["on_time"]), int(r["off_time"]),
         None if r["status_code"] == "-" else r["status_code"])
        for r in zeek_log(ICSNPP_LOGS / "dnp3_control.log"))
    status_names = {0: "Success"}
    ours: Counter[tuple[Any, ...]] = Counter()
    for e in _events(ICSNPP):
        for p in e["points"] or []:
            if p.object != "g12v1":
                continue
            code = p.control_code
            ours[(not e["is_response"], _zeek_name(e["function_code"]), p.index,
                  CONTROL_TRIP_CLOSE[code >> 6].capitalize(), CONTROL_OPERATIONS[code & 0x0F].replace("_", " ").title(),
                  bool(code & 0x20), p.count, p.on_time, p.off_time,
                  status_names.get(p.status, str(p.status)) if e["is_response"] else None)] += 1
    assert sum(theirs.values()) > 500
    assert ours == theirs


def test_icsnpp_object_headers_agree() -> None:
    theirs: Counter[tuple[Any, ...]] = Counter()
    for r in zeek_log(ICSNPP_LOGS / "dnp3_objects.log"):
        count = None if r["object_count"] == "-" else int(r["object_count"])
        low = None if r["range_low"] == "-" else int(r["range_low"])
        high = None if r["range_high"] == "-" else int(r["range_high"])
        theirs[(r["is_orig"] == "T", r["function_code"], ICSNPP_OBJECTS[r["object_type"]], count, low, high)] += 1
    # ICSNPP logs the headers of READ requests (name only) and RESPONSE responses (with Zeek's count and
    # range) of the objects in its table (scripts/main.zeek dnp3_object_header).
    ours: Counter[tuple[Any, ...]] = Counter()
    for e in _events(ICSNPP):
        function = _zeek_name(e["function_code"])
        if function != ("RESPONSE" if e["is_response"] else "READ"):
            continue
        for name, qualifier, rng in zip(e["objects"], e["qualifiers"], e["ranges"], strict=True):
            group, variation = (int(x) for x in name[1:].split("v"))
            if (group, variation) not in ICSNPP_KNOWN:
                continue
            if not e["is_response"]:
                ours[(True, function, name, None, None, None)] += 1
                continue
            assert qualifier in (0x00, 0x01), "only start/stop ranges are emulated"
            ours[(False, function, name, rng[1] - rng[0] + 1, rng[0], rng[1])] += 1
    assert sum(theirs.values()) > 500
    assert ours == theirs
