"""Application events: one typed record per protocol message, flat keys (the Event JSONL contract).

Every protocol defines its event as a subclass of ``Event``; the JSON schema in docs/events.md is
generated from these classes (``zonewarden schema``), so documentation and output cannot drift.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Event(msgspec.Struct, kw_only=True):
    """Fields every event carries."""

    ts: float
    """Packet time (epoch seconds, UTC) of the frame that completed the message."""
    proto: str
    """Protocol name, e.g. ``modbus``."""
    kind: str = "message"
    """``message`` for a protocol message, ``anomaly`` for a malformed or protocol-violating one."""
    src: str
    """Sender: IP address, or MAC address for layer-2 protocols."""
    dst: str
    """Receiver: IP address, or MAC address for layer-2 protocols."""
    sport: int | None
    """Sender's port (null for layer-2 protocols)."""
    dport: int | None
    """Receiver's port (null for layer-2 protocols)."""
    is_response: bool
    """True when the message answers a request (or comes from the server side)."""
    flow_id: str | None
    """The flow (``zonewarden flows``) the message belongs to; null for layer-2 protocols."""
    frame: int
    """Number of the frame that completed the message, 1-based as in Wireshark."""


class AnomalyEvent(Event, kw_only=True):
    """A message that violates its protocol; the analyzer resynchronised or gave the flow up."""

    kind: str = "anomaly"
    anomaly: str
    """``<proto>.<reason>``, e.g. ``modbus.length_mismatch``."""
    detail: str
    """Human-readable specifics (offsets, lengths, values)."""


def field_of(event: Any, name: str, default: Any = None) -> Any:
    """A field of an event object or of its dict form; ``default`` when the event type has no such field."""
    if isinstance(event, dict):
        return event.get(name, default)
    return getattr(event, name, default)
