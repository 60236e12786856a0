"""The OLTP client runner's deadline, on a real process that prints nothing."""

from __future__ import annotations

import time

import pytest


def test_oltp_client_deadline_holds_when_the_client_prints_nothing() -> None:
    from raytune.measurement._oltp import ClientTimeoutError, _run_client

    class SilentWorkloadFake:  # a fake workload: only its progress parser is used
        def parse_progress(self, line: str) -> None:
            return None

    t0 = time.monotonic()
    with pytest.raises(ClientTimeoutError, match="ran past its 1s limit"):
        _run_client(["sleep", "30"], SilentWorkloadFake(), 1.0, None)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 10
