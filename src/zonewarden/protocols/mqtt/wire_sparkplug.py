"""Sparkplug B (Eclipse Sparkplug 3.0) over MQTT: the topic namespace and the payload
(``org.eclipse.tahu.protobuf.Payload``, protobuf 2). Pure.

The payload is walked with a bounded protobuf reader (varints, fixed32/64, length-delimited fields; groups,
which Sparkplug never uses, are malformed). Of each metric only its name, datatype and a string, integer or
boolean value are read; floats, bytes, datasets, templates, metadata and property sets are skipped.

Raises Malformed when the bytes cannot be a Sparkplug payload, a complete payload that ends inside a field
included; of a payload known to be cut short (the head of a large PUBLISH) the metrics before the cut are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.mqtt.codes import SPARKPLUG_NAMESPACE, SPARKPLUG_SIGNED_BITS

MetricValue = str | int | bool
# Caps on what one payload may make us keep and walk.
MAX_METRICS = 256  # metrics kept (by name)
MAX_WALKED = 65_536  # metrics walked
MAX_TEXT = 256  # characters kept of a metric name or string value
_VARINT_BYTES = 10  # a 64-bit protobuf varint
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_FIXED = {_FIXED64: 8, _FIXED32: 4}
# Payload fields (sparkplug_b.proto): 1 timestamp, 2 metrics, 3 seq, 4 uuid, 5 body.
PAYLOAD_METRICS = 2
# Metric fields: 1 name, 4 datatype, 7 is_null, and the value oneof: 10 int_value (uint32), 11 long_value
# (uint64), 14 boolean_value, 15 string_value.
METRIC_NAME, METRIC_DATATYPE, METRIC_IS_NULL = 1, 4, 7
METRIC_INT, METRIC_LONG, METRIC_BOOLEAN, METRIC_STRING = 10, 11, 14, 15


@dataclass(frozen=True, slots=True)
class Sparkplug:
    group: str | None
    message_type: str
    edge_node: str | None
    device: str | None
    host_id: str | None


def parse_sparkplug(topic: str) -> Sparkplug | None:
    """A Sparkplug B topic: spBv1.0/group/type/edge_node[/device], or spBv1.0/STATE/host_id."""
    levels = topic.split("/")
    if levels[0] != SPARKPLUG_NAMESPACE:
        return None
    if len(levels) == 3 and levels[1] == "STATE":
        return Sparkplug(None, "STATE", None, None, levels[2])
    if len(levels) in (4, 5):
        return Sparkplug(levels[1], levels[2], levels[3], levels[4] if len(levels) == 5 else None, None)
    return None


@dataclass(slots=True)
class SparkplugPayload:
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    """Named metrics with a string, integer or boolean value (the first MAX_METRICS, first of a repeated name)."""
    metric_count: int = 0
    """Metrics walked (with or without a name or kept value)."""


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 7 * _VARINT_BYTES, 7):  # progress: one byte per pass, ten passes at most
        if pos >= end:
            raise NeedMoreData("varint incomplete")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFF_FFFF_FFFF_FFFF, pos
    raise Malformed(f"varint longer than {_VARINT_BYTES} bytes")


def _fields(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field in data[pos:end]: an int for varints, bytes otherwise."""
    while pos < end:  # progress: every pass consumes a key and its value, or raises
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Malformed("protobuf field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos, end)
            yield number, wire, value
            continue
        if wire == _BYTES:
            size, pos = _varint(data, pos, end)
        elif wire in _FIXED:
            size = _FIXED[wire]
        else:
            raise Malformed(f"field {number}: wire type {wire} (groups) not used by Sparkplug")
        if pos + size > end:
            raise NeedMoreData(f"field {number}: {size} bytes needed, {end - pos} left")
        yield number, wire, data[pos : pos + size]
        pos += size


def _int(value: int | bytes, what: str) -> int:
    if not isinstance(value, int):
        raise Malformed(f"{what}: a varint expected")
    return value


def _text(value: int | bytes, what: str) -> str:
    if isinstance(value, int):
        raise Malformed(f"{what}: a length-delimited string expected")
    return value[: 4 * MAX_TEXT].decode("utf-8", errors="replace")[:MAX_TEXT]


def _signed(value: int, datatype: int | None) -> int:
    """Int8..Int64 travel as two's complement in the unsigned int_value/long_value."""
    bits = SPARKPLUG_SIGNED_BITS.get(datatype or 0)
    if bits is None:
        return value
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _metric(raw: bytes) -> tuple[str | None, MetricValue | None]:
    """A Metric message: its name and its string, integer or boolean value (None: another kind or null)."""
    name: str | None = None
    datatype: int | None = None
    value: MetricValue | None = None
    is_null = False
    try:
        for number, _wire, v in _fields(raw, 0, len(raw)):
            if number == METRIC_NAME:
                name = _text(v, "metric name")
            elif number == METRIC_DATATYPE:
                datatype = _int(v, "metric datatype")
            elif number == METRIC_IS_NULL:
                is_null = bool(_int(v, "metric is_null"))
            elif number in (METRIC_INT, METRIC_LONG):
                value = _int(v, "metric integer value")
            elif number == METRIC_BOOLEAN:
                value = bool(_int(v, "metric boolean value"))
            elif number == METRIC_STRING:
                value = _text(v, "metric string value")
    except NeedMoreData as exc:  # the metric's own length said it was all there
        raise Malformed(f"metric cut short: {exc}") from exc
    if is_null:
        return name, None
    if isinstance(value, int) and not isinstance(value, bool):
        value = _signed(value, datatype)
    return name, value


def parse_sparkplug_payload(data: bytes, complete: bool = True) -> SparkplugPayload:
    """The metrics of a Sparkplug B payload. ``complete``: False when ``data`` is only the head of a larger
    payload; the metrics before the cut are then returned, as they are when the walk cap is reached."""
    out = SparkplugPayload()
    try:
        for number, _wire, value in _fields(data, 0, len(data)):
            if number != PAYLOAD_METRICS:
                continue  # timestamp, seq, uuid, body and extensions
            if isinstance(value, int):
                raise Malformed("metrics: a length-delimited message expected")
            out.metric_count += 1
            if out.metric_count > MAX_WALKED:
                break
            name, metric_value = _metric(value)
            if (name and metric_value is not None and name not in out.metrics
                    and len(out.metrics) < MAX_METRICS):
                out.metrics[name] = metric_value
    except NeedMoreData:
        if complete:
            raise Malformed("payload ends inside a field") from None
    return out
