"""Masters polling controllers over TCP: Modbus/TCP, S7comm, S7comm-plus and EtherNet/IP.

Each poller opens its connection at the start of the capture (the HMIs and servers were restarted after the
weekend patch window), reads the device's identity as its driver does on connect, then polls at its period
and writes an operator's setpoint change at shift times. Engineering sessions connect, go online (identity,
operating mode, a block upload) and disconnect.
"""

from __future__ import annotations

import struct
import zlib

from zonewarden.simulate import enc_enip as enip
from zonewarden.simulate import enc_modbus as mb
from zonewarden.simulate import enc_s7 as s7
from zonewarden.simulate import enc_s7plus as s7p
from zonewarden.simulate.actors import US, Actor, Ctx, Rhythm, new_setpoint, operator_writes, server_port
from zonewarden.simulate.link import Node
from zonewarden.simulate.physics import Process
from zonewarden.simulate.site import Poll
from zonewarden.simulate.tcp import TcpConn, udp_send


class TcpPoller(Actor):
    """Shared shape: connect on the first step, then one poll per step; engineering sessions reconnect."""

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        self.ctx, self.client, self.server, self.poll = ctx, client, server, poll
        self.rng = ctx.rng(f"{poll.proto}:{client.name}->{server.name}")
        self.engineering = poll.options.get("session") == "engineering"
        # Engineers go online early in a shift, and polling masters connect as the capture starts.
        first = min(poll.period, 40.0) if self.engineering else 2.0
        self.rhythm = Rhythm(ctx, self.rng, poll.period, first)
        self.next_us = self.rhythm.first()
        self.proc: Process | None = ctx.process(server.dev)
        self.writes = [] if self.engineering else operator_writes(ctx, self.rng, client.dev, self.proc)
        self.conn: TcpConn | None = None

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        self.ctx.plant.advance(t)
        if self.engineering:
            # Sessions are irregular: the period is the mean gap between them.
            end = self.session(t)
            self.next_us = max(t + int(self.rng.uniform(0.5, 1.5) * self.rhythm.period), end + US)
            return
        nxt = self.rhythm.next()
        if self.conn is None:
            self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
            t = self.conn.open(t)
            t = self.connect(t + 2_000)
            self.next_us = max(nxt, t + 1_000)
            return
        write_due = bool(self.writes) and self.writes[0] <= t
        t = self.cycle(t, nxt if not write_due else None)
        if write_due:
            self.writes.pop(0)
            t = self.write(t + int(self.rng.uniform(0.02, 0.2) * US), nxt)
        # A slow answer pushes the next poll back, as a master waits for its outstanding request.
        self.next_us = nxt if nxt > t else self.rhythm.next(after=t)

    def think(self, lo_ms: float, hi_ms: float) -> int:
        return int(self.rng.uniform(lo_ms, hi_ms) * 1000)

    def connect(self, t: int) -> int:
        return t

    def cycle(self, t: int, next_us: int | None) -> int:
        raise NotImplementedError

    def write(self, t: int, next_us: int | None) -> int:
        return t

    def session(self, t: int) -> int:
        return t


# --- Modbus/TCP ---


