"""Attacks that speak industrial protocols: enumeration, S7 stop and program download, out-of-range Modbus
writes, DNP3 restart, an Industroyer-like IEC 104 sequence, and a CIP firmware update."""

from __future__ import annotations

import struct

from zonewarden.simulate import enc_bacnet as bac
from zonewarden.simulate import enc_enip as enip
from zonewarden.simulate import enc_modbus as mb
from zonewarden.simulate import enc_s7 as s7
from zonewarden.simulate.actors import US
from zonewarden.simulate.attacks import Attack, Phase, register
from zonewarden.simulate.drivers_ics import EnipPoller, S7Poller
from zonewarden.simulate.drivers_misc import bacnet_identity
from zonewarden.simulate.link import Node
from zonewarden.simulate.site import Poll
from zonewarden.simulate.tcp import TcpConn, udp_send


class _S7(S7Poller):
    """The S7 poller's encoders, driven by an attacker's tool instead of an HMI."""

    def __init__(self, attack: Attack, target: Node, tag: int) -> None:
        super().__init__(attack.ctx, attack.attacker, target, Poll(target.name, "s7comm", 1.0))
        self.conn = TcpConn(attack.ctx.net, attack.attacker, target, s7.PORT, tag=tag)


@register
class IcsEnumeration(Attack):
    name = "ics-enum"
    summary = ("ICS device enumeration from an HMI: CIP ListIdentity broadcast, Modbus unit-id sweep, S7 SZL reads, "
               "BACnet Who-Is")
    default_at = 0.2
    attacker_default = "hmi-pack"
    target_defaults = ("mbgw-mcc", "plc-s7-intake", "plc-s7-filter")

    def plan(self) -> list[Phase]:
        return [self.list_identity, self.unit_sweep, self.szl_reads, self.who_is]

    def list_identity(self, t: int) -> int:
        net = self.ctx.net
        vlan_net = self.ctx.site.networks[self.attacker.dev.network]
        devices = [n for n in net.nodes.values() if "enip" in n.dev.protocols and n.dev.network == vlan_net.name]
        tag = self.label("cip-list-identity", devices, ["T0846", "T0888"],
                         "ListIdentity broadcast on the cell VLAN: every EtherNet/IP device answers with its identity")
        port = self.attacker.ephemeral_port()
        t = udp_send(net, t, self.attacker, str(vlan_net.subnet.broadcast_address), port, enip.PORT,
                     enip.list_identity_request(), tag)
        for dev in devices:
            o = dev.dev.protocols["enip"]
            major, _, minor = dev.dev.firmware.partition(".")
            ident = enip.Identity(int(o.get("vendor_id", 1)), int(o.get("device_type", 14)),
                                  int(o.get("product_code", 1)), (int(major or 0), int(minor or 0)),
                                  int(dev.dev.serial, 16), dev.dev.product)
            udp_send(net, t + self.think(1, 40), dev, self.attacker.ip, enip.PORT, port,
                     enip.list_identity_reply(ident, dev.ip), tag)
            self.edge(dev, "enip", "udp", enip.PORT)
        return t + 2 * US

    def unit_sweep(self, t: int) -> int:
        gw = self.targets[0]
        units = set(int(u) for u in gw.dev.protocols.get("modbus", {}).get("gateway_units", []) or [])
        tag = self.label("modbus-unit-id-sweep", [gw], ["T0846", "T0888"],
                         "Modbus read of unit ids 1-247 through the serial gateway to find the slaves behind it")
        conn = TcpConn(self.ctx.net, self.attacker, gw, mb.PORT, tag=tag)
        t = conn.open(t)
        self.edge(gw, "modbus", "tcp", mb.PORT)
        for tid, unit in enumerate(range(1, 248), start=1):
            request = mb.read_request(tid, unit, mb.READ_HOLDING_REGISTERS, 0, 2)
            if unit in units:
                reply, think = mb.read_registers_response(tid, unit, mb.READ_HOLDING_REGISTERS, [400, 12]), 40
            else:
                # No answer on the RS-485 line: the gateway gives up after its 100 ms timeout.
                reply, think = mb.exception(tid, unit, mb.READ_HOLDING_REGISTERS, mb.EXC_GATEWAY_TARGET_FAILED), 100
            t = conn.exchange(t + 2_000, request, reply, think * 1000, next_us=t)
        for tid, unit in enumerate(sorted(units), start=300):
            t = conn.exchange(t + 2_000, mb.read_device_id_request(tid, unit, 1),
                              mb.read_device_id_response(tid, unit, 1, [(0, "Schneider Electric"),
                                                                        (1, "METSEPM5560"), (2, "2.7.4")]),
                              60_000, next_us=t)
        return conn.close(t + 5_000) + 2 * US

    def szl_reads(self, t: int) -> int:
        for target in self.targets[1:]:
            tag = self.label("s7-szl-read", [target], ["T0888", "T0868"],
                             "S7 SZL reads: module identification, component identification, CPU mode")
            s = _S7(self, target, tag)
            assert s.conn is not None
            t = s.conn.open(t)
            t = s._setup(t + 1_000, 1)
            for szl_id in (s7.SZL_MODULE_ID, s7.SZL_COMPONENT_ID, s7.SZL_CPU_MODE):
                t = s.szl(t + 20_000, szl_id)
            t = s.conn.close(t + 10_000) + US
            self.edge(target, "s7comm", "tcp", s7.PORT)
        return t

    def who_is(self, t: int) -> int | None:
        building = [n for n in self.ctx.net.nodes.values() if "bacnet" in n.dev.protocols]
        tag = self.label("bacnet-who-is", building, ["T0846", "T0888"],
                         "BACnet Who-Is to every address of the building subnet, then ReadProperty of the identity")
        net = self.ctx.net
        if not building:
            return None
        subnet = self.ctx.site.networks[building[0].dev.network].subnet
        by_ip = {n.ip: n for n in building}
        for host in list(subnet.hosts())[:254]:
            ip = str(host)
            t = udp_send(net, t + 4_000, self.attacker, ip, bac.PORT, bac.PORT, bac.who_is(), tag)
            dev = by_ip.get(ip)
            if dev is None:
                continue
            o = dev.dev.protocols["bacnet"]
            instance = int(o.get("instance", 0))
            i_am = bac.i_am(instance, int(o.get("vendor_id", 0)))
            # The Who-Is came from another subnet, so the device answers the asker directly.
            udp_send(net, t + self.think(2, 30), dev, self.attacker.ip, bac.PORT, bac.PORT, i_am, tag)
            self.edge(dev, "bacnet", "udp", bac.PORT)
            for n, (prop, value) in enumerate(bacnet_identity(dev)[:4]):
                t = udp_send(net, t + 40_000, self.attacker, ip, bac.PORT, bac.PORT,
                             bac.read_property(n, bac.OBJ_DEVICE, instance, prop), tag)
                t = udp_send(net, t + self.think(3, 20), dev, self.attacker.ip, bac.PORT, bac.PORT,
                             bac.read_property_ack(n, bac.OBJ_DEVICE, instance, prop, value), tag)
        return None


