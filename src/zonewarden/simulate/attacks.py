"""Attack scenarios: named, injectable at a chosen time, alone or combined.

A scenario is an actor whose phases emit the attacker's frames; each phase is a labelled step with its
MITRE ATT&CK for ICS techniques (ids checked against the ATT&CK for ICS 18.1 release). Where the attack
would change the plant (a stopped CPU, an opened breaker, a rewritten setpoint) it changes the simulated
process too, so the normal traffic around it shows the consequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from zonewarden.errors import ConfigError
from zonewarden.simulate.actors import US, Actor, Ctx
from zonewarden.simulate.link import Node
from zonewarden.simulate.site import AttackSpec, Device, Interface

# Every technique a scenario may carry, with its ATT&CK for ICS name (tests check both against the release).
TECHNIQUES = {
    "T0800": "Activate Firmware Update Mode", "T0801": "Monitor Process State", "T0804": "Block Reporting Message",
    "T0806": "Brute Force I/O", "T0812": "Default Credentials", "T0813": "Denial of Control",
    "T0814": "Denial of Service", "T0816": "Device Restart/Shutdown", "T0821": "Modify Controller Tasking",
    "T0830": "Adversary-in-the-Middle", "T0831": "Manipulation of Control", "T0836": "Modify Parameter",
    "T0843": "Program Download", "T0845": "Program Upload", "T0846": "Remote System Discovery",
    "T0848": "Rogue Master", "T0855": "Unauthorized Command Message", "T0856": "Spoof Reporting Message",
    "T0857": "System Firmware", "T0858": "Change Operating Mode", "T0859": "Valid Accounts",
    "T0861": "Point & Tag Identification", "T0864": "Transient Cyber Asset", "T0866": "Exploitation of Remote Services",
    "T0867": "Lateral Tool Transfer", "T0868": "Detect Operating Mode", "T0869": "Standard Application Layer Protocol",
    "T0882": "Theft of Operational Information", "T0886": "Remote Services",
    "T0888": "Remote System Information Discovery",
    "T0889": "Modify Program",
}
Phase = Callable[[int], int | None]


class Attack(Actor):
    """Phases run in order; each returns the time the next one starts (``None`` ends the scenario)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    default_at: ClassVar[float] = 0.5  # fraction of the capture
    attacker_default: ClassVar[str] = ""
    target_defaults: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: Ctx, spec: AttackSpec, at_us: int) -> None:
        self.ctx, self.spec = ctx, spec
        self.rng = ctx.rng(f"attack:{self.name}:{at_us}")
        self.next_us = at_us
        allowed = {"attacker", "targets", "target"} | set(self.extra_params())
        unknown = sorted(set(spec.params) - allowed)
        if unknown:
            raise ConfigError(f"attack {self.name}: unknown parameter(s) {', '.join(unknown)} "
                              f"(allowed: {', '.join(sorted(allowed))})")
        self.attacker = self.device(str(spec.params.get("attacker", self.attacker_default)))
        raw = spec.params.get("targets", spec.params.get("target", list(self.target_defaults)))
        names = [raw] if isinstance(raw, str) else list(raw)
        self.targets = [self.device(str(n)) for n in names]
        self.phases: list[Phase] = self.plan()

    def extra_params(self) -> tuple[str, ...]:
        return ()

    def device(self, name: str) -> Node:
        node = self.ctx.net.nodes.get(name)
        if node is None:
            raise ConfigError(f"attack {self.name}: no device named '{name}' in the site")
        return node

    def plan(self) -> list[Phase]:
        raise NotImplementedError

    def label(self, step: str, targets: Sequence[Node], techniques: Sequence[str], description: str) -> int:
        for t in techniques:
            if t not in TECHNIQUES:
                raise ValueError(f"unknown technique {t}")
        return self.ctx.labels.new(self.name, step, self.attacker, list(targets), list(techniques), description)

    def edge(self, server: Node, proto: str, transport: str, port: int, client: Node | None = None) -> None:
        self.ctx.edge(client or self.attacker, server, proto, transport, port, attack=self.name)

    def step(self) -> None:
        assert self.next_us is not None
        if not self.phases:
            self.next_us = None
            return
        phase = self.phases.pop(0)
        nxt = phase(self.next_us)
        self.next_us = None if nxt is None or not self.phases else nxt

    def think(self, lo_ms: float, hi_ms: float) -> int:
        return int(self.rng.uniform(lo_ms, hi_ms) * 1000)

    def new_device(self, name: str, network: str, ip: str, mac: str | None, vendor: str, product: str,
                   role: str = "it_host", os: str = "linux") -> Node:
        """A device the site did not have (a rogue laptop, an internet server), added to the truth."""
        net = self.ctx.site.networks[network]
        dev = Device(name, role, net.purdue_level, net.zone, mac, (Interface(network, ip),), vendor, product, "", "",
                     os, {}, (), None, f"brought by attack {self.name}")
        node = self.ctx.net.add(dev, self.ctx.seed)
        self.ctx.extra_assets.append((dev, self.name))
        return node


REGISTRY: dict[str, type[Attack]] = {}


def register(cls: type[Attack]) -> type[Attack]:
    REGISTRY[cls.name] = cls
    return cls


# Named bundles: the demo runs three attacks on the reference site; "all" runs every scenario.
BUNDLES = {
    "demo": ("recon-scan", "s7-stop", "modbus-setpoint"),
    "baseline": (),
}


def _load() -> None:
    # The scenario modules register themselves; imported here so the registry is complete before use.
    from zonewarden.simulate import attacks_grid, attacks_ics, attacks_it, attacks_net  # noqa: F401


def scenario_names() -> list[str]:
    _load()
    return sorted(REGISTRY)


def expand(names: str) -> list[AttackSpec]:
    """``--scenario`` value: names or bundles, comma-separated, each at its default time."""
    _load()
    out: list[AttackSpec] = []
    for raw in names.split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "all":
            out += [AttackSpec(n, None) for n in sorted(REGISTRY)]
        elif name in BUNDLES:
            out += [AttackSpec(n, None) for n in BUNDLES[name]]
        elif name in REGISTRY:
            out.append(AttackSpec(name, None))
        else:
            known = ", ".join(["all", *BUNDLES, *sorted(REGISTRY)])
            raise ConfigError(f"unknown scenario '{name}' (known: {known})")
    return out


def build(ctx: Ctx, specs: Sequence[AttackSpec]) -> list[tuple[Actor, str]]:
    _load()
    duration = ctx.end_us - ctx.start_us
    out: list[tuple[Actor, str]] = []
    for spec in specs:
        cls = REGISTRY.get(spec.scenario)
        if cls is None:
            raise ConfigError(f"unknown attack scenario '{spec.scenario}' (known: {', '.join(sorted(REGISTRY))})")
        at = spec.at if spec.at is not None else cls.default_at * duration / US
        out.append((cls(ctx, spec, ctx.start_us + int(at * US)), cls.name))
    return out
