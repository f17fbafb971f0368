"""The process behind the controllers: simple physics stepped once a second, so values are plausible and
correlated (the intake pumps fill the clear well, the high-lift pumps drain it and load the MCC meters; a
tripped breaker drops its feeder current to zero).

Each process exposes points: analog values (with the integer scale protocols use), binary states and
writable setpoints. Protocol drivers only read points and write setpoints; they never see the physics.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

STEP_US = 1_000_000


@dataclass
class Point:
    name: str
    value: float
    scale: float = 1.0  # integer encodings carry round(value * scale)
    binary: bool = False
    writable: bool = False
    low: float = 0.0  # the range operators keep a setpoint in
    high: float = 0.0

    def as_int(self) -> int:
        return round(self.value * self.scale)


@dataclass
class Process:
    name: str
    points: list[Point] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    halted: bool = False  # the controller is in STOP: outputs de-energised, nothing computed

    def p(self, name: str) -> Point:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(name)

    def analogs(self) -> list[Point]:
        return [p for p in self.points if not p.binary]

    def binaries(self) -> list[Point]:
        return [p for p in self.points if p.binary]

    def setpoints(self) -> list[Point]:
        return [p for p in self.points if p.writable]

    def step(self, plant: Plant, t: float) -> None:
        raise NotImplementedError

    def halt(self) -> None:
        """A stopped CPU drops its outputs: motors stop, so whatever they drove falls to zero."""
        for point in self.points:
            if point.binary or any(k in point.name for k in ("flow", "speed", "current", "power", "rate")):
                point.value = 0.0


def _noise(rng: random.Random, scale: float) -> float:
    return rng.gauss(0.0, scale)


class Tank(Process):
    """Clear well: level falls with demand, the high-lift pumps start at the low setpoint and stop at the high."""

    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name, [
            Point("level_m", 3.1, 100), Point("inflow_ls", 180.0, 10), Point("outflow_ls", 150.0, 10),
            Point("discharge_kpa", 410.0, 1), Point("pump1_current_a", 0.0, 10),
            Point("level_high_sp", 4.2, 100, writable=True, low=3.5, high=4.6),
            Point("level_low_sp", 2.0, 100, writable=True, low=1.2, high=2.6),
            Point("pump1_run", 1.0, binary=True), Point("pump2_run", 0.0, binary=True),
            Point("auto_mode", 1.0, binary=True, writable=True), Point("high_alarm", 0.0, binary=True),
        ], rng)

    def step(self, plant: Plant, t: float) -> None:
        level, hi, lo = self.p("level_m"), self.p("level_high_sp"), self.p("level_low_sp")
        inflow = plant.value("intake", "flow_ls", 180.0)
        demand = 150 + 60 * math.sin(2 * math.pi * (t / 86400 - 0.3)) + _noise(self.rng, 2)
        p1, p2 = self.p("pump1_run"), self.p("pump2_run")
        if self.p("auto_mode").value:
            if level.value < lo.value:
                p1.value, p2.value = 0.0, 0.0
            elif level.value > hi.value:
                p1.value, p2.value = 1.0, 1.0
            elif level.value > (hi.value + lo.value) / 2 and not p1.value:
                p1.value = 1.0
        pumped = 140 * p1.value + 140 * p2.value
        out = min(demand, pumped) if pumped else 0.0
        # 2000 m^2 of surface: litres/s into metres/s.
        level.value = max(0.0, min(6.0, level.value + (inflow - out) / 1000 / 2000 * 60))
        self.p("inflow_ls").value = inflow
        self.p("outflow_ls").value = out
        self.p("discharge_kpa").value = 380 + 40 * (p1.value + p2.value) + _noise(self.rng, 1.5)
        self.p("pump1_current_a").value = (62 + _noise(self.rng, 0.6)) * p1.value
        self.p("high_alarm").value = float(level.value > 5.5)


class Intake(Process):
    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name, [
            Point("river_level_m", 2.4, 100), Point("flow_ls", 180.0, 10), Point("pump_speed_pct", 72.0, 10),
            Point("screen_dp_kpa", 3.0, 100), Point("turbidity_ntu", 14.0, 10),
            Point("speed_sp_pct", 72.0, 10, writable=True, low=40, high=95),
            Point("pump_a_run", 1.0, binary=True), Point("pump_b_run", 1.0, binary=True),
            Point("screen_wash", 0.0, binary=True),
        ], rng)

    def step(self, plant: Plant, t: float) -> None:
        speed = self.p("pump_speed_pct")
        speed.value += (self.p("speed_sp_pct").value - speed.value) * 0.1
        self.p("river_level_m").value = 2.4 + 0.2 * math.sin(t / 7200) + _noise(self.rng, 0.003)
        self.p("flow_ls").value = 2.5 * speed.value + _noise(self.rng, 1.0)
        dp = self.p("screen_dp_kpa")
        dp.value += 0.002 + _noise(self.rng, 0.001)
        wash = self.p("screen_wash")
        if dp.value > 6.0:
            wash.value = 1.0
        if wash.value:
            dp.value -= 0.5
            if dp.value < 2.5:
                wash.value = 0.0
        self.p("turbidity_ntu").value = max(1.0, 14 + _noise(self.rng, 0.3))


class Filter(Process):
    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name, [
            Point("filter_dp_kpa", 12.0, 100), Point("effluent_ntu", 0.12, 1000), Point("flow_ls", 170.0, 10),
            Point("backwash_sp_kpa", 25.0, 100, writable=True, low=18, high=30),
            Point("backwash", 0.0, binary=True), Point("inlet_valve_open", 1.0, binary=True),
        ], rng)

    def step(self, plant: Plant, t: float) -> None:
        dp, bw = self.p("filter_dp_kpa"), self.p("backwash")
        flow = plant.value("intake", "flow_ls", 170.0)
        self.p("flow_ls").value = flow * 0.98
        if bw.value:
            dp.value -= 1.5
            if dp.value <= 10:
                bw.value = 0.0
        else:
            dp.value += 0.02 * flow / 170 + _noise(self.rng, 0.005)
            if dp.value >= self.p("backwash_sp_kpa").value:
                bw.value = 1.0
        self.p("inlet_valve_open").value = 0.0 if bw.value else 1.0
        self.p("effluent_ntu").value = max(0.02, 0.1 + dp.value / 400 + _noise(self.rng, 0.005))


class Dosing(Process):
    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name, [
            Point("chlorine_mgl", 1.1, 100), Point("dose_rate_lh", 6.0, 10), Point("tank_level_pct", 78.0, 10),
            Point("residual_sp_mgl", 1.0, 100, writable=True, low=0.6, high=1.5),
            Point("dosing_pump_run", 1.0, binary=True), Point("low_level_alarm", 0.0, binary=True),
        ], rng)

    def step(self, plant: Plant, t: float) -> None:
        flow = plant.value("tank", "outflow_ls", 150.0)
        sp, cl, rate = self.p("residual_sp_mgl"), self.p("chlorine_mgl"), self.p("dose_rate_lh")
        rate.value = max(0.0, rate.value + (sp.value - cl.value) * 0.5)
        cl.value += (rate.value / max(flow, 1.0) * 25 - cl.value) * 0.05 + _noise(self.rng, 0.005)
        level = self.p("tank_level_pct")
        level.value = max(0.0, level.value - rate.value / 3600 / 10)
        self.p("low_level_alarm").value = float(level.value < 15)


class Meters(Process):
    """Three MCC power meters behind a Modbus gateway: the load follows the pumps."""

    def __init__(self, name: str, rng: random.Random) -> None:
        points = []
        for unit in (1, 2, 3):
            points += [Point(f"u{unit}_voltage_v", 400.0, 10), Point(f"u{unit}_current_a", 50.0, 10),
                       Point(f"u{unit}_power_kw", 30.0, 10), Point(f"u{unit}_energy_kwh", 120000.0 + unit * 777, 1)]
        super().__init__(name, points, rng)

    def step(self, plant: Plant, t: float) -> None:
        pumps = [plant.value("tank", "pump1_run", 1.0), plant.value("tank", "pump2_run", 0.0),
                 plant.value("intake", "pump_a_run", 1.0)]
        for unit, running in zip((1, 2, 3), pumps, strict=True):
            v = 400 + _noise(self.rng, 0.8)
            i = (62 if running else 1.5) + _noise(self.rng, 0.4)
            self.p(f"u{unit}_voltage_v").value = v
            self.p(f"u{unit}_current_a").value = i
            kw = 1.732 * v * i * 0.86 / 1000
            self.p(f"u{unit}_power_kw").value = kw
            self.p(f"u{unit}_energy_kwh").value += kw / 3600


class Vibration(Process):
    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name, [Point("pump1_vibration_mms", 2.4, 100), Point("pump1_bearing_c", 48.0, 10),
                                Point("pump2_vibration_mms", 0.1, 100), Point("pump2_bearing_c", 21.0, 10)], rng)

    def step(self, plant: Plant, t: float) -> None:
        for n, key in ((1, "pump1_run"), (2, "pump2_run")):
            running = plant.value("tank", key, 0.0)
            vib, temp = self.p(f"pump{n}_vibration_mms"), self.p(f"pump{n}_bearing_c")
            vib.value = max(0.05, (2.4 if running else 0.1) + _noise(self.rng, 0.08))
            temp.value += ((52 if running else 21) - temp.value) * 0.002


class Line(Process):
    """A packaging line: runs at the speed setpoint, stops for the shift change, counts and rejects."""

    def __init__(self, name: str, rng: random.Random, speed: float = 240.0) -> None:
        super().__init__(name, [
            Point("speed_ppm", speed, 1), Point("good_count", 51234.0, 1), Point("reject_count", 212.0, 1),
            Point("motor_temp_c", 41.0, 10), Point("speed_sp_ppm", speed, 1, writable=True, low=120, high=300),
            Point("running", 1.0, binary=True), Point("jam", 0.0, binary=True),
        ], rng)

    def step(self, plant: Plant, t: float) -> None:
        running, jam, speed = self.p("running"), self.p("jam"), self.p("speed_ppm")
        seconds_of_day = t % 86400
        shift_change = any(abs(seconds_of_day - h * 3600) < 90 for h in (6, 14, 22))
        if jam.value and self.rng.random() < 0.05:
            jam.value = 0.0
        elif not jam.value and self.rng.random() < 0.0005:
            jam.value = 1.0
        running.value = 0.0 if (shift_change or jam.value) else 1.0
        target = self.p("speed_sp_ppm").value if running.value else 0.0
        speed.value += (target - speed.value) * 0.3
        made = speed.value / 60
        self.p("good_count").value += made * 0.995
        self.p("reject_count").value += made * 0.005
        self.p("motor_temp_c").value += ((45 if running.value else 25) - self.p("motor_temp_c").value) * 0.01


class Feeders(Process):
    """Distribution feeders: breakers (closed = True) and currents that follow the daily load and the breakers.
    Now and then a fault trips a breaker, which recloses a few seconds later."""

    def __init__(self, name: str, rng: random.Random, feeders: int = 3, base_a: float = 180.0) -> None:
        points = [Point("bus_voltage_kv", 11.0, 1000), Point("frequency_hz", 50.0, 1000)]
        for n in range(1, feeders + 1):
            points.append(Point(f"f{n}_current_a", base_a * (0.8 + 0.1 * n), 10))
        for n in range(1, feeders + 1):
            points.append(Point(f"f{n}_breaker_closed", 1.0, binary=True))
        points.append(Point("transformer_temp_c", 58.0, 10))
        super().__init__(name, points, rng)
        self.feeders, self.base_a = feeders, base_a
        self._reclose: dict[int, float] = {}

    def step(self, plant: Plant, t: float) -> None:
        load = 0.75 + 0.25 * math.sin(2 * math.pi * (t / 86400 - 0.25))
        self.p("bus_voltage_kv").value = 11.0 - 0.15 * load + _noise(self.rng, 0.005)
        self.p("frequency_hz").value = 50.0 + _noise(self.rng, 0.004)
        for n in range(1, self.feeders + 1):
            breaker = self.p(f"f{n}_breaker_closed")
            if breaker.value and self.rng.random() < 1 / 5400:
                breaker.value = 0.0
                self._reclose[n] = t + self.rng.uniform(3, 8)
            elif not breaker.value and n in self._reclose and t >= self._reclose[n]:
                breaker.value = 1.0
                del self._reclose[n]
            current = self.base_a * (0.8 + 0.1 * n) * load + _noise(self.rng, 0.8)
            self.p(f"f{n}_current_a").value = current if breaker.value else 0.0
        self.p("transformer_temp_c").value += (40 + 30 * load - self.p("transformer_temp_c").value) * 0.001


class Hvac(Process):
    def __init__(self, name: str, rng: random.Random, setpoint: float = 21.0) -> None:
        super().__init__(name, [
            Point("space_temp_c", setpoint - 0.4, 10), Point("supply_temp_c", 16.0, 10),
            Point("outside_temp_c", 3.0, 10), Point("setpoint_c", setpoint, 10, writable=True, low=19, high=24),
            Point("fan_run", 1.0, binary=True), Point("heating", 1.0, binary=True),
        ], rng)

    def step(self, plant: Plant, t: float) -> None:
        outside = 3 + 4 * math.sin(2 * math.pi * (t / 86400 - 0.375))
        self.p("outside_temp_c").value = outside + _noise(self.rng, 0.05)
        space, sp = self.p("space_temp_c"), self.p("setpoint_c")
        heating = self.p("heating")
        heating.value = float(space.value < sp.value + (0.3 if heating.value else -0.3))
        space.value += (0.02 if heating.value else -0.015) + (outside - space.value) * 0.0002 + _noise(self.rng, 0.01)
        self.p("supply_temp_c").value = (32 if heating.value else 14) + _noise(self.rng, 0.1)


FACTORIES: dict[str, Callable[[str, random.Random], Process]] = {
    "tank": Tank, "intake": Intake, "filter": Filter, "dosing": Dosing, "meters": Meters, "vibration": Vibration,
    "packaging": Line, "filler": lambda n, r: Line(n, r, 180.0), "feeder1": Feeders,
    "feeder2": lambda n, r: Feeders(n, r, 2, 120.0), "substation": lambda n, r: Feeders(n, r, 4, 220.0),
    "ahu": Hvac, "zone": lambda n, r: Hvac(n, r, 22.0), "boiler": lambda n, r: Hvac(n, r, 70.0),
}


class Plant:
    """All processes of the site, advanced together in 1-second steps as simulated time goes by."""

    def __init__(self, names: list[str], start_s: float, seed: int) -> None:
        unknown = sorted(set(names) - set(FACTORIES))
        if unknown:
            raise KeyError(", ".join(unknown))
        self.processes = {n: FACTORIES[n](n, random.Random(f"{seed}:process:{n}")) for n in sorted(set(names))}
        self.t = start_s
        for _ in range(5):  # settle the coupled models before the first sample
            self._step()

    def _step(self) -> None:
        self.t += 1.0
        for proc in self.processes.values():
            if proc.halted:
                proc.halt()
            else:
                proc.step(self, self.t)

    def advance(self, t_us: int) -> None:
        while self.t * 1_000_000 + STEP_US <= t_us:
            self._step()

    def value(self, process: str, point: str, default: float) -> float:
        proc = self.processes.get(process)
        return default if proc is None else proc.p(point).value

    def get(self, name: str | None) -> Process | None:
        return None if name is None else self.processes.get(name)
