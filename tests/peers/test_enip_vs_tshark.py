"""EtherNet/IP events agree with tshark's enip/cip/cipcm/cipio dissection, message by message.

tshark runs with ``-J`` so each layer keeps its subtrees (the request path, the CPF items, the
Connection Manager data), and with the IDMP dissector disabled: tshark 4.0 registers IDMP on TCP port
1102 and tries the lower port of a conversation first, so a client using source port 1102
(EIP-ControlProtocolChangeAttempt) would otherwise be dissected as X.519 IDMP instead of EtherNet/IP.

A frame's layers of one kind come in wire order but not every message has every layer, so they are
re-paired by message (``realign``) before the comparison.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.peers.events_peer import (
    CORPUS,
    Agreement,
    Layer,
    assert_corpus_agrees,
    assert_file_agrees,
    compare,
    corpus_files,
    our_messages,
    summarize,
    tshark_messages,
    unexplained,
)

LAYERS = ["enip", "cip", "cipcm", "cipio"]
EXTRA = ["-J", "frame " + " ".join(LAYERS), "--disable-protocol", "idmp", "-Y", "enip || cipio"]
# Every capture carrying EtherNet/IP: the enip-cip folder and Modbus's mb2.pcap (mixed plant traffic).
FILES = [*corpus_files("enip-cip"), "modbus/iti-ics-security-tools/mb2.pcap"]
IO_FILES = ["enip-cip/cisagov-icsnpp-enip/enip_cip_example.pcap", "enip-cip/ndpi/cip_io.pcap"]

# Every remaining difference, with the reason we are right or why the two legitimately differ.
EXCEPTIONS: dict[tuple[str, int], str] = {}
IO_EXCEPTIONS: dict[tuple[str, int], str] = {}


class _Null:
    """Expected value "null": tshark dissected the message and it has no such field."""

    def __eq__(self, other: object) -> bool:
        return other is None

    def __ne__(self, other: object) -> bool:
        return other is not None

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "null"


NULL = _Null()
Msg = dict[str, Layer]
Reader = Callable[[Msg], Any]


def _walk(tree: Any, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of a layer subtree, depth first in document order, not entering ``skip`` keys."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key.startswith(skip):
                continue
            yield key, value
            yield from _walk(value, skip)
    elif isinstance(tree, list):
        for value in tree:
            yield from _walk(value, skip)


def _first(tree: Any, name: str, skip: tuple[str, ...] = ()) -> Any:
    for key, value in _walk(tree, skip):
        if key == name:
            return value[0] if isinstance(value, list) else value
    return None


def _all(tree: Any, name: str, skip: tuple[str, ...] = ()) -> list[Any]:
    out: list[Any] = []
    for key, value in _walk(tree, skip):
        if key == name:
            out += value if isinstance(value, list) else [value]
    return out


def _int(value: Any) -> int | None:
    return int(value, 0) if isinstance(value, str) else None


def _subtree(layer: Layer, prefix: str) -> Any:
    return next((tree for key, tree in layer.items() if key.startswith(prefix)), None)


# ---- readers of one message's tshark layers


def _enip(name: str) -> Reader:
    return lambda m: _int(m["enip"].get("Encapsulation Header", {}).get(name))


def _sender_context(m: Msg) -> Any:
    header = m["enip"].get("Encapsulation Header", {})
    if "enip.listid_delay" in header:
        return None  # a ListIdentity request: tshark splits the context into a delay and 6 bytes
    return header.get("enip.context", "").replace(":", "")


def _cpf(m: Msg) -> list[tuple[str, dict[str, Any]]] | None:
    """The CPF items as (type id, item subtree); None when the message has no item list."""
    data = m["enip"].get("Command Specific Data")
    if not isinstance(data, dict) or "enip.cpf.itemcount" not in data:
        return None
    tree = data.get("enip.cpf.itemcount_tree", {})
    types, items = tree.get("enip.cpf.typeid", []), tree.get("enip.cpf.typeid_tree", [])
    types, items = (types, items) if isinstance(types, list) else ([types], [items])
    return list(zip(types, items, strict=True))


def _cpf_types(m: Msg) -> Any:
    items = _cpf(m)
    return NULL if items is None else [int(t, 0) for t, _ in items]


def _cpf_item(type_id: str, name: str) -> Reader:
    """A field of one CPF item (connected address, connected data); null when the message has none."""

    def read(m: Msg) -> Any:
        item = next((i for t, i in _cpf(m) or [] if t == type_id), None)
        return NULL if item is None or name not in item else _int(item[name])

    return read


def _list_identity(name: str) -> Reader:
    """A field of the ListIdentity item (not of a Forward Open reply's socket address items)."""

    def read(m: Msg) -> Any:
        item = next((i for t, i in _cpf(m) or [] if t == "0x000c"), None)
        if item is None:
            return None
        value = item.get(name, item.get("Socket Address", {}).get(name))
        return value if name in ("enip.lir.name", "enip.sinaddr") else _int(value)

    return read


def _sockaddr(type_id: str) -> Reader:
    def read(m: Msg) -> Any:
        item = next((i for t, i in _cpf(m) or [] if t == type_id), None)
        return NULL if item is None else f"{item['enip.sinaddr']}:{item['enip.sinport']}"

    return read


def _cip_service(m: Msg) -> Any:
    cip = m.get("cip")
    return NULL if cip is None else _int(cip.get("cip.service_tree", {}).get("cip.sc"))


def _path(name: str) -> Reader:
    """A field of the CIP layer's request path (requests, and replies tshark matched to a request)."""

    def read(m: Msg) -> Any:
        cip = m.get("cip")
        if cip is None:
            return NULL
        tree = _subtree(cip, "Request Path")
        if tree is None:
            return None  # a reply tshark did not match: it shows no path
        if name == "cip.symbol":
            symbols = _all(tree, "cip.symbol")
            return ".".join(symbols) if symbols else NULL
        value = _first(tree, name)
        return _int(value) if value is not None else NULL

    return read


def _status(name: str) -> Reader:
    def read(m: Msg) -> Any:
        cip = m.get("cip")
        if cip is None:
            return NULL
        tree = _subtree(cip, "Status")
        if tree is None:
            return NULL if cip.get("cip.service_tree", {}).get("cip.rr") == "0x00" else None
        value = _first(tree, name)
        return _int(value) if value is not None else NULL

    return read


def _replies(m: Msg) -> list[Any]:
    """The reply data subtrees of the message's own CIP reply (top level, or via the Connection Manager)."""
    return [tree for layer in (m.get("cip", {}), m.get("cipcm", {})) for key, tree in layer.items()
            if key.endswith("(Response)") and not key.startswith(("Multiple Service Packet", "Service:"))]


def _identity(lir: str, cip_id: str) -> Reader:
    """An identity field from a ListIdentity item or an Identity object reply (not inside an MSP)."""

    def read(m: Msg) -> Any:
        value = _list_identity(lir)(m)
        if value is None:
            value = next((v for tree in _replies(m) if (v := _first(tree, cip_id)) is not None), None)
            value = value if value is None or cip_id == "cip.id.product_name" else _int(value)
        return value

    return read


def _revision(m: Msg) -> Any:
    value = _list_identity("enip.lir.revision")(m)
    if value is None:
        for tree in _replies(m):
            major = _first(tree, "cip.id.major_rev")
            if major is not None:
                return int(major) * 256 + int(_first(tree, "cip.id.minor_rev"))
    return value


def _encap_version(m: Msg) -> Any:
    value = _list_identity("enip.encapver")(m)
    data = m["enip"].get("Command Specific Data")
    return value if value is not None or not isinstance(data, dict) else _int(data.get("enip.rs.version"))


def _cm(*names: str) -> Reader:
    """A Connection Manager field of the message itself (not of an embedded message)."""

    def read(m: Msg) -> Any:
        data = m.get("cipcm", {}).get("Command Specific Data", {})
        return next((_int(data[n]) for n in names if n in data), None)

    return read


def _epath(prefix: str) -> Reader:
    def read(m: Msg) -> Any:
        tree = _subtree(m.get("cipcm", {}).get("Command Specific Data", {}), prefix)
        return tree["cip.epath"].replace(":", "") if isinstance(tree, dict) and "cip.epath" in tree else None

    return read


def _embedded(name: str) -> Reader:
    """A field of an Unconnected Send's embedded request (requests only: replies do not repeat it)."""

    def read(m: Msg) -> Any:
        tree = m.get("cipcm", {}).get("Command Specific Data", {}).get("CIP Embedded Message Request")
        if not isinstance(tree, dict) or "cip" not in tree:
            return None
        if name != "cip.sc":
            tree = _subtree(tree["cip"], "Request Path")
        value = _first(tree, name)
        return _int(value) if value is not None else NULL

    return read


def _msp(name: str) -> Reader:
    """One field of every Multiple Service Packet entry (top level or embedded), as a list."""

    def read(m: Msg) -> Any:
        embedded = m.get("cipcm", {}).get("Command Specific Data", {}).get("CIP Embedded Message Request")
        for layer in (m.get("cip", {}), embedded.get("cip", {}) if isinstance(embedded, dict) else {}):
            tree = _subtree(layer, "Multiple Service Packet")
            if isinstance(tree, dict):
                entries = [v["cip"] for k, v in tree.items() if k.startswith("Service Packet #")]
                if name == "cip.sc":
                    return [_int(e.get("cip.service_tree", {}).get("cip.sc")) for e in entries]
                if name == "cip.genstat":
                    return [_int(_first(_subtree(e, "Status"), name)) for e in entries]
                return [_int(_first(_subtree(e, "Request Path"), name)) for e in entries]
        return None

    return read


FIELDS: dict[str, Reader] = {
    "command": _enip("enip.command"),
    "session": _enip("enip.session"),
    "encap_status": _enip("enip.status"),
    "sender_context": _sender_context,
    "cpf_types": _cpf_types,
    "connection_id": _cpf_item("0x00a1", "enip.cpf.cai.connid"),
    "cip_sequence": _cpf_item("0x00b1", "cip.seq"),
    "cip_service": _cip_service,
    "cip_class": _path("cip.class"),
    "cip_instance": _path("cip.instance"),
    "cip_attribute": _path("cip.attribute"),
    "cip_symbol": _path("cip.symbol"),
    "cip_status": _status("cip.genstat"),
    "cip_extended_status": _status("cip.addstat"),
    "vendor_id": _identity("enip.lir.vendor", "cip.id.vendor_id"),
    "device_type": _identity("enip.lir.devtype", "cip.id.device_type"),
    "product_code": _identity("enip.lir.prodcode", "cip.id.product_code"),
    "revision": _revision,
    "device_status": _identity("enip.lir.status", "cip.id.status"),
    "serial_number": _identity("enip.lir.serial", "cip.id.serial_number"),
    "product_name": _identity("enip.lir.name", "cip.id.product_name"),
    "device_state": _identity("enip.lir.state", "cip.id.state"),
    "encap_version": _encap_version,
    "socket_address": _list_identity("enip.sinaddr"),
    "socket_port": _list_identity("enip.sinport"),
    "capability_flags": lambda m: next((_int(i.get("enip.lsr.capaflags")) for t, i in _cpf(m) or [] if t == "0x0100"),
                                       None),
    "ot_sockaddr": _sockaddr("0x8000"),
    "to_sockaddr": _sockaddr("0x8001"),
    "ot_connection_id": _cm("cip.cm.ot_connid"),
    "to_connection_id": _cm("cip.cm.to_connid"),
    "connection_serial": _cm("cip.cm.conn_serial_num"),
    "originator_vendor_id": _cm("cip.cm.vendor"),
    "originator_serial": _cm("cip.cm.orig_serial_num"),
    "ot_rpi": _cm("cip.cm.otrpi", "cip.cm.otapi"),
    "to_rpi": _cm("cip.cm.torpi", "cip.cm.toapi"),
    "transport_type": _cm("cip.cm.transport_type_trigger"),
    "connection_path": _epath("Connection Path"),
    "route_path": _epath("Route Path"),
    "embedded_service": _embedded("cip.sc"),
    "embedded_class": _embedded("cip.class"),
    "embedded_instance": _embedded("cip.instance"),
    "embedded_attribute": _embedded("cip.attribute"),
    "msp_service_list": _msp("cip.sc"),
    "msp_class_list": _msp("cip.class"),
    "msp_instance_list": _msp("cip.instance"),
    "msp_status_list": _msp("cip.genstat"),
}


def _ours_msp(key: str) -> Callable[[dict[str, Any]], Any]:
    def read(event: dict[str, Any]) -> Any:
        services = event.get("msp_services")
        return None if services is None else [s.get(key) for s in services]

    return read


def _ours_embedded(key: str) -> Callable[[dict[str, Any]], Any]:
    def read(event: dict[str, Any]) -> Any:
        return None if event.get("embedded") is None else event["embedded"].get(key)

    return read


# Our values compared under names that are not event fields (nested records, combined fields).
DERIVED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "revision": lambda e: None if e["revision_major"] is None else e["revision_major"] * 256 + e["revision_minor"],
    "embedded_service": _ours_embedded("service"),
    "embedded_class": _ours_embedded("cip_class"),
    "embedded_instance": _ours_embedded("cip_instance"),
    "embedded_attribute": _ours_embedded("cip_attribute"),
    "msp_service_list": _ours_msp("service"),
    "msp_class_list": _ours_msp("cip_class"),
    "msp_instance_list": _ours_msp("cip_instance"),
    "msp_status_list": _ours_msp("cip_status"),
}