class ModbusPoller(TcpPoller):
    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        super().__init__(ctx, client, server, poll)
        opts = server.dev.protocols["modbus"]
        self.unit = int(opts.get("unit_id", 1))
        self.units = [int(u) for u in poll.options.get("units", opts.get("gateway_units", [])) or []]
        self.tid = self.rng.randrange(1, 2000)
        self.n = 0
        # A serial gateway forwards each request over RS-485 at 19200 baud: tens of milliseconds.
        self.slow = bool(opts.get("gateway_units"))

    def _tx(self, t: int, request: bytes, reply: bytes, next_us: int | None) -> int:
        assert self.conn is not None
        self.tid = (self.tid + 1) & 0xFFFF
        think = self.think(25, 70) if self.slow else self.think(1.5, 6)
        if self.server.state.get("overloaded_until", 0) > t:
            think = self.think(150, 900)  # a flooded PLC stack answers late
        return self.conn.exchange(t, request, reply, think, next_us=next_us)

    def identity(self) -> list[tuple[int, str]]:
        dev, opts = self.server.dev, self.server.dev.protocols["modbus"]
        return [(mb.OBJ_VENDOR_NAME, dev.vendor), (mb.OBJ_PRODUCT_CODE, str(opts.get("product_code", dev.product))),
                (mb.OBJ_MAJOR_MINOR_REVISION, dev.firmware), (mb.OBJ_VENDOR_URL, str(opts.get("vendor_url", ""))),
                (mb.OBJ_PRODUCT_NAME, dev.product), (mb.OBJ_MODEL_NAME, str(opts.get("model_name", dev.product))),
                (mb.OBJ_USER_APPLICATION_NAME, str(opts.get("user_application_name", "")))]

    def connect(self, t: int) -> int:
        tid = self.tid + 1
        return self._tx(t, mb.read_device_id_request(tid, self.unit, 2),
                        mb.read_device_id_response(tid, self.unit, 2, self.identity()), None) + 5_000

    def cycle(self, t: int, next_us: int | None) -> int:
        proc = self.proc
        self.n += 1
        if self.units:
            for k, unit in enumerate(self.units):
                tid = self.tid + 1
                values = self._meter(unit)
                last = k == len(self.units) - 1
                t = self._tx(t, mb.read_request(tid, unit, mb.READ_INPUT_REGISTERS, 0, len(values)),
                             mb.read_registers_response(tid, unit, mb.READ_INPUT_REGISTERS, values),
                             next_us if last else t + 100_000) + 3_000
            return t
        if proc is None:
            return t
        tid = self.tid + 1
        words = [p.as_int() for p in proc.analogs()]
        coils_due = self.n % 2 == 0
        t = self._tx(t, mb.read_request(tid, self.unit, mb.READ_HOLDING_REGISTERS, 0, len(words)),
                     mb.read_registers_response(tid, self.unit, mb.READ_HOLDING_REGISTERS, words),
                     t + 50_000 if coils_due else next_us)
        if coils_due:
            bits = [bool(p.value) for p in proc.binaries()]
            tid = self.tid + 1
            t = self._tx(t + 2_000, mb.read_request(tid, self.unit, mb.READ_COILS, 0, len(bits)),
                         mb.read_bits_response(tid, self.unit, mb.READ_COILS, bits), next_us)
        return t

    def _meter(self, unit: int) -> list[int]:
        if self.proc is None:
            return [0] * 6
        v, i, kw, kwh = (self.proc.p(f"u{unit}_{k}") for k in ("voltage_v", "current_a", "power_kw", "energy_kwh"))
        energy = kwh.as_int()
        return [v.as_int(), i.as_int(), kw.as_int(), 860, energy >> 16 & 0xFFFF, energy & 0xFFFF]

    def write(self, t: int, next_us: int | None) -> int:
        proc = self.proc
        if proc is None:
            return t
        _, point = new_setpoint(self.rng, proc)
        tid = self.tid + 1
        if point.binary:
            # An operator toggling a mode switch on the faceplate: write single coil, echoed back.
            request = mb.write_single_coil(tid, self.unit, proc.binaries().index(point), bool(point.value))
            return self._tx(t, request, request, next_us)
        request = mb.write_single_register(tid, self.unit, proc.analogs().index(point), point.as_int())
        return self._tx(t, request, request, next_us)


# --- S7comm ---


