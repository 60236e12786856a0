"""Servers and clients start at niceness 0 even when the starting thread runs lowered, as Ray's workers do."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from raytune.priority import normal_priority


@pytest.mark.skipif(os.geteuid() != 0, reason="raising priority needs root or CAP_SYS_NICE")
def test_children_start_at_normal_priority_and_the_thread_is_restored() -> None:
    seen: dict[str, int] = {}

    def lowered_thread() -> None:
        os.setpriority(os.PRIO_PROCESS, 0, 15)  # Linux: this thread only, like a Ray worker's
        with normal_priority():
            out = subprocess.run(
                ["sh", "-c", "cut -d' ' -f19 /proc/self/stat"], capture_output=True, text=True
            )
        seen["child"] = int(out.stdout.strip())
        seen["after"] = os.getpriority(os.PRIO_PROCESS, 0)

    th = threading.Thread(target=lowered_thread)
    th.start()
    th.join()
    assert seen == {"child": 0, "after": 15}