@register
class S7StopDownload(Attack):
    name = "s7-stop"
    summary = "S7 PLC stop, program download (OB1) and restart from an unauthorised host"
    default_at = 0.45
    attacker_default = "hist-01"
    target_defaults = ("plc-s7-intake",)

    def plan(self) -> list[Phase]:
        self.s: _S7 | None = None
        return [self.recon, self.stop, self.download, self.start]

    def recon(self, t: int) -> int:
        target = self.targets[0]
        tag = self.label("s7-connect-mode-check", [target], ["T0868", "T0888"],
                         "PG connection (TSAP 0x0102), SZL reads of the identity and the CPU mode")
        self.s = _S7(self, target, tag)
        assert self.s.conn is not None
        t = self.s.conn.open(t)
        t = self.s._setup(t + 1_000, 1)
        t = self.s.szl(t + 30_000, s7.SZL_MODULE_ID)
        t = self.s.szl(t + 30_000, s7.SZL_CPU_MODE)
        self.edge(target, "s7comm", "tcp", s7.PORT)
        return t + 3 * US

    def stop(self, t: int) -> int:
        assert self.s is not None and self.s.conn is not None
        target = self.targets[0]
        self.s.conn.tag = self.label("plc-stop", [target], ["T0858", "T0855"],
                                     "PLC STOP (function 0x29, P_PROGRAM): the intake pumps stop")
        ref = self.s._next_ref()
        t = self.s._tx(t, s7.plc_stop(ref), s7.control_response(ref, s7.FN_PLC_STOP), t)
        proc = self.ctx.process(target.dev)
        if proc is not None:
            proc.halted = True
        self.s.running = False
        return t + 4 * US

    def download(self, t: int) -> int:
        assert self.s is not None and self.s.conn is not None
        target = self.targets[0]
        self.s.conn.tag = self.label("program-download", [target], ["T0843", "T0889", "T0821"],
                                     "Download of a modified OB1 (the PLC pulls the block), then _INSE to activate it")
        block = s7.mc7_block("OB", 1, self.rng.randbytes(1200))
        ref = self.s._next_ref()
        t = self.s._tx(t, s7.request_download(ref, "OB", 1, len(block), len(block) - 36),
                       s7.control_response(ref, s7.FN_REQUEST_DOWNLOAD), t)
        for off in range(0, len(block), 400):
            ref = self.s._next_ref()
            more = off + 400 < len(block)
            # Download jobs go from the PLC to the programming device, which answers with the block data.
            t = self.s.conn.exchange(t + 3_000, s7.download_job(ref, s7.FN_DOWNLOAD_BLOCK, "OB", 1),
                                     s7.download_block_response(ref, block[off : off + 400], more=more),
                                     self.think(1, 4), next_us=t, from_client=False)
        ref = self.s._next_ref()
        t = self.s.conn.exchange(t + 3_000, s7.download_job(ref, s7.FN_DOWNLOAD_ENDED, "OB", 1),
                                 s7.control_response(ref, s7.FN_DOWNLOAD_ENDED), self.think(1, 4), next_us=t,
                                 from_client=False)
        ref = self.s._next_ref()
        t = self.s._tx(t + 5_000, s7.plc_control(ref, "_INSE", s7.block_argument([("OB", 1)])),
                       s7.control_response(ref, s7.FN_PLC_CONTROL), t)
        return t + 3 * US

    def start(self, t: int) -> None:
        assert self.s is not None and self.s.conn is not None
        target = self.targets[0]
        self.s.conn.tag = self.label("plc-start", [target], ["T0858", "T0855"],
                                     "PLC control P_PROGRAM: warm restart into RUN with the new program")
        ref = self.s._next_ref()
        t = self.s._tx(t, s7.plc_control(ref, "P_PROGRAM"), s7.control_response(ref, s7.FN_PLC_CONTROL), t)
        proc = self.ctx.process(target.dev)
        if proc is not None:
            proc.halted = False
        self.s.running = True
        self.s.conn.close(t + 500_000)


