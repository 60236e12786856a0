"""Berkeley DB as an engine (real libdb through the berkeleydb bindings): each knob applied and read back from
the database's and the environment's own state, bad values refused with one line."""

from __future__ import annotations

import pytest
from berkeleydb import db

from raytune.engines import ApplyOutcome, BerkeleyDBInstance
from raytune.errors import KnobError
from raytune.trial import validate_config
from raytune.workloads import ItemSpace

pytestmark = pytest.mark.slow

SPACE = ItemSpace(sf=0.2)  # 4,900 items, 700 of them large (~450 bytes)


@pytest.fixture
def instance(bdb_instance: BerkeleyDBInstance) -> BerkeleyDBInstance:
    return bdb_instance


def _stat(inst: BerkeleyDBInstance) -> dict:
    with inst.connect() as handle:
        return handle.db.stat()


def test_defaults_are_the_thesis_defaults(instance: BerkeleyDBInstance) -> None:
    stat = _stat(instance)
    assert (stat["pagesize"], stat["minkey"], stat["ndata"]) == (8192, 2, SPACE.items)
    assert stat["over_pg"] == 0  # (8K, 2): every item fits on a leaf page
    assert instance.env.get_lk_detect() == db.DB_LOCK_RANDOM
    assert instance.rmw is False


@pytest.mark.parametrize(("page_size", "min_keys"), [(2048, 2), (2048, 4), (8192, 16), (8192, 2)])
def test_layout_knobs_rebuild_the_database(
    instance: BerkeleyDBInstance, page_size: int, min_keys: int
) -> None:
    result = instance.apply({"page_size": str(page_size), "min_keys": min_keys})
    assert result.restarted and result.applied == {"page_size": str(page_size), "min_keys": str(min_keys)}
    stat = _stat(instance)
    assert (stat["pagesize"], stat["minkey"], stat["ndata"]) == (page_size, min_keys, SPACE.items)
    # "4/16" pushes the large items (and only those) to overflow pages; (2K, 2) and (8K, 2) keep them on leaves.
    if min_keys > 2:
        assert SPACE.large_items <= stat["over_pg"] < SPACE.items
    else:
        assert stat["over_pg"] == 0


def test_deadlock_policy_is_the_detector(instance: BerkeleyDBInstance) -> None:
    for policy in ("minwrite", "youngest", "minlocks", "random"):
        assert instance.apply({"deadlock_policy": policy}).restarted
        assert instance.env.get_lk_detect() == getattr(db, f"DB_LOCK_{policy.upper()}")


def test_db_rmw_takes_write_locks_on_reads(instance: BerkeleyDBInstance) -> None:
    """With DB_RMW a read blocks another reader of the item (a write lock); without it both read."""

    def second_reader_blocked() -> bool:
        key = ItemSpace.key(0, 0, 0)
        first, second = instance.env.txn_begin(), instance.env.txn_begin(flags=db.DB_TXN_NOWAIT)
        try:
            instance.db.get(key, txn=first, flags=db.DB_RMW if instance.rmw else 0)
            try:
                instance.db.get(key, txn=second)
            except (db.DBLockNotGrantedError, db.DBLockDeadlockError):  # NOWAIT: "not granted" is reported so
                return True
            return False
        finally:
            second.abort()
            first.abort()

    assert not second_reader_blocked()
    result = instance.apply({"db_rmw": "on"})
    assert not result.restarted and result.applied == {"db_rmw": "on"}
    assert second_reader_blocked()
    instance.apply({})
    assert not second_reader_blocked()


def test_a_refused_layout_keeps_the_last_good_one(instance: BerkeleyDBInstance) -> None:
    instance.apply({"page_size": "2048"})
    # min_keys 64 on 512-byte pages leaves no room for an item: Berkeley DB refuses the layout.
    result = instance.try_apply({"page_size": "512", "min_keys": 64})
    assert result.outcome is not ApplyOutcome.APPLIED and "berkeleydb" in (result.error or "")
    assert _stat(instance)["pagesize"] == 2048


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"page_size": "3000"}, "page_size"),
        ({"min_keys": 1}, "min_keys"),
        ({"deadlock_policy": "never"}, "deadlock_policy"),
        ({"cache_size": "1GB"}, "unknown knob"),
    ],
)
def test_bad_values_are_refused_before_anything_opens(config: dict, message: str) -> None:
    with pytest.raises(KnobError, match=message) as err:
        validate_config("berkeleydb", config)
    assert "\n" not in str(err.value)
