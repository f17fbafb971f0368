"""The substation's SCADA links: DNP3 (class polls plus unsolicited reporting) and IEC 60870-5-104
(general interrogation, then spontaneous transmission), both report-by-exception: a breaker operation or a
measurement leaving its deadband is reported when it happens, not at the next poll.
"""

from __future__ import annotations

from zonewarden.simulate import enc_dnp3 as dnp3
from zonewarden.simulate import enc_iec104 as iec
from zonewarden.simulate.actors import US, Actor, Ctx, Rhythm, server_port
from zonewarden.simulate.link import Node
from zonewarden.simulate.physics import Point, Process
from zonewarden.simulate.site import Poll
from zonewarden.simulate.tcp import TcpConn

CHECK_US = 1_000_000  # how often the outstation compares its points with what it last reported


class Exceptions:
    """Report-by-exception bookkeeping: binary changes and analog deadband crossings since the last report."""

    def __init__(self, proc: Process | None, deadband: float = 0.02) -> None:
        self.proc = proc
        self.deadband = deadband
        self.last: dict[str, float] = {p.name: p.value for p in proc.points} if proc else {}

    def changes(self) -> tuple[list[tuple[int, Point]], list[tuple[int, Point]]]:
        """(index, point) of changed binaries and of analogs beyond the deadband; marks them reported."""
        if self.proc is None:
            return [], []
        binaries, analogs = [], []
        for n, p in enumerate(self.proc.binaries()):
            if p.value != self.last[p.name]:
                binaries.append((n, p))
                self.last[p.name] = p.value
        for n, p in enumerate(self.proc.analogs()):
            old = self.last[p.name]
            if abs(p.value - old) > max(abs(old) * self.deadband, 1.0 / p.scale):
                analogs.append((n, p))
                self.last[p.name] = p.value
        return binaries, analogs