def ours(path: Path) -> dict[int, list[dict[str, Any]]]:
    frames = our_messages(path, "enip")
    for events in frames.values():
        for e in events:
            e["embedded"], e["msp_services"] = msgspec.to_builtins([e["embedded"], e["msp_services"]])
            for name, derive in DERIVED.items():
                e[name] = derive(e)
    return frames


def _carries_cip(enip: Layer) -> bool:
    return bool({"0x00b1", "0x00b2"} & set(_all(enip.get("Command Specific Data", {}), "enip.cpf.typeid")))


def _is_connection_manager(cip: Layer) -> bool:
    tree = _subtree(cip, "Request Path")
    return tree is not None and _first(tree, "cip.class") == "0x06"


def realign(msgs: list[Msg]) -> list[Msg]:
    """Re-pair a frame's layers by message: a cip layer belongs to the next message with a CIP data
    item, a cipcm layer to the next message whose CIP path addresses the Connection Manager."""
    cips = [m["cip"] for m in msgs if "cip" in m]
    cipcms = [m["cipcm"] for m in msgs if "cipcm" in m]
    out: list[Msg] = []
    for enip in (m["enip"] for m in msgs if "enip" in m):
        msg: Msg = {"enip": enip}
        if cips and _carries_cip(enip):
            msg["cip"] = cips.pop(0)
            if cipcms and _is_connection_manager(msg["cip"]):
                msg["cipcm"] = cipcms.pop(0)
        out.append(msg)
    return out


