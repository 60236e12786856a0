"""Process priority for the servers and clients knobray starts.

Ray runs its worker processes at a lowered priority (niceness 15, ``RAY_worker_niceness``), and a process
inherits the niceness of the thread that starts it: database servers and benchmark clients started from a Ray
actor would then lose the CPU to any ordinary process on the machine, which distorts the very measurement a
trial makes. Servers and clients are therefore started at niceness 0 where the OS allows it (root, or
CAP_SYS_NICE); elsewhere they keep the inherited priority and a debug line says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def normal_priority() -> Iterator[None]:
    """Within the block, processes started by this thread get niceness 0 (Linux niceness is per thread)."""
    try:
        before = os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        yield
        return
    changed = False
    if before > 0:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
            changed = True
        except OSError as exc:
            logger.debug("cannot raise priority from niceness %d: %s", before, exc)
    try:
        yield
    finally:
        if changed:
            os.setpriority(os.PRIO_PROCESS, 0, before)