class Dnp3Master(Actor):
    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        self.ctx, self.client, self.server, self.poll = ctx, client, server, poll
        self.rng = ctx.rng(f"dnp3:{client.name}->{server.name}")
        opts = server.dev.protocols["dnp3"]
        self.outstation, self.master = int(opts.get("address", 10)), int(opts.get("master", 1))
        self.unsolicited = bool(opts.get("unsolicited", True))
        self.floats = bool(opts.get("floats", False))
        self.proc = ctx.process(server.dev)
        self.exc = Exceptions(self.proc)
        self.rhythm = Rhythm(ctx, self.rng, poll.period, 2.0)
        self.integrity_us = int(float(poll.options.get("integrity", 60)) * US / ctx.rate_scale)
        self.next_us = self.rhythm.first()
        self.next_poll = self.next_us
        self.next_integrity = 0
        self.conn: TcpConn | None = None
        self.seq = self.useq = self.tseq_m = self.tseq_o = 0
        self.unsolicited_on = False

    def _m(self, app: bytes) -> bytes:
        self.tseq_m += 1
        return dnp3.frames(app, self.outstation, self.master, from_master=True, transport_seq=self.tseq_m)

    def _o(self, app: bytes) -> bytes:
        self.tseq_o += 1
        return dnp3.frames(app, self.master, self.outstation, from_master=False, transport_seq=self.tseq_o)

    def _request(self, t: int, function: int, objects: bytes, reply_objects: bytes, *, con: bool = False,
                 iin: int = 0) -> int:
        assert self.conn is not None
        self.seq = (self.seq + 1) & 0x0F
        t = self.conn.exchange(t, self._m(dnp3.request(self.seq, function, objects)),
                               self._o(dnp3.response(self.seq, iin, reply_objects, con=con)),
                               int(self.rng.uniform(8, 35) * 1000), next_us=t if con else None)
        if con:
            t = self.conn.send(t + 2_000, True, self._m(dnp3.request(self.seq, dnp3.CONFIRM)))
        return t

    def _identity(self) -> bytes:
        dev, opts = self.server.dev, self.server.dev.protocols["dnp3"]
        return dnp3.device_attributes([
            (dnp3.ATTR_MANUFACTURER, dev.vendor), (dnp3.ATTR_PRODUCT_NAME, dev.product),
            (dnp3.ATTR_SOFTWARE_VERSION, dev.firmware), (dnp3.ATTR_HARDWARE_VERSION, str(opts.get("hardware", ""))),
            (dnp3.ATTR_SERIAL_NUMBER, dev.serial), (dnp3.ATTR_DEVICE_NAME, str(opts.get("device_name", dev.name))),
            (dnp3.ATTR_LOCATION, str(opts.get("location", "")))])

    def static_data(self) -> bytes:
        proc = self.proc
        if proc is None:
            return b""
        analogs = proc.analogs()
        values = (dnp3.analog_inputs_float(0, [p.value for p in analogs]) if self.floats
                  else dnp3.analog_inputs(0, [p.as_int() for p in analogs]))
        return dnp3.binary_inputs(0, [bool(p.value) for p in proc.binaries()]) + values

    def _events(self, t: int) -> bytes:
        binaries, analogs = self.exc.changes()
        ms = t // 1000
        out = b""
        if binaries:
            out += dnp3.binary_events([(n, bool(p.value), ms - self.rng.randrange(5, 200)) for n, p in binaries])
        if analogs:
            out += dnp3.analog_events([(n, p.as_int(), ms - self.rng.randrange(5, 500)) for n, p in analogs])
        return out

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        self.ctx.plant.advance(t)
        state = self.server.state
        reboot_until = state.get("dnp3_restart_until", 0)
        if reboot_until > t:
            # The outstation is rebooting: its TCP stack is gone, the old connection goes silent.
            self.conn = None
            self.next_us = reboot_until + int(self.rng.uniform(1, 4) * US)
            return
        if self.conn is None:
            restarted = reboot_until > 0
            state.pop("dnp3_restart_until", None)
            iin = dnp3.IIN_DEVICE_RESTART if restarted else 0
            self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
            t = self.conn.open(t)
            t = self._request(t + 2_000, dnp3.READ, dnp3.device_attribute_request(), self._identity(), iin=iin)
            t = self._request(t + 5_000, dnp3.READ, dnp3.class_poll((1, 2, 3, 0)), self.static_data(), con=False,
                              iin=iin)
            if restarted:
                # The master clears the restart indication, then re-enables reporting below.
                t = self._request(t + 5_000, dnp3.WRITE, dnp3.clear_restart(), b"")
                state.pop("dnp3_unsolicited_off", None)
            self.exc.changes()  # the integrity poll reported everything
            if self.unsolicited:
                t = self._request(t + 5_000, dnp3.ENABLE_UNSOLICITED, dnp3.class_poll((1, 2, 3)), b"")
                self.unsolicited_on = True
            self.next_integrity = t + self.integrity_us
            self.next_poll = self.rhythm.next(after=t)
        elif t >= self.next_poll:
            if t >= self.next_integrity:
                events = self._events(t)
                t = self._request(t, dnp3.READ, dnp3.class_poll((1, 2, 3, 0)), events + self.static_data(),
                                  con=bool(events))
                self.next_integrity = t + self.integrity_us
            else:
                events = self._events(t)
                iin = dnp3.IIN_CLASS1 if events else 0
                t = self._request(t, dnp3.READ, dnp3.class_poll((1, 2, 3)), events, con=bool(events), iin=iin)
            self.next_poll = self.rhythm.next(after=t)
        elif self.unsolicited_on and not state.get("dnp3_unsolicited_off"):
            events = self._events(t)
            if events:
                self.useq = (self.useq + 1) & 0x0F
                t = self.conn.send(t, False, self._o(dnp3.response(self.useq, dnp3.IIN_CLASS1, events, con=True,
                                                                   unsolicited=True)))
                t = self.conn.send(t + self.conn.latency + 3_000, True,
                                   self._m(dnp3.request(self.useq, dnp3.CONFIRM, uns=True)))
        self.next_us = max(min(self.next_poll, self.next_us + CHECK_US), t + 1_000)