@register
class ModbusSetpoint(Attack):
    name = "modbus-setpoint"
    summary = "Rogue Modbus master writes an out-of-range level setpoint and switches the pumps to manual"
    default_at = 0.35
    attacker_default = "hist-01"
    target_defaults = ("plc-mb-tank",)

    def plan(self) -> list[Phase]:
        self.conn: TcpConn | None = None
        self.tid = self.rng.randrange(1, 500)
        return [self.read, self.write]

    def _tx(self, t: int, request: bytes, reply: bytes) -> int:
        assert self.conn is not None
        self.tid += 1
        return self.conn.exchange(t, request, reply, self.think(2, 6), next_us=t)

    def read(self, t: int) -> int:
        target = self.targets[0]
        proc = self.ctx.process(target.dev)
        unit = int(target.dev.protocols["modbus"].get("unit_id", 1))
        tag = self.label("register-map-read", [target], ["T0848", "T0801", "T0861"],
                         "A host that never polled this PLC reads its whole register map")
        self.conn = TcpConn(self.ctx.net, self.attacker, target, mb.PORT, tag=tag)
        t = self.conn.open(t)
        words = [p.as_int() for p in proc.analogs()] if proc else [0] * 8
        for start in range(0, 64, 16):
            values = (words[start : start + 16] + [0] * 16)[:16]
            t = self._tx(t + 30_000, mb.read_request(self.tid, unit, mb.READ_HOLDING_REGISTERS, start, 16),
                         mb.read_registers_response(self.tid, unit, mb.READ_HOLDING_REGISTERS, values))
        self.edge(target, "modbus", "tcp", mb.PORT)
        return t + 5 * US

    def write(self, t: int) -> None:
        assert self.conn is not None
        target = self.targets[0]
        proc = self.ctx.process(target.dev)
        unit = int(target.dev.protocols["modbus"].get("unit_id", 1))
        self.conn.tag = self.label("setpoint-out-of-range", [target], ["T0836", "T0855", "T0831"],
                                   "Write multiple registers: high-level setpoint 9.99 m on a 6 m tank, low 5.8 m")
        if proc is not None:
            analogs = proc.analogs()
            hi, lo = proc.p("level_high_sp"), proc.p("level_low_sp")
            hi.value, lo.value = 9.99, 5.8
            start = analogs.index(hi)
            values = [hi.as_int(), lo.as_int()] if analogs[start + 1] is lo else [hi.as_int()]
        else:
            start, values = 5, [999, 580]
        request = mb.write_multiple_registers(self.tid, unit, start, values)
        t = self._tx(t, request, mb.write_multiple_registers_response(self.tid, unit, start, len(values)))
        self.conn.tag = self.label("pumps-to-manual", [target], ["T0831", "T0855"],
                                   "Write single coil: automatic mode OFF, so the pumps no longer follow the level")
        coil = [p.name for p in proc.binaries()].index("auto_mode") if proc else 2
        if proc is not None:
            proc.p("auto_mode").value = 0.0
            proc.p("pump1_run").value = proc.p("pump2_run").value = 0.0
        request = mb.write_single_coil(self.tid, unit, coil, False)
        t = self._tx(t + 800_000, request, request)
        self.conn.close(t + 2 * US)


