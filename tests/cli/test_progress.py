"""The progress bar on a terminal: bytes while the captures are read, then each later step by name (on a big
capture, building the inventory and writing the store take seconds that would otherwise look like a hang)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from zonewarden.simulate.demo_capture import write_demo


def on_a_terminal(*args: str) -> tuple[int, str]:
    """Exit status and everything the command wrote to stderr, which is a terminal (a pseudo-terminal)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "zonewarden", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(), b"".join(chunks).decode(errors="replace")


def test_analyze_names_its_steps_after_reading(tmp_path: Path) -> None:
    capture = tmp_path / "plant.pcap"
    write_demo(capture)
    status, shown = on_a_terminal("analyze", str(capture), "--db", str(tmp_path / "zw.db"))
    assert status == 0
    assert shown.index("reading") < shown.index("building the inventory") < shown.index("assets to the store")
    assert "assets: " in shown  # then the summary


def test_no_bar_when_asked_for_none(tmp_path: Path) -> None:
    capture = tmp_path / "plant.pcap"
    write_demo(capture)
    status, shown = on_a_terminal("analyze", str(capture), "--db", str(tmp_path / "zw.db"), "--no-progress")
    assert status == 0
    assert "building the inventory" not in shown and "reading" not in shown
