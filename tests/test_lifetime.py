"""Processes die with their owner; what a dead owner left is swept (real processes, real /proc)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from raytune.lifetime import OWNER_FILE, sweep_orphans, write_owner


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


OWNER = """
import subprocess, sys, time
from raytune.lifetime import die_with_owner
child = subprocess.Popen(["sleep", "60"], preexec_fn=die_with_owner)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_child_dies_when_its_owner_is_killed() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    assert _alive(child)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _wait_gone(child), "the child outlived its SIGKILLed owner"


def test_sweep_kills_the_server_of_a_dead_owner_and_keeps_live_ones(tmp_path: Path) -> None:
    dead_root, live_root = tmp_path / "dead", tmp_path / "live"
    dead_root.mkdir()
    live_root.mkdir()
    # A "server" whose command line names its directory, as real servers' -D / --defaults-file do.
    server = subprocess.Popen(["sh", "-c", "sleep 60", str(dead_root)], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    (dead_root / OWNER_FILE).write_text(json.dumps({"pid": gone.pid, "start": "1", "server_pid": server.pid}))
    write_owner(live_root, server_pid=None)  # this test process owns it
    try:
        assert sweep_orphans(tmp_path) == 1
        server.wait(timeout=10)
        assert not dead_root.exists() and live_root.exists()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