class S7Poller(TcpPoller):
    DB_PROCESS, DB_STATUS = 1, 2

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        super().__init__(ctx, client, server, poll)
        self.opts = server.dev.protocols["s7comm"]
        self.ref = self.rng.randrange(1, 0x4000)
        self.seq = 0
        self.running = True

    def _tsap(self, connection_type: int) -> int:
        return connection_type << 8 | int(self.opts.get("rack", 0)) << 5 | int(self.opts.get("slot", 2))

    def _next_ref(self) -> int:
        self.ref = (self.ref + 1) & 0xFFFF or 1
        return self.ref

    def _tx(self, t: int, request: bytes, reply: bytes, next_us: int | None = None) -> int:
        assert self.conn is not None
        return self.conn.exchange(t, request, reply, self.think(2, 9), next_us=next_us)

    def _setup(self, t: int, connection_type: int) -> int:
        assert self.conn is not None
        tsap = self._tsap(connection_type)
        t = self._tx(t, s7.cotp_connect(0x0100, tsap, confirm=False, src_ref=self.rng.randrange(1, 0xFFFF)),
                     s7.cotp_connect(0x0100, tsap, confirm=True, src_ref=0x0044, dst_ref=1), t)
        ref = self._next_ref()
        return self._tx(t + 500, s7.setup_communication(ref, 480), s7.setup_communication(ref, 240, response=True), t)

    def szl(self, t: int, szl_id: int) -> int:
        dev = self.server.dev
        if szl_id == s7.SZL_MODULE_ID:
            records = s7.szl_0011_records(str(self.opts.get("order_number", "")), int(self.opts.get("hardware", 1)),
                                          dev.firmware)
            size = 28
        elif szl_id == s7.SZL_COMPONENT_ID:
            o = self.opts
            records = s7.szl_001c_records(str(o.get("plc_name", "")), str(o.get("module_name", "")),
                                          str(o.get("plant_id", "")), dev.serial, dev.product,
                                          str(o.get("location", "")))
            size = 34
        else:
            records, size = [s7.szl_0424_record(self.running)], 20
        ref = self._next_ref()
        self.seq = (self.seq + 1) & 0xFF
        return self._tx(t, s7.szl_request(ref, self.seq, szl_id, 0),
                        s7.szl_response(ref, self.seq, szl_id, 0, size, records), t)

    def connect(self, t: int) -> int:
        # HMIs connect as OP (connection type 2), servers as S7-basic (3).
        t = self._setup(t, 2 if self.client.dev.role == "hmi" else 3)
        t = self.szl(t + 1_000, s7.SZL_MODULE_ID)
        return self.szl(t + 1_000, s7.SZL_COMPONENT_ID)

    def _db_values(self) -> tuple[bytes, bytes]:
        proc = self.proc
        if proc is None:
            return bytes(16), bytes(2)
        reals = b"".join(struct.pack(">f", p.value) for p in proc.analogs())
        bits = 0
        for n, p in enumerate(proc.binaries()):
            bits |= int(bool(p.value)) << n
        return reals, struct.pack(">H", bits)

    def cycle(self, t: int, next_us: int | None) -> int:
        reals, bits = self._db_values()
        ref = self._next_ref()
        request = s7.read_db(ref, [(self.DB_PROCESS, 0, len(reals)), (self.DB_STATUS, 0, len(bits))])
        return self._tx(t, request, s7.read_db_response(ref, [reals, bits]), next_us)

    def write(self, t: int, next_us: int | None) -> int:
        proc = self.proc
        if proc is None:
            return t
        _, point = new_setpoint(self.rng, proc)
        offset = 4 * proc.analogs().index(point)
        ref = self._next_ref()
        return self._tx(t, s7.write_db(ref, self.DB_PROCESS, offset, struct.pack(">f", point.value)),
                        s7.write_response(ref), next_us)

    def session(self, t: int) -> int:
        """Going online from TIA Portal/STEP 7: identity, mode, then a comparison upload of OB1."""
        self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
        t = self.conn.open(t)
        t = self._setup(t + 1_000, 1)
        for szl_id in (s7.SZL_MODULE_ID, s7.SZL_COMPONENT_ID, s7.SZL_CPU_MODE):
            t = self.szl(t + 3_000, szl_id)
        block = s7.mc7_block("OB", 1, bytes(self.rng.getrandbits(8) for _ in range(300)))
        upload_id = self.rng.randrange(1, 0xFFFF)
        ref = self._next_ref()
        t = self._tx(t + 5_000, s7.start_upload(ref, "OB", 1), s7.start_upload_response(ref, upload_id, len(block)))
        for off in range(0, len(block), 200):
            ref = self._next_ref()
            chunk = block[off : off + 200]
            t = self._tx(t + 500, s7.upload(ref, upload_id),
                         s7.upload_response(ref, chunk, more=off + 200 < len(block)), t)
        ref = self._next_ref()
        t = self._tx(t + 500, s7.end_upload(ref, upload_id), s7.control_response(ref, s7.FN_END_UPLOAD))
        t = self.conn.close(t + int(self.rng.uniform(2, 20) * US))
        self.conn = None
        return t


