"""Building automation (BACnet/IP), PROFINET DCP discovery, MQTT/Sparkplug B edge nodes and OPC UA clients."""

from __future__ import annotations

from zonewarden.simulate import enc_bacnet as bac
from zonewarden.simulate import enc_dcp as dcp
from zonewarden.simulate import enc_mqtt as mq
from zonewarden.simulate import enc_opcua as ua
from zonewarden.simulate.actors import Actor, Ctx, Rhythm, new_setpoint, operator_writes, server_port
from zonewarden.simulate.link import Node
from zonewarden.simulate.physics import Process
from zonewarden.simulate.site import Poll
from zonewarden.simulate.tcp import TcpConn, udp_send

DCP_ROLES = {"io_device": dcp.ROLE_IO_DEVICE, "io_controller": dcp.ROLE_IO_CONTROLLER,
             "io_supervisor": dcp.ROLE_IO_SUPERVISOR}
_ANALOG_OBJECT = bac.OBJ_ANALOG_INPUT


def bacnet_identity(dev_node: Node) -> list[tuple[int, str | int]]:
    dev = dev_node.dev
    o = dev.protocols["bacnet"]
    return [(bac.PROP_OBJECT_NAME, dev.name.upper()), (bac.PROP_VENDOR_NAME, dev.vendor),
            (bac.PROP_VENDOR_IDENTIFIER, int(o.get("vendor_id", 0))), (bac.PROP_MODEL_NAME, dev.product),
            (bac.PROP_FIRMWARE_REVISION, dev.firmware), (bac.PROP_SERIAL_NUMBER, dev.serial),
            (bac.PROP_LOCATION, str(o.get("location", "")))]


def dcp_station(ctx: Ctx, node: Node) -> dcp.Station:
    o = node.dev.protocols["profinet_dcp"]
    net = ctx.site.networks[node.dev.network]
    return dcp.Station(str(o.get("name_of_station", node.name)), str(o.get("type_of_station", node.dev.product)),
                       int(o.get("vendor_id", 0)), int(o.get("device_id", 0)),
                       DCP_ROLES.get(str(o.get("role", "io_device")), dcp.ROLE_IO_DEVICE), node.ip,
                       str(net.subnet.netmask), net.gateway or "0.0.0.0")


