from __future__ import annotations

import json

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
    assert rec.status is TrialStatus.FAILED and rec.objective is None
    assert rec.error == "server exited" and rec.log_tail == "log line"