# --- S7comm-plus ---


class S7PlusPoller(TcpPoller):
    """WinCC on an S7-1200/1500 over S7comm-plus: COTP to "SIMATIC-ROOT-HMI", CreateObject of a server session
    (version 1), the session setup (SetMultiVariables of the session key), then GetMultiVariables of the
    process DB's tags by symbol each cycle and SetMultiVariables for operator writes (version 3, with an
    integrity part). Engineering sessions are TIA Portal going online: explore the CPU, read its I&M0 record,
    delete the session and leave."""

    DB_PROCESS = 1
    OMS_RELEASE = "OMSP.REL.9010.27"
    ADAPTER = "Intel(R) Ethernet Connection (7) I219-LM"

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        super().__init__(ctx, client, server, poll)
        dev = server.dev
        # Identity options (order number, hardware) default to those of the CPU's S7comm entry.
        self.opts = {**dev.protocols.get("s7comm", {}), **dev.protocols["s7comm_plus"]}
        self.order_number = str(self.opts.get("order_number", ""))
        self.paom = s7p.paom_string(self.order_number, dev.firmware)
        points = [*self.proc.analogs(), *self.proc.binaries()] if self.proc is not None else []
        # Symbolic access: each tag's LID in the optimized DB and the CRC of its symbol.
        self.tags = tuple(s7p.Tag(zlib.crc32(f"DB_Process.{p.name}".encode()), self.DB_PROCESS, n)
                          for n, p in enumerate(points, start=1))
        self.seq = self.iid = self.session_id = 0
        self.key = b""

    def _next(self) -> tuple[int, int, int]:
        """The next request's sequence number and integrity id, and the integrity id of its response."""
        self.seq = self.seq % 0xFFFF + 1
        self.iid = (self.iid + 1) & 0xFFFFFFFF
        return self.seq, self.iid, (self.iid + self.seq) & 0xFFFFFFFF

    def _tx(self, t: int, request: bytes, reply: bytes, next_us: int | None = None, version: int = s7p.V3) -> int:
        assert self.conn is not None
        return self.conn.exchange(t, s7p.pdu(version, request, self.key), s7p.pdu(version, reply, self.key),
                                  self.think(1, 6), next_us=next_us)

    def _open_session(self, t: int, engineering: bool) -> int:
        assert self.conn is not None
        rng = self.rng
        called, calling = (s7p.TSAP_ES, s7p.CALLING_TSAP_ES) if engineering else (s7p.TSAP_HMI, s7p.CALLING_TSAP_HMI)
        ref = rng.randrange(1, 0xFFFF)
        t = self.conn.exchange(t, s7p.cotp_connect(calling, called, confirm=False, src_ref=ref),
                               s7p.cotp_connect(calling, called, confirm=True, src_ref=rng.randrange(1, 0xFFFF),
                                                dst_ref=ref), self.think(0.5, 2), next_us=t)
        self.seq, self.iid, self.session_id = 1, rng.randrange(1, 0x400), rng.randrange(0x300, 0x400)
        self.key = rng.randbytes(16)
        client = s7p.Client(f"ServerSession_{rng.getrandbits(24):06X}", f"1:::6.0::{self.ADAPTER}.TCPIP.1",
                            self.client.dev.name.upper(), 1 if engineering else 2, rng.getrandbits(32))
        t = self._tx(t + 1_000, s7p.create_object_request(1, client),
                     s7p.create_object_response(1, self.session_id, f"01:{rng.getrandbits(64):016X}",
                                                self.OMS_RELEASE, rng.randbytes(20), self.paom), t, s7p.V1)
        self.seq = 2
        return self._tx(t + 2_000, s7p.session_setup_request(2, self.session_id, rng.randbytes(172), self.paom),
                        s7p.set_multi_variables_response(2, 0), t, s7p.V2)

    def connect(self, t: int) -> int:
        return self._open_session(t, engineering=False)

    def _values(self) -> list[float | bool]:
        if self.proc is None:
            return []
        return [*(p.value for p in self.proc.analogs()), *(bool(p.value) for p in self.proc.binaries())]

    def cycle(self, t: int, next_us: int | None) -> int:
        if not self.tags:
            return t
        seq, iid, reply_iid = self._next()
        return self._tx(t, s7p.get_multi_variables_request(seq, self.session_id, iid, self.tags),
                        s7p.get_multi_variables_response(seq, reply_iid, self._values()), next_us)

    def write(self, t: int, next_us: int | None) -> int:
        proc = self.proc
        if proc is None:
            return t
        _, point = new_setpoint(self.rng, proc)
        tag = self.tags[[*proc.analogs(), *proc.binaries()].index(point)]
        seq, iid, reply_iid = self._next()
        new: float | bool = bool(point.value) if point.binary else point.value
        return self._tx(t, s7p.set_multi_variables_request(seq, self.session_id, iid, [(tag, new)]),
                        s7p.set_multi_variables_response(seq, reply_iid), next_us)

    def session(self, t: int) -> int:
        """TIA Portal going online: explore the CPU, read its I&M0 record (order and serial number, firmware),
        go offline."""
        self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
        t = self._open_session(self.conn.open(t) + 1_000, engineering=True)
        seq, iid, reply_iid = self._next()
        children = [(s7p.ID_PLC_PROGRAM, s7p.ID_PLC_PROGRAM_CLASS, "PLCProgram"),
                    (s7p.ID_HW_CONFIGURATION, s7p.ID_CONTAINER_CLASS, "HWConfiguration")]
        t = self._tx(t + 3_000, s7p.explore_request(seq, self.session_id, iid, s7p.ID_AS_ROOT,
                                                    [s7p.ID_OBJECT_VARIABLE_TYPE_NAME]),
                     s7p.explore_response(seq, reply_iid, s7p.ID_AS_ROOT, s7p.ID_AS_ROOT_CLASS, "ASRoot", children), t)
        dev = self.server.dev
        record = s7p.im0_record(self.order_number, dev.serial, dev.firmware, int(self.opts.get("hardware", 1)))
        seq, iid, reply_iid = self._next()
        t = self._tx(t + 4_000, s7p.get_var_substreamed_request(seq, self.session_id, iid, s7p.ID_CPU_PROXY,
                                                                s7p.ID_IM0_DATA),
                     s7p.get_var_substreamed_response(seq, reply_iid, record), t)
        seq, iid, reply_iid = self._next()
        t = self._tx(t + int(self.rng.uniform(2, 20) * US),
                     s7p.delete_object_request(seq, self.session_id, iid, self.session_id),
                     s7p.delete_object_response(seq, reply_iid, self.session_id), t)
        t = self.conn.close(t + 2_000)
        self.conn = None
        return t


