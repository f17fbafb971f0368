"""The simulation loop: actors stepped in time order, frames merged by time and streamed to disk.

Memory stays bounded: the engine works through simulated time in slices; after every actor has acted up to
the end of a slice, no earlier frame can appear any more, so the frames before it are written and dropped.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from zonewarden.errors import ConfigError
from zonewarden.simulate import attacks
from zonewarden.simulate.actors import US, Actor, Ctx, Labels
from zonewarden.simulate.background import background_actors
from zonewarden.simulate.drivers_grid import Dnp3Master, Iec104Master
from zonewarden.simulate.drivers_ics import EnipPoller, ModbusPoller, S7PlusPoller, S7Poller
from zonewarden.simulate.drivers_it import ItSession
from zonewarden.simulate.drivers_misc import (
    BacnetSupervisor,
    DcpDiscovery,
    MqttBroker,
    MqttEdgeNode,
    MqttSubscriber,
    OpcUaClient,
)
from zonewarden.simulate.link import NO_TAG, Net, Sink
from zonewarden.simulate.pcap_writer import PcapngStreamWriter, PcapStreamWriter
from zonewarden.simulate.physics import Plant
from zonewarden.simulate.site import AttackSpec, Site
from zonewarden.simulate.truth import truth

SLICE_US = 200_000
_POLLERS: dict[str, Callable[..., Actor]] = {
    "modbus": ModbusPoller, "s7comm": S7Poller, "s7comm_plus": S7PlusPoller, "enip": EnipPoller, "dnp3": Dnp3Master,
    "iec104": Iec104Master, "bacnet": BacnetSupervisor, "opcua": OpcUaClient,
}
_IT = ("dns", "ntp", "http", "https", "http_proxy", "smb", "rdp", "ldap", "kerberos", "pi", "ssh", "syslog")


@dataclass
class Result:
    frames: int
    seconds: float
    attacks: list[str]
    labels: list[dict[str, Any]]
    truth: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    late_frames: int = 0


def site_actors(ctx: Ctx) -> list[Actor]:
    """One actor per poll in the site, in file order (so the order, and thus the output, is stable)."""
    actors: list[Actor] = []
    brokers: dict[str, MqttBroker] = {}
    dcp_targets: dict[str, tuple[list[str], float]] = {}
    for dev in ctx.site.devices.values():
        client = ctx.node(dev.name)
        for poll in dev.polls:
            server = ctx.node(poll.server)
            if poll.proto in _POLLERS:
                actors.append(_POLLERS[poll.proto](ctx, client, server, poll))
            elif poll.proto in ("mqtt", "mqtt_sub"):
                broker = brokers.setdefault(poll.server, MqttBroker())
                kind = MqttEdgeNode if poll.proto == "mqtt" else MqttSubscriber
                actors.append(kind(ctx, client, server, poll, broker))
            elif poll.proto == "profinet_dcp":
                names, period = dcp_targets.get(dev.name, ([], poll.period))
                dcp_targets[dev.name] = ([*names, poll.server], min(period, poll.period))
            elif poll.proto in _IT:
                actors.append(ItSession(ctx, client, server, poll))
    for client_name, (names, period) in dcp_targets.items():
        actors.append(DcpDiscovery(ctx, ctx.node(client_name), [ctx.node(n) for n in names], period))
    return actors + background_actors(ctx)


def _open_writer(fh: BinaryIO, path: str) -> PcapStreamWriter | PcapngStreamWriter:
    return PcapngStreamWriter(fh) if path.endswith(".pcapng") else PcapStreamWriter(fh)


def simulate(site: Site, out: str | os.PathLike[str], *, scenarios: Sequence[AttackSpec] = (), seed: int = 1,
             duration_s: float = 300.0, rate_scale: float = 1.0, labels_path: str | os.PathLike[str] | None = None,
             truth_path: str | os.PathLike[str] | None = None) -> Result:
    """Simulate ``site`` for ``duration_s`` seconds with the given attacks; write the capture and the files."""
    if duration_s <= 0:
        raise ConfigError(f"--duration must be positive, got {duration_s}")
    if rate_scale <= 0:
        raise ConfigError(f"--rate-scale must be positive, got {rate_scale}")
    started = time.perf_counter()
    start_us = int(site.start.timestamp() * US)
    end_us = start_us + int(duration_s * US)
    sink = Sink()
    net = Net(site, sink, seed)
    net.end_us = end_us
    plant = Plant([d.process for d in site.devices.values() if d.process], start_us / US - 5, seed)
    ctx = Ctx(site, net, plant, seed, start_us, end_us, rate_scale, Labels())
    actors = site_actors(ctx)
    planned = attacks.build(ctx, [*site.attacks, *scenarios])
    actors += [a for a, _ in planned]
    queue = [(a.next_us, n, a) for n, a in enumerate(actors) if a.next_us is not None]
    heapq.heapify(queue)
    frames = 0
    slice_us = max(int(SLICE_US / max(rate_scale, 1.0)), 5_000)
    labels = ctx.labels
    try:
        fh = open(out, "wb", buffering=1 << 20)  # noqa: SIM115 - closed by the with below, after the check
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    with fh:
        writer = _open_writer(fh, str(out))
        write = writer.write
        horizon = start_us
        last_ts = start_us
        late = 0
        while queue or len(sink):
            horizon += slice_us
            while queue and queue[0][0] < horizon:
                due, n, actor = heapq.heappop(queue)
                actor.step()
                if actor.next_us is not None and actor.next_us < end_us:
                    # An actor never goes back in time: that would emit frames the writer has passed.
                    actor.next_us = max(actor.next_us, due + 1)
                    heapq.heappush(queue, (actor.next_us, n, actor))
            cutoff = min(horizon, end_us)
            for ts, _, frame, tag in sink.release(cutoff):
                if ts < last_ts:
                    late += 1  # a bug in an actor: counted (tests require none), written in order anyway
                    ts = last_ts
                last_ts = ts
                frames += 1
                write(ts, frame)
                if tag != NO_TAG:
                    labels.record(tag, frames, ts)
            if horizon >= end_us:
                break
    result = Result(frames, time.perf_counter() - started, [s for _, s in planned], [], {}, late_frames=late)
    result.labels = [_label_dict(s) for s in labels.steps if s.frames]
    result.warnings = [f"attack step {s.scenario}/{s.step} produced no frames before the capture ended"
                       for s in labels.steps if not s.frames]
    result.truth = truth(site, ctx, planned)
    if labels_path is not None:
        _write_text(labels_path, "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in result.labels))
    if truth_path is not None:
        _write_text(truth_path, json.dumps(result.truth, indent=1) + "\n")
    return result


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def _label_dict(step: Any) -> dict[str, Any]:
    return {"scenario": step.scenario, "step": step.step, "ts_start": step.ts_start / US, "ts_end": step.ts_end / US,
            "attacker": step.attacker, "targets": step.targets, "techniques": step.techniques,
            "frames": step.frames, "attacker_name": step.attacker_name, "target_names": step.target_names,
            "description": step.description}