@cache
def _tshark(rel: str) -> dict[int, list[Msg]]:
    return tshark_messages(CORPUS / rel, LAYERS, EXTRA)


# How many messages gave each field a real (not null) expected value: a reader that never finds its
# field would make the agreement vacuous.
EXERCISED: Counter[str] = Counter()


def _counting(name: str, read: Reader) -> Reader:
    def counted(m: Msg) -> Any:
        value = read(m)
        if value is not None and value is not NULL:
            EXERCISED[name] += 1
        return value

    return counted


@cache
def agreement(rel: str) -> Agreement:
    """Explicit messages (the I/O datagrams, enip + cipio layers, are enip_io's)."""
    theirs = {f: realign(m) for f, m in _tshark(rel).items()
              if any("enip" in x for x in m) and not any("cipio" in x for x in m)}
    return compare(rel, ours(CORPUS / rel), theirs, {name: _counting(name, read) for name, read in FIELDS.items()})


@pytest.mark.peer
@pytest.mark.parametrize("rel", FILES)
def test_enip_file_agrees(rel: str) -> None:
    assert_file_agrees(agreement(rel), EXCEPTIONS)


@pytest.mark.peer
def test_enip_corpus_agreement() -> None:
    assert_corpus_agrees((agreement(rel) for rel in FILES), min_messages=30000)


