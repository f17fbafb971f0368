"""What the inventory builder observes per address (and per edge) before addresses are grouped into assets.

Bounded where an attacker chooses: addresses per analysis (``Addresses``), evidence per address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zonewarden.model.assets import Evidence

MAX_EVIDENCE_PER_ASSET = 256
MAX_ADDRESSES = 1 << 17  # IP addresses, and MAC addresses, one analysis follows (each may become an asset)


@dataclass(slots=True)
class Seen:
    """When something was seen: the earliest and the latest packet time."""

    first: float | None = None
    last: float | None = None

    def seen(self, ts: float) -> None:
        self.first = ts if self.first is None else min(self.first, ts)
        self.last = ts if self.last is None else max(self.last, ts)

    def span(self, first: float, last: float) -> None:
        """``seen(first)`` then ``seen(last)``, in one step (the hot path: every conversation and sighting)."""
        lo, hi = (first, first) if self.first is None or self.last is None else (self.first, self.last)
        lo, hi = first if first < lo else lo, first if first > hi else hi
        self.first, self.last = last if last < lo else lo, last if last > hi else hi


@dataclass(slots=True)
class Facts(Seen):
    """Everything observed about one address (IP or MAC) before addresses are grouped into assets."""

    served: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    ports_served: set[int] = field(default_factory=set)
    sent: bool = False  # ever the source of a packet (a probed address that never answers has not)
    # Sent something a spoofer cannot forge blind (conversations.proofs, a protocol message); else how many
    # conversations it only tried to open.
    proven: bool = False
    attempts: int = 0
    client_ops: dict[str, int] = field(default_factory=dict)  # (a Counter costs 1 us to make: one per address)
    servers: set[str] = field(default_factory=set)
    polled: dict[str, set[str]] = field(default_factory=dict)  # application protocol -> servers asked
    ports_used: set[int] = field(default_factory=set)  # server ports it connected to that answered
    marks: set[str] = field(default_factory=set)  # what its messages revealed (roles.sender_marks)
    evidence: dict[tuple[str, str, str], Evidence] = field(default_factory=dict)

    def add(self, ev: Evidence) -> None:
        """Keep one piece of evidence per (attribute, value, protocol): the most confident, then the first."""
        key = (ev.attribute, repr(ev.value), ev.proto)
        kept = self.evidence.get(key)
        if kept is None:
            if len(self.evidence) < MAX_EVIDENCE_PER_ASSET:
                self.evidence[key] = ev
        elif ev.confidence > kept.confidence:
            self.evidence[key] = ev


class Addresses(dict[str, Facts]):
    """Facts per address, at most ``limit`` addresses (an attacker chooses source addresses): past it an
    address seen for the first time gets a throwaway record, so it becomes no asset and no edge, and is
    counted in ``refused``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.refused = 0  # lookups of addresses past the limit (not distinct addresses: those are not kept)

    def __missing__(self, address: str) -> Facts:
        facts = self.known(address)
        return Facts() if facts is None else facts

    def known(self, address: str) -> Facts | None:
        """``self[address]``, but None (and counted) where that would be a throwaway record: the hot paths of a
        flood skip making one per forged source (most of the time a conversation took in a SYN flood)."""
        facts = self.get(address)
        if facts is None:
            if len(self) >= self.limit:
                self.refused += 1
                return None
            facts = self[address] = Facts()
        return facts


@dataclass(slots=True)
class EdgeAcc(Seen):
    operations: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    flows: int = 0
    packets: int = 0
    bytes: int = 0
