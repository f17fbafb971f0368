"""MQTT events agree with tshark's mqtt dissection packet by packet, and with Zeek's MQTT baseline logs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.peers.events_peer import (
    CORPUS,
    Agreement,
    Layer,
    assert_corpus_agrees,
    assert_file_agrees,
    compare,
    corpus_files,
    find_field,
    iterate,
    our_messages,
    tshark_messages,
)

PROTO = "mqtt"
FILES = corpus_files("mqtt")
# Every remaining difference, with the reason we are right or why the two legitimately differ.
EXCEPTIONS: dict[tuple[str, int], str] = {}


def _tshark(rel: str, path: Path) -> dict[int, list[dict[str, Layer]]]:
    # -J: the whole subtree (header flags, properties, subscription options live in child nodes)
    return tshark_messages(path, ["mqtt"], extra=["-J", "frame mqtt"])


def _get(msg: dict[str, Layer], key: str) -> Any:
    return find_field({"mqtt": msg.get("mqtt", {})}, key)


def _int(value: Any) -> int | None:
    return int(value, 0) if isinstance(value, str) and value else None


def _type(msg: dict[str, Layer]) -> int | None:
    return _int(_get(msg, "mqtt.msgtype"))


def _of(types: set[int], read: Callable[[dict[str, Layer]], Any]) -> Callable[[dict[str, Layer]], Any]:
    """Read a field only for the packet types that carry it (tshark reuses mqtt.topic, mqtt.msgid...)."""
    return lambda m: read(m) if _type(m) in types else None


def _flag(key: str) -> Callable[[dict[str, Layer]], bool | None]:
    return lambda m: None if (v := _get(m, key)) is None else v == "1"


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def _all(node: Any, key: str) -> list[Any]:
    """Every value of ``key`` in a tshark JSON tree, in document order (repeated keys become lists)."""
    out: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                out += v if isinstance(v, list) else [v]
            else:
                out += _all(v, key)
    elif isinstance(node, list):
        for item in node:
            out += _all(item, key)
    return out


def _ints(*keys: str) -> Callable[[dict[str, Layer]], list[int] | None]:
    def read(m: dict[str, Layer]) -> list[int] | None:
        for key in keys:
            values = _all(m.get("mqtt", {}), key)
            if values:
                return [int(v, 0) for v in values]
        return None
    return read


def _return_code(msg: dict[str, Layer]) -> int | None:
    keys = ("mqtt.conack.val", "mqtt.connack.reason_code", "mqtt.puback.reason_code", "mqtt.pubrec.reason_code",
            "mqtt.pubrel.reason_code", "mqtt.pubcomp.reason_code", "mqtt.disconnect.reason_code",
            "mqtt.auth.reason_code")
    return next((_int(v) for k in keys if (v := _get(msg, k)) is not None), None)


def _payload_length(msg: dict[str, Layer]) -> int | None:
    if _type(msg) != 3:
        return None
    payload = _get(msg, "mqtt.msg")
    return 0 if payload is None else (len(payload) + 1) // 3


FIELDS: dict[str, Any] = {
    "packet_type": _type,
    "qos": _of({3}, lambda m: _int(_get(m, "mqtt.qos"))),
    "retain": _of({3}, _flag("mqtt.retain")),
    "dup": _of({3}, _flag("mqtt.dupflag")),
    "packet_id": lambda m: _int(_get(m, "mqtt.msgid")),
    "topic": _of({3}, lambda m: _get(m, "mqtt.topic")),
    "payload_length": _payload_length,
    "client_id": _of({1}, lambda m: _get(m, "mqtt.clientid")),
    "protocol_name": lambda m: _get(m, "mqtt.protoname"),
    "protocol_level": _of({1}, lambda m: _int(_get(m, "mqtt.ver"))),
    "clean_session": _flag("mqtt.conflag.cleansess"),
    "keep_alive": lambda m: _int(_get(m, "mqtt.kalive")),
    "username": lambda m: _get(m, "mqtt.username"),
    "password_present": _flag("mqtt.conflag.passwd"),
    "will_topic": lambda m: _get(m, "mqtt.willtopic"),
    "session_present": _flag("mqtt.conack.flags.sp"),
    "return_code": _return_code,
    "topics": _of({8, 10}, lambda m: _as_list(_get(m, "mqtt.topic"))),
    "qos_levels": _of({8}, _ints("mqtt.sub.qos", "mqtt.subscription_options_qos")),
    "return_codes": _of({9, 11}, _ints("mqtt.suback.qos", "mqtt.suback.reason_code", "mqtt.unsuback.reason_code")),
}


def _agreement(rel: str, path: Path) -> Agreement:
    return compare(rel, our_messages(path, PROTO), _tshark(rel, path), FIELDS)


@pytest.fixture(scope="module")
def results() -> dict[str, Agreement]:
    return {rel: _agreement(rel, path) for rel, path in iterate(FILES)}


@pytest.mark.parametrize("rel", FILES)
def test_mqtt_file_agrees(rel: str, results: dict[str, Agreement]) -> None:
    assert_file_agrees(results[rel], EXCEPTIONS)


def test_mqtt_corpus_agreement(results: dict[str, Agreement]) -> None:
    assert_corpus_agrees(results.values(), 100)


# ---- Zeek's MQTT logs (mqtt_connect, mqtt_publish, mqtt_subscribe)

ZEEK_LOGS = sorted(p for p in CORPUS.glob("mqtt/**/*.expected/zeek-builtin/*/mqtt_*.log"))
_VERSIONS = {3: "3.1", 4: "3.1.1", 5: "5.0"}
_QOS = {0: "at most once", 1: "at least once", 2: "exactly once"}


def _zeek_log(log: Path) -> list[dict[str, str | None]]:
    """Rows of a Zeek TSV log keyed by its #fields header; '-' (unset) becomes None."""
    fields: list[str] = []
    rows = []
    for line in log.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append({k: (None if v == "-" else v) for k, v in zip(fields, line.split("\t"), strict=True)})
    return rows