# --- EtherNet/IP ---


class EnipPoller(TcpPoller):
    """RSLinx/KEPServerEX style: RegisterSession, Identity on connect, cyclic Get_Attribute_Single of the
    process assembly, a ListIdentity over UDP every minute to check the device is alive."""

    ASSEMBLY_IN, ASSEMBLY_SETPOINTS = 100, 150

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        super().__init__(ctx, client, server, poll)
        o = server.dev.protocols["enip"]
        major, _, minor = server.dev.firmware.partition(".")
        self.ident = enip.Identity(int(o.get("vendor_id", 1)), int(o.get("device_type", 14)),
                                   int(o.get("product_code", 1)), (int(major or 0), int(minor or 0)),
                                   int(server.dev.serial, 16), server.dev.product)
        self.session_id = 0
        self.ctx_counter = self.rng.getrandbits(32)
        self.next_udp = self.next_us if not self.engineering else None

    def _context(self) -> bytes:
        self.ctx_counter = (self.ctx_counter + 1) & 0xFFFFFFFF
        return struct.pack("<II", self.ctx_counter, 0)

    def _cip(self, t: int, request: bytes, reply: bytes, next_us: int | None = None) -> int:
        assert self.conn is not None
        c = self._context()
        return self.conn.exchange(t, enip.send_rr_data(self.session_id, request, c),
                                  enip.send_rr_data(self.session_id, reply, c), self.think(1, 4), next_us=next_us)

    def _register(self, t: int) -> int:
        assert self.conn is not None
        self.session_id = self.rng.getrandbits(32) | 1
        return self.conn.exchange(t, enip.register_session(), enip.register_session(self.session_id),
                                  self.think(0.5, 2), next_us=t)

    def _identity(self, t: int) -> int:
        return self._cip(t, enip.cip_request(enip.GET_ATTRIBUTE_ALL, enip.epath(enip.CLASS_IDENTITY, 1)),
                         enip.cip_response(enip.GET_ATTRIBUTE_ALL, enip.identity_attributes(self.ident)), t)

    def connect(self, t: int) -> int:
        return self._identity(self._register(t) + 1_000)

    def _assembly(self) -> bytes:
        proc = self.proc
        if proc is None:
            return bytes(16)
        ints = b"".join(struct.pack("<i", p.as_int()) for p in proc.analogs())
        bits = sum(int(bool(p.value)) << n for n, p in enumerate(proc.binaries()))
        return ints + struct.pack("<I", bits)

    def cycle(self, t: int, next_us: int | None) -> int:
        if self.next_udp is not None and t >= self.next_udp:
            self._list_identity_udp(t)
            self.next_udp = t + 60 * US
        return self._cip(t, enip.cip_request(enip.GET_ATTRIBUTE_SINGLE,
                                             enip.epath(enip.CLASS_ASSEMBLY, self.ASSEMBLY_IN, 3)),
                         enip.cip_response(enip.GET_ATTRIBUTE_SINGLE, self._assembly()), next_us)

    def _list_identity_udp(self, t: int) -> None:
        c = self._context()
        port = self.client.ephemeral_port()
        net = self.ctx.net
        t = udp_send(net, t, self.client, self.server.ip, port, enip.PORT, enip.list_identity_request(c))
        udp_send(net, t + self.think(1, 5) + 600, self.server, self.client.ip, enip.PORT, port,
                 enip.list_identity_reply(self.ident, self.server.ip, c))

    def write(self, t: int, next_us: int | None) -> int:
        proc = self.proc
        if proc is None:
            return t
        index, point = new_setpoint(self.rng, proc)
        data = struct.pack("<Hi", index, point.as_int())
        return self._cip(t, enip.cip_request(enip.SET_ATTRIBUTE_SINGLE,
                                             enip.epath(enip.CLASS_ASSEMBLY, self.ASSEMBLY_SETPOINTS, 3), data),
                         enip.cip_response(enip.SET_ATTRIBUTE_SINGLE), next_us)

    def session(self, t: int) -> int:
        """Studio 5000 going online: identity, a few attribute reads, then it leaves."""
        self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
        t = self.conn.open(t)
        t = self.conn.exchange(t + 500, enip.list_identity_request(), enip.list_identity_reply(
            self.ident, self.server.ip), self.think(1, 3), next_us=t)
        t = self._identity(self._register(t + 1_000) + 1_000)
        for instance in (self.ASSEMBLY_IN, self.ASSEMBLY_SETPOINTS):
            t = self._cip(t + 2_000, enip.cip_request(enip.GET_ATTRIBUTE_SINGLE,
                                                      enip.epath(enip.CLASS_ASSEMBLY, instance, 3)),
                          enip.cip_response(enip.GET_ATTRIBUTE_SINGLE, self._assembly()), t)
        assert self.conn is not None
        t = self.conn.exchange(t + int(self.rng.uniform(1, 10) * US), enip.unregister_session(self.session_id), b"",
                               self.think(1, 3))
        t = self.conn.close(t + 1_000)
        self.conn = None
        return t