@pytest.mark.peer
def test_every_compared_field_is_exercised() -> None:
    for rel in FILES:
        agreement(rel)
    assert set(EXERCISED) == set(FIELDS), sorted(set(FIELDS) - set(EXERCISED))


IO_FIELDS: dict[str, Reader] = {
    "connection_id": lambda m: _int(_first(m["enip"], "enip.cpf.sai.connid")),
    "sequence": lambda m: _int(_first(m["enip"], "enip.cpf.sai.seq")),
    "data_length": lambda m: len(m["cipio"].get("cipio.data", "").split(":")) if m["cipio"].get("cipio.data") else 0,
    "data": lambda m: m["cipio"].get("cipio.data", "").replace(":", ""),
}


@pytest.mark.peer
@pytest.mark.parametrize("rel", IO_FILES)
def test_enip_io_agrees(rel: str) -> None:
    theirs = {f: [x for x in m if "cipio" in x] for f, m in _tshark(rel).items() if any("cipio" in x for x in m)}
    result = compare(rel, our_messages(CORPUS / rel, "enip_io"), theirs, IO_FIELDS)
    print(summarize(result))
    assert result.compared == result.theirs > 0, summarize(result)
    assert not unexplained(result, IO_EXCEPTIONS), "\n".join(unexplained(result, IO_EXCEPTIONS))


