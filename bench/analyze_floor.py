"""What `zonewarden analyze` costs before any inventory: the work it cannot leave out, timed in one process.

Usage: analyze_floor.py CAPTURE  (prints one JSON object: seconds per phase, and the process's total)

analyze must read the flows (as `zonewarden flows` does, less the JSONL) and count the ICS messages in them
(the compiled fast lane: the identity, roles and operations the inventory is made of come from them), then
import the store (SQLAlchemy Core, which the issue asks for). This runs exactly that and nothing of the
inventory: no address sightings, no conversations, no assets, no rows written. Compared with the time of
`zonewarden flows` on the same file it bounds how close analyze can come to flows (issue 4).
"""

import json
import sys
import time


def main() -> None:
    started = time.perf_counter()
    from zonewarden.pipeline.app_layer import AppLayer
    from zonewarden.pipeline.fastlane import FastLane, MessageCounts
    from zonewarden.pipeline.packets import PacketPipeline
    from zonewarden.protocols.registry import ANALYZERS

    imported = time.perf_counter()
    counts: dict[str, int] = {}

    def on_event(e: object) -> None:
        proto = str(getattr(e, "proto", ""))
        counts[proto] = counts.get(proto, 0) + 1

    def on_counts(c: MessageCounts) -> None:
        counts[c.proto] = counts.get(c.proto, 0) + c.count

    app = AppLayer(on_event, ANALYZERS)
    app.lane = FastLane(on_counts, app.tcp_ports)
    flows = 0
    for records in PacketPipeline([sys.argv[1]], consumers=[app]).flow_batches():
        flows += len(records)
    passed = time.perf_counter()
    from zonewarden.store.db import Store  # (importing is a phase)

    Store(":memory:")
    stored = time.perf_counter()
    print(json.dumps({
        "imports": round(imported - started, 3), "packet_pass": round(passed - imported, 3),
        "store_import_and_open": round(stored - passed, 3), "total_in_process": round(stored - started, 3),
        "flows": flows, "messages": sum(counts.values()),
    }))


if __name__ == "__main__":
    main()
