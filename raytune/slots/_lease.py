"""Node-level slot leases: which slot's CPUs a trial runs on, whatever search it belongs to.

Ray's ``db_slot`` resource admits at most as many trials on a node as it has slots, across every search on the
cluster. The physical slot (its CPU set) is leased per trial from lock files on the node, so two searches
sharing a node never run trials on the same CPUs at once. A lock is an ``flock``: the kernel drops it when its
holder dies, so a killed owner never keeps a slot.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from raytune.errors import InfraError


def _lock_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"knobray-slots-{os.getuid()}"
    path.mkdir(mode=0o755, exist_ok=True)
    return path


def _try_lock(index: int) -> int | None:
    fd = os.open(_lock_dir() / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def lease_slot(capacity: int, preferred: int = 0, timeout_s: float = 600.0) -> Iterator[int]:
    """Holds one of this node's ``capacity`` slots for the block: ``preferred`` if free, else the first free one.

    Raises:
        InfraError: No slot came free within ``timeout_s`` (more trials than slots: a second Ray on the node?).
    """
    order = [preferred % capacity] + [i for i in range(capacity) if i != preferred % capacity]
    deadline = time.monotonic() + timeout_s
    while True:
        for index in order:
            fd = _try_lock(index)
            if fd is not None:
                try:
                    yield index
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                return
        if time.monotonic() > deadline:
            raise InfraError(f"none of this node's {capacity} slots came free in {timeout_s:.0f}s")
        time.sleep(0.2)
