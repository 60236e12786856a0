from __future__ import annotations

import json

import pytest

from raytune.records import Direction, TrialRecord, TrialStatus


def test_record_round_trips_through_json() -> None:
    rec = TrialRecord(
        engine="postgres", objective=1.5, config={"work_mem": "64MB"}, direction=Direction.MINIMIZE
    )
    data = json.loads(rec.to_json())
    assert data["status"] == "SUCCEEDED" and data["direction"] == "min"
    again = TrialRecord.from_dict(data)
    assert again == rec


def test_fail_keeps_one_line_and_clears_objective() -> None:
    rec = TrialRecord(objective=3.0).fail("server exited\nwith details", "log line")
    assert rec.status is TrialStatus.REJECTED and rec.objective is None
    assert rec.error == "server exited" and rec.log_tail == "log line"


def test_fail_takes_a_cause_and_may_keep_a_censored_objective() -> None:
    rec = TrialRecord(objective=30.0).fail(
        "q05 ran past the timeout", None, TrialStatus.TIMED_OUT, keep_objective=True
    )
    assert rec.status is TrialStatus.TIMED_OUT and rec.objective == 30.0
    with pytest.raises(ValueError):
        TrialRecord().fail("x", None, TrialStatus.SUCCEEDED)


def test_only_a_configs_own_failures_are_penalised() -> None:
    penalised = {s for s in TrialStatus if s.penalised}
    assert penalised == {TrialStatus.REJECTED, TrialStatus.CRASHED, TrialStatus.TIMED_OUT, TrialStatus.FAILED}
    assert not TrialStatus.INFRA_ERROR.penalised and not TrialStatus.SUCCEEDED.penalised


def test_records_of_older_versions_still_read() -> None:
    old = TrialRecord.from_dict({"status": "FAILED", "direction": "min", "hardware": {"cores": 2}})
    assert old.status is TrialStatus.FAILED and old.slot == {}