class Iec104Master(Actor):
    W = 8  # the master acknowledges at the latest every w I-frames (IEC 60870-5-104 default)
    T2_US = 10_000_000  # ... or t2 = 10 s after the first unacknowledged one

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        self.ctx, self.client, self.server, self.poll = ctx, client, server, poll
        self.rng = ctx.rng(f"iec104:{client.name}->{server.name}")
        self.ca = int(server.dev.protocols["iec104"].get("common_address", 1))
        self.proc = ctx.process(server.dev)
        self.exc = Exceptions(self.proc, 0.01)
        self.rhythm = Rhythm(ctx, self.rng, poll.period, 2.0)
        self.next_us = self.rhythm.first()
        self.idle_until = 0
        self.conn: TcpConn | None = None
        self.ns_m = self.ns_o = 0
        self.unacked = 0
        self.unacked_since = 0

    def _o_iframe(self, t: int, asdu: bytes) -> int:
        assert self.conn is not None
        t = self.conn.send(t, False, iec.i_frame(self.ns_o, self.ns_m, asdu))
        self.ns_o = (self.ns_o + 1) & 0x7FFF
        if not self.unacked:
            self.unacked_since = t
        self.unacked += 1
        if self.unacked >= self.W:
            t = self._s(t + self.conn.latency + 500)
        return t + 300

    def _s(self, t: int) -> int:
        assert self.conn is not None
        self.unacked = 0
        return self.conn.send(t, True, iec.s_frame(self.ns_o))

    def _m_iframe(self, t: int, asdu: bytes) -> int:
        assert self.conn is not None
        t = self.conn.send(t, True, iec.i_frame(self.ns_m, self.ns_o, asdu))
        self.ns_m = (self.ns_m + 1) & 0x7FFF
        self.unacked = 0  # an I-frame from the master acknowledges too
        return t

    def points(self) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
        proc = self.proc
        if proc is None:
            return [], []
        dps = [(1001 + n, iec.double_point(iec.DP_ON if p.value else iec.DP_OFF)) for n, p in
               enumerate(proc.binaries())]
        mes = [(2001 + n, iec.short_float(p.value)) for n, p in enumerate(proc.analogs())]
        return dps, mes

    def interrogation(self, t: int, originator: int = 0) -> int:
        assert self.conn is not None
        ca = self.ca
        t = self._m_iframe(t, iec.asdu(iec.C_IC_NA_1, iec.COT_ACT, ca, [(0, iec.interrogation())],
                                       originator=originator))
        t += self.conn.latency + int(self.rng.uniform(5, 20) * 1000)
        t = self._o_iframe(t, iec.asdu(iec.C_IC_NA_1, iec.COT_ACTCON, ca, [(0, iec.interrogation())],
                                       originator=originator))
        dps, mes = self.points()
        for type_id, objects in ((iec.M_DP_NA_1, dps), (iec.M_ME_NC_1, mes)):
            if objects:
                t = self._o_iframe(t + 2_000, iec.asdu(type_id, iec.COT_INROGEN, ca, objects, originator=originator))
        t = self._o_iframe(t + 2_000, iec.asdu(iec.C_IC_NA_1, iec.COT_ACTTERM, ca, [(0, iec.interrogation())],
                                               originator=originator))
        return self._s(t + self.conn.latency + 20_000)

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        self.ctx.plant.advance(t)
        if self.conn is None:
            self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
            t = self.conn.open(t)
            t = self.conn.exchange(t + 1_000, iec.u_frame(iec.STARTDT_ACT), iec.u_frame(iec.STARTDT_CON), 3_000,
                                   next_us=t)
            t = self.interrogation(t + 5_000)
            t = self._m_iframe(t + 10_000, iec.asdu(iec.C_CS_NA_1, iec.COT_ACT, self.ca,
                                                    [(0, iec.cp56time2a(t // 1000))]))
            t = self._o_iframe(t + self.conn.latency + 5_000,
                               iec.asdu(iec.C_CS_NA_1, iec.COT_ACTCON, self.ca, [(0, iec.cp56time2a(t // 1000))]))
            self.exc.changes()
            self.idle_until = self.rhythm.next(after=t)
            self.next_us = t + CHECK_US
            return
        binaries, analogs = self.exc.changes()
        ms = t // 1000
        for n, p in binaries:
            element = iec.double_point(iec.DP_ON if p.value else iec.DP_OFF) + iec.cp56time2a(ms - 40)
            t = self._o_iframe(t, iec.asdu(iec.M_DP_TB_1, iec.COT_SPONTANEOUS, self.ca, [(1001 + n, element)]))
        if analogs:
            objects = [(2001 + n, iec.short_float(p.value) + iec.cp56time2a(ms)) for n, p in analogs]
            t = self._o_iframe(t, iec.asdu(iec.M_ME_TF_1, iec.COT_SPONTANEOUS, self.ca, objects))
        if self.unacked and t - self.unacked_since >= self.T2_US:
            t = self._s(t + 1_000)
        if binaries or analogs:
            self.idle_until = t + self.rhythm.period
        elif t >= self.idle_until:
            # t3 expired with nothing sent: test the link, and acknowledge anything outstanding.
            if self.unacked:
                t = self._s(t)
            t = self.conn.exchange(t + 1_000, iec.u_frame(iec.TESTFR_ACT), iec.u_frame(iec.TESTFR_CON), 2_000,
                                   next_us=t)
            self.idle_until = self.rhythm.next(after=t)
        self.next_us = max(self.next_us + CHECK_US, t + 1_000)
