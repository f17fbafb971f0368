"""Attacks on the substation: DNP3 disable-unsolicited and cold restart, and an Industroyer-like IEC 104
sequence (interrogation, then switching commands across the information object addresses)."""

from __future__ import annotations

from zonewarden.simulate import enc_dnp3 as dnp3
from zonewarden.simulate import enc_iec104 as iec
from zonewarden.simulate.actors import US
from zonewarden.simulate.attacks import Attack, Phase, register
from zonewarden.simulate.tcp import TcpConn

RESTART_US = 12 * US  # how long the RTU is gone after a cold restart


@register
class Dnp3Restart(Attack):
    name = "dnp3-restart"
    summary = "Rogue DNP3 master disables unsolicited reporting, then cold-restarts the outstation"
    default_at = 0.55
    attacker_default = "ews-1"
    target_defaults = ("rtu-feeder-1",)

    def plan(self) -> list[Phase]:
        self.conn: TcpConn | None = None
        self.seq = self.rng.randrange(16)
        self.tseq = [self.rng.randrange(64), self.rng.randrange(64)]
        return [self.disable_unsolicited, self.cold_restart]

    def _tx(self, t: int, function: int, objects: bytes, reply: bytes) -> int:
        assert self.conn is not None
        target = self.targets[0]
        o = target.dev.protocols["dnp3"]
        outstation, master = int(o.get("address", 10)), int(o.get("master", 1))
        self.seq = (self.seq + 1) & 0x0F
        self.tseq = [(self.tseq[0] + 1) & 0x3F, (self.tseq[1] + 1) & 0x3F]
        request = dnp3.frames(dnp3.request(self.seq, function, objects), outstation, master, from_master=True,
                              transport_seq=self.tseq[0])
        response = dnp3.frames(dnp3.response(self.seq, 0, reply), master, outstation, from_master=False,
                               transport_seq=self.tseq[1])
        return self.conn.exchange(t, request, response, self.think(10, 30), next_us=t)

    def disable_unsolicited(self, t: int) -> int:
        target = self.targets[0]
        tag = self.label("disable-unsolicited", [target], ["T0848", "T0855", "T0804"],
                         "DISABLE_UNSOLICITED (function 21) for classes 1-3 from a host that is not the master: "
                         "events stop reaching SCADA")
        self.conn = TcpConn(self.ctx.net, self.attacker, target, dnp3.PORT, tag=tag)
        t = self.conn.open(t)
        t = self._tx(t + 2_000, dnp3.DISABLE_UNSOLICITED, dnp3.class_poll((1, 2, 3)), b"")
        target.state["dnp3_unsolicited_off"] = 1
        self.edge(target, "dnp3", "tcp", dnp3.PORT)
        return t + 6 * US

    def cold_restart(self, t: int) -> None:
        assert self.conn is not None
        target = self.targets[0]
        self.conn.tag = self.label("cold-restart", [target], ["T0816", "T0855"],
                                   "COLD_RESTART (function 13): the RTU answers with the time it needs, then reboots")
        t = self._tx(t, dnp3.COLD_RESTART, b"", dnp3.time_delay_fine(RESTART_US // 1000))
        target.state["dnp3_restart_until"] = t + RESTART_US
        self.conn.close(t + 200_000)


@register
class Iec104Control(Attack):
    name = "iec104-control"
    summary = "Industroyer-like IEC 104: STARTDT, general interrogation, then open commands over every IOA"
    default_at = 0.6
    attacker_default = "ews-1"
    target_defaults = ("rtu-sub",)

    def plan(self) -> list[Phase]:
        self.conn: TcpConn | None = None
        self.ns = self.nr = 0
        return [self.interrogate, self.switch, self.stop]

    def _ca(self) -> int:
        return int(self.targets[0].dev.protocols["iec104"].get("common_address", 1))

    def _cmd(self, t: int, asdu: bytes) -> int:
        assert self.conn is not None
        t = self.conn.send(t, True, iec.i_frame(self.ns, self.nr, asdu))
        self.ns += 1
        return t

    def _rtu(self, t: int, asdu: bytes) -> int:
        assert self.conn is not None
        t = self.conn.send(t, False, iec.i_frame(self.nr, self.ns, asdu))
        self.nr += 1
        return t

    def interrogate(self, t: int) -> int:
        target = self.targets[0]
        proc = self.ctx.process(target.dev)
        tag = self.label("startdt-interrogation", [target], ["T0848", "T0861", "T0888"],
                         "A second master starts data transfer and runs a general interrogation to map the points")
        self.conn = TcpConn(self.ctx.net, self.attacker, target, iec.PORT, tag=tag)
        t = self.conn.open(t)
        t = self.conn.exchange(t + 2_000, iec.u_frame(iec.STARTDT_ACT), iec.u_frame(iec.STARTDT_CON), 3_000, next_us=t)
        ca = self._ca()
        t = self._cmd(t + 5_000, iec.asdu(iec.C_IC_NA_1, iec.COT_ACT, ca, [(0, iec.interrogation())]))
        t = self._rtu(t + 10_000, iec.asdu(iec.C_IC_NA_1, iec.COT_ACTCON, ca, [(0, iec.interrogation())]))
        if proc is not None:
            dps = [(1001 + n, iec.double_point(iec.DP_ON if p.value else iec.DP_OFF))
                   for n, p in enumerate(proc.binaries())]
            mes = [(2001 + n, iec.short_float(p.value)) for n, p in enumerate(proc.analogs())]
            t = self._rtu(t + 2_000, iec.asdu(iec.M_DP_NA_1, iec.COT_INROGEN, ca, dps))
            t = self._rtu(t + 2_000, iec.asdu(iec.M_ME_NC_1, iec.COT_INROGEN, ca, mes))
        t = self._rtu(t + 2_000, iec.asdu(iec.C_IC_NA_1, iec.COT_ACTTERM, ca, [(0, iec.interrogation())]))
        assert self.conn is not None
        t = self.conn.send(t + 20_000, True, iec.s_frame(self.nr))
        self.edge(target, "iec104", "tcp", iec.PORT)
        return t + 3 * US

    def switch(self, t: int) -> int:
        assert self.conn is not None
        target = self.targets[0]
        proc = self.ctx.process(target.dev)
        self.conn.tag = self.label("breaker-open-sweep", [target], ["T0855", "T0806", "T0831"],
                                   "Double commands OFF (C_DC_NA_1, execute) to IOA 5001-5008 in turn: the real "
                                   "breakers open, unknown IOAs are refused")
        breakers = proc.binaries() if proc else []
        ca = self._ca()
        for n in range(8):
            ioa = 5001 + n
            command = iec.asdu(iec.C_DC_NA_1, iec.COT_ACT, ca, [(ioa, iec.double_command(iec.DP_OFF))])
            t = self._cmd(t + 400_000, command)
            known = n < len(breakers)
            cot = iec.COT_ACTCON if known else 47  # 47: unknown information object address
            t = self._rtu(t + 30_000, iec.asdu(iec.C_DC_NA_1, cot, ca, [(ioa, iec.double_command(iec.DP_OFF))],
                                               negative=not known))
            if known:
                breakers[n].value = 0.0
                t = self._rtu(t + 80_000, iec.asdu(iec.C_DC_NA_1, iec.COT_ACTTERM, ca,
                                                   [(ioa, iec.double_command(iec.DP_OFF))]))
        return self.conn.send(t + 50_000, True, iec.s_frame(self.nr)) + 2 * US

    def stop(self, t: int) -> None:
        assert self.conn is not None
        t = self.conn.exchange(t, iec.u_frame(iec.STOPDT_ACT), iec.u_frame(iec.STOPDT_CON), 3_000, next_us=t)
        self.conn.close(t + 100_000)
