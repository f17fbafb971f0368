"""``analyze`` reads the address sightings in a forked process: the inventory, map, changes and summary are
the same as in one process, over the whole corpus in one run (every link type, VLANs, ARP, layer-2
protocols, IPv6, fragments, damaged captures) and over the simulated plant; a failure in the forked process,
or its death, reaches the caller as an error and writes nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zonewarden.cli.main import cli
from zonewarden.pipeline import analysis
from zonewarden.pipeline.analysis import analyze
from zonewarden.pipeline.endpoints import EndpointObserver
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.simulate.demo_capture import write_demo
from zonewarden.store.db import Store


def outcome(inputs: list[str], fork: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    forks: list[object] = []
    real = analysis.forked.ForkedTask

    def counted(*args: Any) -> Any:
        forks.append(args)
        return real(*args)

    with monkeypatch.context() as m:
        m.setenv("ZONEWARDEN_ANALYZE_FORK", "1" if fork else "0")
        m.setattr(analysis.forked, "ForkedTask", counted)
        store = Store(":memory:")
        result = analyze(inputs, store)
    assert len(forks) == int(fork)
    assert result.summary is not None
    return {"assets": [a.as_dict() for a in result.assets], "edges": result.edges, "changes": result.changes,
            "summary": result.summary.as_dict(), "events": result.events_by_protocol,
            "left out": (result.probed_only, result.unproven_only, result.refused_addresses),
            "stored": (store.load_assets(), store.load_edges(), store.changes())}


def test_the_whole_corpus_in_one_run_is_the_same_forked(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forked = outcome([str(corpus_dir)], True, monkeypatch)
    alone = outcome([str(corpus_dir)], False, monkeypatch)
    assert len(forked["assets"]) > 1000 and len(forked["edges"]) > 1000  # the corpus, not an empty run
    for key, value in forked.items():
        assert value == alone[key], key


def test_the_simulated_plant_is_the_same_forked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = tmp_path / "plant.pcap"
    write_demo(capture)
    forked = outcome([str(capture)], True, monkeypatch)
    assert forked == outcome([str(capture)], False, monkeypatch)
    assert any(a["macs"] and a["ips"] for a in forked["assets"])  # grouped by the sightings the child read


def test_sightings_past_the_bound_are_counted_the_same_forked(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The address sightings the observer could not follow are a limit hit, counted in packets, whichever
    process read them."""
    capture = tmp_path / "plant.pcap"
    write_demo(capture)
    monkeypatch.setattr(analysis, "EndpointObserver", lambda: EndpointObserver(max_entries=5))
    forked = outcome([str(capture)], True, monkeypatch)
    assert forked == outcome([str(capture)], False, monkeypatch)
    bounded = EndpointObserver(max_entries=5)
    for _records in PacketPipeline([str(capture)], consumers=[bounded], track_flows=False).flow_batches():
        pass
    assert len(bounded.sightings()) <= 5 and bounded.dropped > 0
    assert forked["summary"]["limits"]["address_sightings_dropped"] == bounded.dropped


def test_a_failure_in_the_forked_reader_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = tmp_path / "plant.pcap"
    write_demo(capture)

    def broken(todo: list[str]) -> analysis.Sightings:
        raise OSError(f"lost {todo[0]} midway")

    monkeypatch.setattr(analysis, "_sightings", broken)
    store = Store(":memory:")
    with pytest.raises(OSError, match=r"lost .*plant\.pcap midway"):
        analyze([str(capture)], store)
    assert store.known_inputs() == {}  # nothing half-written


def test_a_forked_reader_that_is_killed_ends_the_command_with_a_clean_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = tmp_path / "plant.pcap"
    write_demo(capture)

    def killed(todo: list[str]) -> analysis.Sightings:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        raise AssertionError("unreachable")

    monkeypatch.setattr(analysis, "_sightings", killed)
    result = CliRunner().invoke(cli, ["analyze", str(capture), "--db", str(tmp_path / "zw.db")])
    assert result.exit_code == 1
    assert "error: a worker process" in result.output and "Traceback" not in result.output