@register
class CipFirmware(Attack):
    name = "cip-firmware"
    summary = "EtherNet/IP identity read, firmware transfer through the CIP File object, then a device reset"
    default_at = 0.65
    attacker_default = "hmi-pack"
    target_defaults = ("plc-ab-filler",)

    def plan(self) -> list[Phase]:
        self.poller: EnipPoller | None = None
        return [self.identity, self.firmware, self.reset]

    def identity(self, t: int) -> int:
        target = self.targets[0]
        tag = self.label("cip-identity", [target], ["T0888"], "RegisterSession and Get_Attribute_All on the Identity")
        self.poller = EnipPoller(self.ctx, self.attacker, target, Poll(target.name, "enip", 1.0))
        self.poller.conn = TcpConn(self.ctx.net, self.attacker, target, enip.PORT, tag=tag)
        t = self.poller.conn.open(t)
        t = self.poller.connect(t + 1_000)
        self.edge(target, "enip", "tcp", enip.PORT)
        return t + 2 * US

    def firmware(self, t: int) -> int:
        assert self.poller is not None and self.poller.conn is not None
        target = self.targets[0]
        self.poller.conn.tag = self.label("firmware-update", [target], ["T0857", "T0800"],
                                          "File object (class 0x37) Initiate_Download and Download_Transfer of an "
                                          "image")
        image = self.rng.randbytes(24_000)
        path = enip.epath(enip.CLASS_FILE, 0xC8)
        name = b"PN-337450.bin"
        t = self.poller._cip(t, enip.cip_request(enip.INITIATE_DOWNLOAD, path,
                                                 struct.pack("<IB", len(image), 1) + bytes([len(name)]) + name),
                             enip.cip_response(enip.INITIATE_DOWNLOAD, struct.pack("<IBB", len(image), 0, 1)), t)
        for n, off in enumerate(range(0, len(image), 480)):
            transfer = 0x02 if off + 480 >= len(image) else (0x00 if n == 0 else 0x01)
            chunk = struct.pack("<BB", n & 0xFF, transfer) + image[off : off + 480]
            t = self.poller._cip(t + 2_000, enip.cip_request(enip.DOWNLOAD_TRANSFER, path, chunk),
                                 enip.cip_response(enip.DOWNLOAD_TRANSFER, bytes([n & 0xFF])), t)
        return t + 2 * US

    def reset(self, t: int) -> None:
        assert self.poller is not None and self.poller.conn is not None
        target = self.targets[0]
        self.poller.conn.tag = self.label("device-reset", [target], ["T0816", "T0858"],
                                          "Identity object Reset (service 0x05): the controller reboots into the "
                                          "new firmware")
        t = self.poller._cip(t, enip.cip_request(enip.RESET, enip.epath(enip.CLASS_IDENTITY, 1), b"\x00"),
                             enip.cip_response(enip.RESET), t)
        self.poller.conn.reset(t + 300_000, from_client=False)
