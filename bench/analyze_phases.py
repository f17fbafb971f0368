"""Where `zonewarden analyze` spends its time on a capture: one in-process run, timed phase by phase.

Usage: analyze_phases.py CAPTURE  (prints one JSON object: seconds per phase, and the process's total)

The phases follow pipeline/analysis.py: importing the modules (the store's SQLAlchemy apart), opening an
in-memory store, the packet pass (flows, events, the fast lane; the address sightings come from a forked
process meanwhile), building the inventory, and merging it with the store and writing it. Not timed by
``make bench`` itself (the end-to-end case is); printed beside it, to show what the inventory costs.
"""

import json
import sys
import time


def main() -> None:
    started = time.perf_counter()
    from zonewarden.pipeline import analysis  # (importing is a phase)

    imported = time.perf_counter()
    from zonewarden.store.db import Store  # (importing is a phase)

    store_imported = time.perf_counter()
    store = Store(":memory:")
    opened = time.perf_counter()
    marks: dict[str, float] = {}
    build = analysis.InventoryBuilder.build
    save = analysis._save

    def timed_build(builder: analysis.InventoryBuilder) -> object:
        marks["build_start"] = time.perf_counter()
        try:
            return build(builder)
        finally:
            marks["build_end"] = time.perf_counter()

    def timed_save(*args: object) -> object:
        marks["save_start"] = time.perf_counter()
        return save(*args)  # type: ignore[arg-type]

    setattr(analysis.InventoryBuilder, "build", timed_build)  # noqa: B010 - a stand-in, not an attribute
    setattr(analysis, "_save", timed_save)  # noqa: B010
    analysis.analyze([sys.argv[1]], store)
    done = time.perf_counter()
    print(json.dumps({
        "imports": round(imported - started, 3), "store_import": round(store_imported - imported, 3),
        "store_open": round(opened - store_imported, 3), "packet_pass": round(marks["build_start"] - opened, 3),
        "inventory_build": round(marks["build_end"] - marks["build_start"], 3),
        "merge_and_store_write": round(done - marks["save_start"], 3), "total_in_process": round(done - started, 3),
    }))


if __name__ == "__main__":
    main()
