"""Which status a measurement failure stands for (pure logic)."""

from __future__ import annotations

import pytest

from raytune.records import TrialStatus


def test_programming_errors_are_never_blamed_on_the_config() -> None:
    from raytune.errors import EngineError
    from raytune.measurement import ClientTimeoutError, QueryFailedError
    from raytune.trial import failure_status

    assert failure_status(QueryFailedError("q01 failed"), server_running=True) is TrialStatus.REJECTED
    assert failure_status(EngineError("server died"), server_running=False) is TrialStatus.CRASHED
    assert (
        failure_status(ClientTimeoutError("pgbench ran past"), server_running=True) is TrialStatus.TIMED_OUT
    )
    assert (
        failure_status(OSError(28, "No space left on device"), server_running=True) is TrialStatus.INFRA_ERROR
    )
    for bug in (TypeError("bad operand"), KeyError("x"), AttributeError("y")):
        with pytest.raises(type(bug)):
            failure_status(bug, server_running=True)


def test_driver_errors_of_the_engine_are_the_servers_not_bugs() -> None:
    from raytune.trial import failure_status

    class DriverErrorFake(Exception):  # a fake DB-API error class, as an engine declares its driver's
        pass

    assert failure_status(DriverErrorFake("server closed the connection"), False, (DriverErrorFake,)) is (
        TrialStatus.CRASHED
    )
    with pytest.raises(DriverErrorFake):
        failure_status(DriverErrorFake("x"), True)  # not declared: treated as a bug
