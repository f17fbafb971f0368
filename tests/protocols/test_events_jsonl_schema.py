"""`zonewarden events` output matches the documented event types, line by line, on real captures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.registry import ANALYZERS

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
# One real capture per protocol family, run through the real CLI.
CAPTURES = [
    "modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap",
    "dnp3/cisagov-icsnpp-dnp3/dnp3_example.pcap",
    "s7comm/cisagov-icsnpp-s7comm/s7comm_plus.pcap",
    "enip-cip/cisagov-icsnpp-enip/enip_cip_example.pcap",
    "bacnet/cisagov-icsnpp-bacnet/bacnet_example.pcap",
    "iec104/emreekin-ics-pcaps/iec104.pcap",
    "opcua/cisagov-icsnpp-opcua-binary/opcua_with-gap.pcap",
    "profinet/cisagov-icsnpp-profinet-io-cm/profinet_io_cm_mixed_1.pcap",
    "dnp3/controlthings-ct-samples/dnp_malformed.pcap",
]
COMMON = {f.name for f in msgspec.structs.fields(Event)}


def _types() -> dict[str, list[type[Event]]]:
    by_proto: dict[str, list[type[Event]]] = {}
    for spec in ANALYZERS:
        for cls in spec.events:
            proto = next(f.default for f in msgspec.structs.fields(cls) if f.name == "proto")
            by_proto.setdefault(str(proto), []).append(cls)
    return by_proto


@pytest.mark.parametrize("rel", CAPTURES)
def test_every_line_decodes_as_its_documented_type(rel: str) -> None:
    path = CORPUS / rel
    assert path.exists(), f"missing corpus capture {path}"
    out = subprocess.run([sys.executable, "-m", "zonewarden", "events", str(path), "-q"], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines, "no events"
    types = _types()
    for line in lines:
        raw = json.loads(line)
        assert set(raw) >= COMMON, f"common fields missing in {line[:120]}"
        if raw["kind"] == "anomaly":
            msgspec.json.decode(line, type=AnomalyEvent)
            assert raw["anomaly"].startswith(raw["proto"] + ".")
            continue
        # The event type whose documented fields are exactly this line's keys, and the line decodes as it.
        matching = [c for c in types[raw["proto"]] if set(raw) == {f.name for f in msgspec.structs.fields(c)}]
        assert len(matching) == 1, f"keys match no single documented type: {line[:200]}"
        decoded = msgspec.json.decode(line, type=matching[0])
        assert decoded.proto == raw["proto"]