class BacnetSupervisor(Actor):
    """A BACnet supervisor polling one controller: discovery (Who-Is, I-Am, the device object's identity
    properties), then ReadProperty of each present value at the period, and operator setpoint writes."""

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        self.ctx, self.client, self.server = ctx, client, server
        self.rng = ctx.rng(f"bacnet:{client.name}->{server.name}")
        self.rhythm = Rhythm(ctx, self.rng, poll.period, 3.0)
        self.next_us = self.rhythm.first()
        self.instance = int(server.dev.protocols["bacnet"].get("instance", 0))
        self.vendor_id = int(server.dev.protocols["bacnet"].get("vendor_id", 0))
        self.proc: Process | None = ctx.process(server.dev)
        self.writes = operator_writes(ctx, self.rng, client.dev, self.proc)
        self.invoke = self.rng.randrange(256)
        self.discovered = False

    def _confirmed(self, t: int, request: bytes, reply: bytes) -> int:
        net = self.ctx.net
        t = udp_send(net, t, self.client, self.server.ip, bac.PORT, bac.PORT, request)
        return udp_send(net, t + int(self.rng.uniform(3, 25) * 1000), self.server, self.client.ip, bac.PORT,
                        bac.PORT, reply) + 2_000

    def _next_invoke(self) -> int:
        self.invoke = (self.invoke + 1) & 0xFF
        return self.invoke

    def discover(self, t: int) -> int:
        net = self.ctx.net
        broadcast = str(self.ctx.site.networks[self.client.dev.network].subnet.broadcast_address)
        t = udp_send(net, t, self.client, broadcast, bac.PORT, bac.PORT, bac.who_is(self.instance, self.instance))
        t = udp_send(net, t + int(self.rng.uniform(5, 60) * 1000), self.server, broadcast, bac.PORT, bac.PORT,
                     bac.i_am(self.instance, self.vendor_id))
        for prop, value in bacnet_identity(self.server):
            inv = self._next_invoke()
            t = self._confirmed(t + 5_000, bac.read_property(inv, bac.OBJ_DEVICE, self.instance, prop),
                                bac.read_property_ack(inv, bac.OBJ_DEVICE, self.instance, prop, value))
        return t

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        self.ctx.plant.advance(t)
        if not self.discovered:
            t = self.discover(t)
            self.discovered = True
        elif self.proc is not None:
            for n, p in enumerate(self.proc.analogs()):
                inv = self._next_invoke()
                obj = bac.OBJ_ANALOG_VALUE if p.writable else _ANALOG_OBJECT
                t = self._confirmed(t, bac.read_property(inv, obj, n, bac.PROP_PRESENT_VALUE),
                                    bac.read_property_ack(inv, obj, n, bac.PROP_PRESENT_VALUE, round(p.value, 2)))
            for n, p in enumerate(self.proc.binaries()):
                inv = self._next_invoke()
                t = self._confirmed(t, bac.read_property(inv, bac.OBJ_BINARY_INPUT, n, bac.PROP_PRESENT_VALUE),
                                    bac.read_property_ack(inv, bac.OBJ_BINARY_INPUT, n, bac.PROP_PRESENT_VALUE,
                                                          int(p.value), enumerated=True))
            if self.writes and self.writes[0] <= t:
                self.writes.pop(0)
                _, point = new_setpoint(self.rng, self.proc)
                n = self.proc.analogs().index(point)
                inv = self._next_invoke()
                t = self._confirmed(t + 50_000, bac.write_property(inv, bac.OBJ_ANALOG_VALUE, n,
                                                                   bac.PROP_PRESENT_VALUE, float(point.value), 8),
                                    bac.simple_ack(inv, bac.SVC_WRITE_PROPERTY))
        self.next_us = self.rhythm.next(after=t)


class DcpDiscovery(Actor):
    """TIA Portal's "accessible devices": a DCP Identify All; every PROFINET station on the VLAN answers
    within the response delay."""

    def __init__(self, ctx: Ctx, client: Node, stations: list[Node], period_s: float) -> None:
        self.ctx, self.client, self.stations = ctx, client, stations
        self.rng = ctx.rng(f"dcp:{client.name}")
        self.rhythm = Rhythm(ctx, self.rng, period_s, 20.0)
        self.next_us = self.rhythm.first()

    def step(self) -> None:
        assert self.next_us is not None and self.client.mac is not None
        t = self.next_us
        net = self.ctx.net
        vlan = self.ctx.site.networks[self.client.dev.network].vlan
        xid = self.rng.getrandbits(32)
        net.frame(t, dcp.IDENTIFY_MULTICAST, self.client.mac, vlan, dcp.ETHERTYPE, dcp.identify_request(xid, 1))
        for station in self.stations:
            assert station.mac is not None
            # Response delay factor 1: each station answers within about 400 ms, at a random moment.
            reply_at = t + int(self.rng.uniform(1, 400) * 1000)
            net.frame(reply_at, self.client.mac, station.mac, vlan, dcp.ETHERTYPE,
                      dcp.identify_response(xid, dcp_station(self.ctx, station)))
        self.next_us = self.rhythm.next()


class MqttBroker:
    """Forwards publishes to the connected subscribers (the broker's side of their TCP connections)."""

    def __init__(self) -> None:
        self.subscribers: list[TcpConn] = []

    def forward(self, t: int, topic: str, payload: bytes) -> None:
        for conn in self.subscribers:
            conn.push(t + 300, False, mq.publish(topic, payload))


