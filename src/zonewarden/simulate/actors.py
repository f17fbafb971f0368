"""What every traffic source shares: the simulation context, the actor protocol and the polling rhythm.

An actor is anything that sends traffic (a master polling a controller, a workstation's DNS lookups, an
attack step). The engine calls ``step()`` at ``next_us``; the actor emits its frames (possibly a little
later than ``next_us``, never earlier) and sets the next time, or ``None`` when it is done.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from zonewarden.simulate.link import NO_TAG, Net, Node
from zonewarden.simulate.physics import Plant, Point, Process
from zonewarden.simulate.site import PORTS, Device, Poll, Site

US = 1_000_000


@dataclass
class LabelStep:
    scenario: str
    step: str
    attacker: str
    targets: list[str]
    techniques: list[str]
    description: str
    attacker_name: str
    target_names: list[str]
    frames: list[int] = field(default_factory=list)
    ts_start: int | None = None
    ts_end: int | None = None


class Labels:
    """Attack steps and the frames they produced; a step's id is the tag its frames carry."""

    def __init__(self) -> None:
        self.steps: list[LabelStep] = []

    def new(self, scenario: str, step: str, attacker: Node, targets: list[Node], techniques: list[str],
            description: str) -> int:
        self.steps.append(LabelStep(scenario, step, attacker.ip, [t.ip for t in targets], techniques, description,
                                    attacker.name, [t.name for t in targets]))
        return len(self.steps) - 1

    def record(self, tag: int, frame_number: int, ts_us: int) -> None:
        s = self.steps[tag]
        s.frames.append(frame_number)
        if s.ts_start is None:
            s.ts_start = ts_us
        s.ts_end = ts_us


@dataclass
class Ctx:
    site: Site
    net: Net
    plant: Plant
    seed: int
    start_us: int
    end_us: int
    rate_scale: float
    labels: Labels
    # What attacks and background behaviours add to the truth: edges and (rogue or external) devices.
    extra_edges: list[dict[str, object]] = field(default_factory=list)
    extra_assets: list[tuple[Device, str | None]] = field(default_factory=list)

    def edge(self, client: Node, server: Node, proto: str, transport: str, port: int,
             attack: str | None = None) -> None:
        row: dict[str, object] = {"client": client.name, "server": server.name, "client_ip": client.ip,
                                  "server_ip": server.ip, "proto": proto, "transport": transport, "port": port}
        if attack is not None:
            row["attack"] = attack
        if row not in self.extra_edges:
            self.extra_edges.append(row)

    def rng(self, key: str) -> random.Random:
        # Seeding from a string hashes it with SHA-512: stable across runs and platforms, and each actor's
        # randomness is independent of every other's, so adding an actor does not reshuffle the rest.
        return random.Random(f"{self.seed}:{key}")

    def node(self, name: str) -> Node:
        return self.net.nodes[name]

    def process(self, dev: Device) -> Process | None:
        return self.plant.get(dev.process)

    def shift_times(self) -> list[int]:
        """Shift changes inside the capture, as epoch microseconds."""
        out = []
        start = datetime.fromtimestamp(self.start_us / US, tz=self.site.start.tzinfo)
        for day in (0, 1):
            for hhmm in self.site.shifts:
                h, m = (int(x) for x in hhmm.split(":"))
                t = start.replace(hour=h, minute=m, second=0, microsecond=0) + timedelta(days=day)
                us = int(t.timestamp()) * US
                if self.start_us <= us < self.end_us:
                    out.append(us)
        return out


class Actor:
    next_us: int | None = None

    def step(self) -> None:
        raise NotImplementedError


def server_port(poll: Poll) -> int:
    return poll.port if poll.port is not None else PORTS[poll.proto][1]


class Rhythm:
    """Cyclic timing of a master: a nominal grid at the period with a little timer jitter, so polls drift
    the way real ones do but never reorder."""

    def __init__(self, ctx: Ctx, rng: random.Random, period_s: float, first_within_s: float) -> None:
        self.period = max(int(period_s * US / ctx.rate_scale), 2_000)
        self.jitter = max(self.period // 50, 200)
        self.base = ctx.start_us + int(rng.uniform(0.05, max(first_within_s, 0.06)) * US)
        self.k = 0
        self.rng = rng

    def first(self) -> int:
        return self.base

    def next(self, after: int | None = None) -> int:
        """The next grid time, skipping those at or before ``after`` (polls missed while a device was away)."""
        self.k += 1
        if after is not None and self.base + self.k * self.period <= after + self.jitter:
            self.k = (after + self.jitter - self.base) // self.period + 1
        return self.base + self.k * self.period + self.rng.randrange(-self.jitter, self.jitter + 1)


def operator_writes(ctx: Ctx, rng: random.Random, client: Device, proc: Process | None) -> list[int]:
    """When an operator changes a setpoint from this HMI: a minute or two after each shift change, and now
    and then in between (on average every 20 minutes)."""
    if proc is None or not proc.setpoints() or client.role not in ("hmi", "scada_server"):
        return []
    times = [t + int(rng.uniform(40, 150) * US) for t in ctx.shift_times()]
    t = ctx.start_us
    while True:
        t += int(rng.expovariate(1 / 1200) * US)
        if t >= ctx.end_us:
            break
        times.append(t)
    return sorted(times)


def new_setpoint(rng: random.Random, proc: Process) -> tuple[int, Point]:
    """An in-range operator change, applied: which setpoint (index among the process's setpoints), now at its
    new value (a binary one, a mode switch, keeps its value: the write restates it)."""
    points = proc.setpoints()
    index = rng.randrange(len(points))
    point = points[index]
    if not point.binary:
        span = point.high - point.low
        value = min(point.high, max(point.low, point.value + rng.choice((-1, 1)) * span * rng.uniform(0.05, 0.2)))
        point.value = round(value, 2)
    return index, point


__all__ = ["NO_TAG", "US", "Actor", "Ctx", "LabelStep", "Labels", "Rhythm", "new_setpoint", "operator_writes",
           "server_port"]