def _zeek_view(kind: str, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Our events folded the way Zeek logs ``kind`` (connect, publish, subscribe)."""
    answers = {e["request_frame"]: e for e in events if e["request_frame"] is not None}
    out: list[tuple[Any, ...]] = []
    for e in events:
        conn = (e["dst"], e["dport"], e["src"], e["sport"]) if e["is_response"] else (
            e["src"], e["sport"], e["dst"], e["dport"])
        answer = answers.get(e["frame"])
        if kind == "connect" and e["packet_name"] == "CONNECT":
            status = answer["reason"] if answer else None
            out.append((*conn, e["protocol_name"], _VERSIONS.get(e["protocol_level"]), e["client_id"], status,
                        e["will_topic"]))
        elif kind == "publish" and e["packet_name"] == "PUBLISH":
            out.append((*conn, not e["is_response"], e["retain"], _QOS.get(e["qos"]), e["topic"],
                        e["payload_length"]))
        elif kind == "subscribe" and e["packet_name"] in ("SUBSCRIBE", "UNSUBSCRIBE"):
            granted = answer["return_codes"][0] if answer and answer["return_codes"] else None
            out.append((*conn, f"MQTT::{e['packet_name']}", tuple(e["topics"] or ()), tuple(e["qos_levels"] or ()),
                        granted, answer is not None))
    return out


def _zeek_rows(kind: str, rows: list[dict[str, str | None]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for r in rows:
        conn = (r["id.orig_h"], int(r["id.orig_p"] or 0), r["id.resp_h"], int(r["id.resp_p"] or 0))
        if kind == "connect":
            out.append((*conn, r["proto_name"], r["proto_version"], r["client_id"], r["connect_status"],
                        r["will_topic"]))
        elif kind == "publish":
            out.append((*conn, r["from_client"] == "T", r["retain"] == "T", r["qos"], r["topic"],
                        int(r["payload_len"] or 0)))
        else:
            qos = tuple(int(q) for q in (r["qos_levels"] or "").split(",") if q)
            granted = None if r["granted_qos_level"] is None else int(r["granted_qos_level"])
            out.append((*conn, r["action"], tuple((r["topics"] or "").split(",")), qos, granted, r["ack"] == "T"))
    return out


@pytest.mark.parametrize("log", ZEEK_LOGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mqtt_matches_zeek_log(log: Path) -> None:
    rel = str(log.relative_to(CORPUS)).split(".expected")[0]
    kind = log.stem.removeprefix("mqtt_")
    events = [e for frame, evs in sorted(our_messages(CORPUS / rel, PROTO).items()) for e in evs]
    theirs = _zeek_rows(kind, _zeek_log(log))
    assert theirs, f"no rows in {log}"
    assert sorted(_zeek_view(kind, events), key=repr) == sorted(theirs, key=repr)
