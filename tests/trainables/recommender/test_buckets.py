"""Knob buckets: decile positions of each knob's range in the slot (pure logic)."""

from __future__ import annotations

import pytest

from trainables.recommender import BUCKETS, KnobBuckets

GIB = 1024**3


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_buckets_round_trip_through_their_middles(engine: str) -> None:
    kb = KnobBuckets(engine, 1, 4 * GIB)
    # Knobs whose range holds at least a hundred values keep their bucket exactly; a narrow integer range
    # (a few worker processes) has fewer values than buckets, and orderings may move a knob.
    wide = [s.choices == () and (s.kind.value == "float" or s.upper - s.lower >= 100) for s in kb.specs]
    for b in range(BUCKETS):
        buckets = [min(b, n - 1) for n in (len(s.choices) if s.choices else BUCKETS for s in kb.specs)]
        back = kb.to_buckets(kb.from_buckets(buckets))
        assert [x for x, w in zip(back, wide, strict=True) if w] == [
            x for x, w in zip(buckets, wide, strict=True) if w
        ]
        assert all(0 <= x < BUCKETS for x in back)


def test_sizes_are_bucketed_on_a_log_scale_relative_to_the_slot() -> None:
    kb = KnobBuckets("postgres", 1, 4 * GIB)
    i = kb.knobs.index("shared_buffers")
    spec = kb.specs[i]
    assert spec.log
    low = kb.to_buckets({"shared_buffers": int(spec.lower * spec.scale)})[i]
    high = kb.to_buckets({"shared_buffers": int(spec.upper * spec.scale)})[i]
    assert (low, high) == (0, BUCKETS - 1)
    bigger = KnobBuckets("postgres", 1, 16 * GIB)
    assert bigger.to_buckets({"shared_buffers": 131072})[i] <= kb.to_buckets({"shared_buffers": 131072})[i]


def test_choice_knobs_use_their_index_and_unknown_knobs_are_ignored() -> None:
    kb = KnobBuckets("postgres", 1, 4 * GIB)
    i = kb.knobs.index("jit")
    on, off = kb.to_buckets({"jit": "on"})[i], kb.to_buckets({"jit": "off", "not_a_knob": 3})[i]
    assert {on, off} == {0, 1}
    assert kb.from_buckets([0] * len(kb.knobs))["jit"] in ("on", "off")
