"""A watchdog that stops the local Ray a search driver started, should the driver die without stopping it.

``ray.init`` on one machine starts Ray's processes as the driver's descendants; a driver killed with SIGKILL
leaves some of them running (Ray's dashboard and runtime-env agents). The watchdog is a separate process that
holds the read end of a pipe whose write end only the driver has: when the kernel closes it (the driver
exited, however it did), the watchdog kills every process that still has a file open in that Ray session's
directory (``session_*_<driver pid>``), then exits.

    python -m raytune.tune._reaper DRIVER_PID     # started by start_reaper(); reads its stdin to EOF
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_pipe_to_reaper: int | None = None


def start_reaper() -> None:
    """Starts the watchdog for this driver's local Ray (once per process)."""
    global _pipe_to_reaper
    if _pipe_to_reaper is not None:
        return
    read_end, write_end = os.pipe()  # not inherited by Ray's processes (PEP 446): only this driver holds it
    subprocess.Popen(
        [sys.executable, "-m", "raytune.tune._reaper", str(os.getpid())],
        stdin=read_end,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(read_end)
    _pipe_to_reaper = write_end


def session_processes(driver_pid: int) -> list[int]:
    """Processes with a file open in a Ray session directory of ``driver_pid`` (``.../session_*_<pid>/...``)."""
    pattern = re.compile(rf"/session_[^/]*_{driver_pid}/")
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if any(pattern.search(t) for t in targets):
            found.append(int(proc.name))
    return found


def reap(driver_pid: int, grace_s: float = 2.0) -> int:
    """Kills what is left of the driver's Ray session; returns how many processes were killed."""
    time.sleep(grace_s)  # a clean shutdown finishes on its own
    killed = 0
    for pid in session_processes(driver_pid):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            continue
    return killed


def main() -> None:
    driver_pid = int(sys.argv[1])
    sys.stdin.buffer.read()  # returns at EOF: the driver is gone
    reap(driver_pid)


if __name__ == "__main__":
    main()