# ---- CISA ICSNPP (Zeek) baselines. The corpus copies are btest baselines with the header lines
# stripped, so the columns are those of the icsnpp-enip logs at the baseline's commit (6f05f5a7).
ICSNPP = "enip-cip/cisagov-icsnpp-enip"
def _columns(text: str) -> list[str]:
    return text.split()


CONN = _columns("ts uid id.orig_h id.orig_p id.resp_h id.resp_p is_orig source_h source_p destination_h destination_p")
ICSNPP_COLUMNS = {
    "enip.log": CONN + _columns("enip_command_code enip_command length session_handle enip_status sender_context "
                                "options"),
    "cip.log": CONN + _columns("cip_sequence_count direction cip_service_code cip_service cip_status_code cip_status "
                               "cip_extended_status_code cip_extended_status class_id class_name instance_id "
                               "attribute_id"),
    "cip_io.log": CONN + _columns("connection_id sequence_number data_length io_data"),
    "cip_identity.log": CONN + _columns("encapsulation_version socket_address socket_port vendor_id vendor_name "
                                        "device_type_id device_type_name product_code revision device_status "
                                        "serial_number product_name device_state"),
}
BASELINES = {
    "enip_cip_example.pcap": "enip_cip_example.pcap.expected/zeek-icsnpp/icsnpp-enip__analyzer.basic",
    "multiple_service_packet_cip.pcapng":
        "multiple_service_packet_cip.pcapng.expected/zeek-icsnpp/icsnpp-enip__analyzer.multiple_service_request",
}