class MqttEdgeNode(Actor):
    """A Sparkplug B edge node: CONNECT with its NDEATH as will, NBIRTH with every metric (hardware make,
    model and firmware among them), then NDATA with the metrics that changed, PINGREQ when idle."""

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll, broker: MqttBroker) -> None:
        self.ctx, self.client, self.server, self.poll, self.broker = ctx, client, server, poll, broker
        self.rng = ctx.rng(f"mqtt:{client.name}")
        self.rhythm = Rhythm(ctx, self.rng, poll.period, 2.0)
        self.next_us = self.rhythm.first()
        self.group = str(poll.options.get("group", "plant"))
        self.edge = str(poll.options.get("edge_node", client.name))
        self.proc = ctx.process(client.dev)
        self.conn: TcpConn | None = None
        self.seq = 0
        self.last: dict[str, float] = {}

    def _metrics(self, only_changed: bool) -> list[mq.Metric]:
        out: list[mq.Metric] = []
        if self.proc is None:
            return out
        for p in self.proc.points:
            value = round(p.value, 2)
            if only_changed and self.last.get(p.name) == value:
                continue
            self.last[p.name] = value
            out.append((p.name.replace("_", "/", 1), mq.DT_BOOLEAN if p.binary else mq.DT_FLOAT,
                        bool(value) if p.binary else value))
        return out

    def _publish(self, t: int, kind: str, metrics: list[mq.Metric]) -> int:
        assert self.conn is not None
        payload = mq.sparkplug_payload(t // 1000, self.seq, metrics)
        self.seq = (self.seq + 1) & 0xFF
        topic = mq.topic(self.group, kind, self.edge)
        t = self.conn.push(t, True, mq.publish(topic, payload))
        self.broker.forward(t, topic, payload)
        return t

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        self.ctx.plant.advance(t)
        if self.conn is None:
            self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
            t = self.conn.open(t)
            death = mq.sparkplug_payload(t // 1000, 0, [("bdSeq", mq.DT_UINT64, 0)])
            will = mq.topic(self.group, "NDEATH", self.edge)
            t = self.conn.exchange(t + 1_000, mq.connect(self.edge, 60, will, death, "edge", None), mq.connack(),
                                   2_000, next_us=t)
            dev = self.client.dev
            props: list[mq.Metric] = [("bdSeq", mq.DT_UINT64, 0), ("Node Control/Rebirth", mq.DT_BOOLEAN, False),
                                      ("Properties/Hardware Make", mq.DT_STRING, dev.vendor),
                                      ("Properties/Hardware Model", mq.DT_STRING, dev.product),
                                      ("Properties/FW", mq.DT_STRING, dev.firmware),
                                      ("Properties/Serial Number", mq.DT_STRING, dev.serial)]
            t = self._publish(t + 2_000, "NBIRTH", props + self._metrics(False))
        else:
            metrics = self._metrics(True)
            if metrics:
                t = self._publish(t, "NDATA", metrics)
            else:
                t = self.conn.exchange(t, mq.pingreq(), mq.pingresp(), 500)
        self.next_us = self.rhythm.next(after=t)


class MqttSubscriber(Actor):
    """A Sparkplug host application: subscribes to the whole namespace, announces its STATE, pings."""

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll, broker: MqttBroker) -> None:
        self.ctx, self.client, self.server, self.poll, self.broker = ctx, client, server, poll, broker
        self.rng = ctx.rng(f"mqtt-sub:{client.name}")
        self.rhythm = Rhythm(ctx, self.rng, poll.period, 1.0)
        self.next_us = self.rhythm.first()
        self.conn: TcpConn | None = None

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        if self.conn is None:
            self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
            t = self.conn.open(t)
            t = self.conn.exchange(t + 1_000, mq.connect(self.client.name, int(self.poll.period * 2)), mq.connack(),
                                   2_000, next_us=t)
            t = self.conn.exchange(t + 1_000, mq.subscribe(1, [("spBv1.0/#", 0)]), mq.suback(1, [0]), 2_000,
                                   next_us=t)
            # Sparkplug 2.2 host state (Ignition 8.1): "STATE/<host id>", retained, payload ONLINE.
            self.conn.push(t + 1_000, True, mq.publish(f"STATE/{self.client.name}", b"ONLINE", qos=1, packet_id=2,
                                                       retain=True), ack=False)
            self.conn.push(t + 1_000 + 2 * self.conn.latency, False, mq.puback(2))
            self.broker.subscribers.append(self.conn)
        else:
            t = self.conn.exchange(t, mq.pingreq(), mq.pingresp(), 500)
        self.next_us = self.rhythm.next(after=t)


class OpcUaClient(Actor):
    """Discovery (GetEndpoints), a session (CreateSession, ActivateSession anonymous), then cyclic Reads of
    the tags the OPC server collects from its controllers."""

    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        self.ctx, self.client, self.server, self.poll = ctx, client, server, poll
        self.rng = ctx.rng(f"opcua:{client.name}->{server.name}")
        self.rhythm = Rhythm(ctx, self.rng, poll.period, 2.0)
        self.next_us = self.rhythm.first()
        o = server.dev.protocols["opcua"]
        self.url = f"opc.tcp://{server.name}.{ctx.site.domain}:{server_port(poll)}"
        self.server_app = ua.Application(str(o.get("application_uri", f"urn:{server.name}")),
                                         str(o.get("product_uri", "")), str(o.get("application_name", server.name)), 0)
        self.client_app = ua.Application(f"urn:{client.name}:{client.dev.product}", "", client.dev.product, 1)
        self.tags: list[tuple[str, Process]] = []
        for p in server.dev.polls:
            proc = ctx.plant.get(ctx.site.devices[p.server].process)
            if proc is not None and p.proto in ("enip", "s7comm", "modbus"):
                self.tags += [(f"Channel1.{p.server}.{pt.name}", proc) for pt in proc.analogs()[:4]]
        self.conn: TcpConn | None = None
        self.seq = 1
        self.req = 1
        self.channel = self.rng.randrange(1, 1 << 31)
        self.token = self.rng.randrange(1, 1 << 31)

    def _msg(self, t: int, request: bytes, reply: bytes, *, opn: bool = False, next_us: int | None = None) -> int:
        assert self.conn is not None
        self.seq += 1
        self.req += 1
        if opn:
            req = ua.open_channel(0, self.seq, self.req, request)
            rep = ua.open_channel(self.channel, self.seq + 50, self.req, reply)
        else:
            req = ua.message(self.channel, 1, self.seq, self.req, request)
            rep = ua.message(self.channel, 1, self.seq + 50, self.req, reply)
        return self.conn.exchange(t, req, rep, int(self.rng.uniform(0.5, 4) * 1000), next_us=next_us)

    def step(self) -> None:
        assert self.next_us is not None
        t = self.next_us
        self.ctx.plant.advance(t)
        nxt = self.rhythm.next()
        h = self.req + 1
        if self.conn is None:
            self.conn = TcpConn(self.ctx.net, self.client, self.server, server_port(self.poll))
            t = self.conn.open(t)
            t = self.conn.exchange(t + 500, ua.hello(self.url), ua.acknowledge(), 1_000, next_us=t)
            t = self._msg(t + 500, ua.open_channel_request(t, h), ua.open_channel_response(t, h, self.channel, 1),
                          opn=True, next_us=t)
            h = self.req + 1
            t = self._msg(t + 500, ua.get_endpoints_request(t, h, self.url),
                          ua.get_endpoints_response(t, h, self.url, self.server_app), next_us=t)
            h = self.req + 1
            nonce = self.rng.randbytes(32)
            t = self._msg(t + 500, ua.create_session_request(t, h, self.client_app, self.url,
                                                             f"{self.client.name} session", nonce),
                          ua.create_session_response(t, h, self.rng.randrange(1 << 30), self.token, self.url,
                                                     self.server_app, self.rng.randbytes(32)), next_us=t)
            h = self.req + 1
            t = self._msg(t + 500, ua.activate_session_request(t, h, self.token),
                          ua.activate_session_response(t, h, self.rng.randbytes(32)), next_us=nxt)
        elif self.tags:
            values = [proc.p(name.rsplit(".", 1)[1]).value for name, proc in self.tags]
            t = self._msg(t, ua.read_request(t, h, self.token, [n for n, _ in self.tags]),
                          ua.read_response(t, h, values), next_us=nxt)
        self.next_us = nxt if nxt > t else self.rhythm.next(after=t)


__all__ = ["BacnetSupervisor", "DcpDiscovery", "MqttBroker", "MqttEdgeNode", "MqttSubscriber",
           "OpcUaClient", "bacnet_identity", "dcp_station"]
