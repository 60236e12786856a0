"""Processes that do not outlive their owner, and the sweep of what a dead owner left behind.

Servers and benchmark clients are started with the parent-death signal set (Linux ``PR_SET_PDEATHSIG``): when the
owner (a trial command, a Ray instance actor) dies, even by SIGKILL, the kernel kills them too. Each instance
directory records its owner in ``owner.json`` (pid and process start time, so a reused pid is not mistaken
for the owner); a new owner sweeps the directories whose owner is gone, killing a server still running there.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
from pathlib import Path

logger = logging.getLogger(__name__)

OWNER_FILE = "owner.json"
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_owner() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child gets SIGKILL when the thread that started it ends.

    Runs in the child between fork and exec, after any change of user (a change of user clears the setting).
    """
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def write_owner(root: Path, server_pid: int | None) -> None:
    """Records this process as the owner of the instance in ``root`` and the server it started."""
    pid = os.getpid()
    doc = {"pid": pid, "start": _start_time(pid), "server_pid": server_pid}
    tmp = root / f"{OWNER_FILE}.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, root / OWNER_FILE)


def _owner_alive(doc: dict[str, object]) -> bool:
    pid = doc.get("pid")
    return isinstance(pid, int) and _start_time(pid) is not None and _start_time(pid) == doc.get("start")


def _kill_server(root: Path, pid: object) -> None:
    if not isinstance(pid, int):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return  # already gone
    if str(root).encode() in cmdline:  # only a server of that directory, never a reused pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it exited meanwhile


def sweep_orphans(instances_dir: Path) -> int:
    """Kills the servers and removes the instance directories under ``instances_dir`` whose owner died."""
    swept = 0
    if not instances_dir.is_dir():
        return 0
    for root in instances_dir.iterdir():
        owner = root / OWNER_FILE
        try:
            doc = json.loads(owner.read_text())
        except (OSError, ValueError):
            continue  # not started yet, or not ours
        if _owner_alive(doc):
            continue
        logger.warning("removing instance %s left by dead owner pid %s", root, doc.get("pid"))
        _kill_server(root, doc.get("server_pid"))
        shutil.rmtree(root, ignore_errors=True)
        swept += 1
    return swept