def zeek_rows(capture: str, log: str) -> list[dict[str, str]] | None:
    path = CORPUS / ICSNPP / BASELINES[capture] / log
    if not path.exists():
        return None
    columns = ICSNPP_COLUMNS[log]
    rows = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines() if not line.startswith("#")]
    assert all(len(r) == len(columns) for r in rows), f"{path}: unexpected column count"
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _in_order(frames: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [e for frame in sorted(frames) for e in frames[frame]]


def _hex(value: int | None, width: int = 2) -> str:
    return "-" if value is None else f"0x{value:0{width}x}"


def _cip_rows(event: dict[str, Any]) -> list[tuple[str, ...]]:
    """Our event as ICSNPP's cip.log rows: the message, then one row per Multiple Service Packet entry
    (ICSNPP logs the path of requests only)."""
    seq = str(event["cip_sequence"]) if event["cip_sequence"] else "-"
    reply = event["is_response"]
    entries = [(event["cip_service"], event["cip_status"], event["cip_class"], event["cip_instance"],
                event["cip_attribute"])]
    entries += [(s["service"], s.get("cip_status"), s.get("cip_class"), s.get("cip_instance"), s.get("cip_attribute"))
                for s in event["msp_services"] or []]
    return [(seq, "response" if reply else "request", _hex(service), _hex(status) if reply else "-",
             "-" if reply else _hex(cls), "-" if reply else _hex(instance), "-" if reply else _hex(attribute))
            for service, status, cls, instance, attribute in entries]


@pytest.mark.peer
@pytest.mark.parametrize("capture", sorted(BASELINES))
def test_enip_and_cip_logs_agree_with_icsnpp(capture: str) -> None:
    events = _in_order(ours(CORPUS / ICSNPP / capture))
    enip = zeek_rows(capture, "enip.log")
    assert enip is not None and len(enip) == len(events)
    for row, e in zip(enip, events, strict=True):
        assert (row["source_h"], int(row["enip_command_code"], 16), int(row["session_handle"], 16),
                row["sender_context"]) == (e["src"], e["command"], e["session"], "0x" + e["sender_context"])
        assert row["enip_status"] == "Success" and e["encap_status"] == 0
    cip = zeek_rows(capture, "cip.log")
    assert cip is not None
    expected = [(r["cip_sequence_count"], r["direction"], r["cip_service_code"], r["cip_status_code"], r["class_id"],
                 r["instance_id"], r["attribute_id"]) for r in cip]
    assert [row for e in events if e["cip_service"] is not None for row in _cip_rows(e)] == expected


@pytest.mark.peer
def test_identity_and_io_logs_agree_with_icsnpp() -> None:
    capture = "enip_cip_example.pcap"
    identity = zeek_rows(capture, "cip_identity.log")
    assert identity is not None and len(identity) == 1
    row = identity[0]
    replies = [e for events in ours(CORPUS / ICSNPP / capture).values() for e in events
               if e["command"] == 0x63 and e["is_response"]]
    assert len(replies) == 1
    e = replies[0]
    assert (int(row["encapsulation_version"]), row["socket_address"], int(row["socket_port"]), int(row["vendor_id"]),
            row["vendor_name"], int(row["device_type_id"]), int(row["product_code"]), row["revision"],
            int(row["device_status"], 16), int(row["serial_number"], 16), row["product_name"],
            int(row["device_state"], 16)) == (
        e["encap_version"], e["socket_address"], e["socket_port"], e["vendor_id"], e["vendor_name"],
        e["device_type"], e["product_code"], f"{e['revision_major']}.{e['revision_minor']}", e["device_status"],
        e["serial_number"], e["product_name"], e["device_state"])
    io = zeek_rows(capture, "cip_io.log")
    assert io is not None
    mine = _in_order(our_messages(CORPUS / ICSNPP / capture, "enip_io"))
    assert [(int(r["connection_id"], 16), int(r["sequence_number"]), int(r["data_length"]), r["io_data"],
             r["source_h"]) for r in io] == [(e["connection_id"], e["sequence"], e["data_length"], e["data"], e["src"])
                                              for e in mine]
