"""Checkpoints: the frequency policy, both embedded stores and picking a checkpoint."""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path
from typing import Any

import pytest

from oxify.engine.checkpoints import CheckpointPolicy
from oxify.engine.machine import Machine
from oxify.engine.plan import build_plan
from oxify.errors import ExecutionError
from oxify.store.checkpoints import (
    Checkpoint,
    FileCheckpointStore,
    MemoryCheckpointStore,
    SavedExecution,
    pick,
)
from tests.support import END, START, build, value

# -- CheckpointPolicy -------------------------------------------------------------------------


def test_parse_never_is_disabled_and_never_due():
    policy = CheckpointPolicy.parse("never")
    assert policy == CheckpointPolicy(None, None)
    assert not policy.enabled
    assert not policy.due((0, 0), (100, 100))


def test_parse_every_level():
    policy = CheckpointPolicy.parse("every_level")
    assert policy == CheckpointPolicy(every_levels=1)
    assert policy.enabled
    assert policy.due((3, 0), (3, 1))
    assert not policy.due((3, 1), (9, 1))  # more nodes finished, no level completed


def test_parse_every_n_levels():
    policy = CheckpointPolicy.parse("every_n_levels:3")
    assert policy == CheckpointPolicy(every_levels=3)
    assert policy.enabled
    assert not policy.due((0, 0), (0, 2))
    assert policy.due((0, 2), (0, 3))  # crosses 3
    assert not policy.due((0, 3), (0, 5))
    assert policy.due((0, 5), (0, 6))  # crosses 6
    assert not policy.due((0, 3), (0, 3))  # no progress
    assert not policy.due((0, 0), (50, 2))  # nodes do not count


def test_parse_every_n_nodes():
    policy = CheckpointPolicy.parse("every_n_nodes:2")
    assert policy == CheckpointPolicy(every_nodes=2)
    assert policy.enabled
    assert not policy.due((0, 0), (1, 0))
    assert policy.due((1, 0), (2, 0))  # crosses 2
    assert not policy.due((2, 0), (3, 0))
    assert policy.due((3, 0), (4, 0))
    assert not policy.due((2, 0), (2, 9))  # levels do not count


@pytest.mark.parametrize(
    ("frequency", "before", "after"),
    [
        ("every_n_levels:3", (0, 1), (0, 7)),  # over 3 and 6 at once
        ("every_n_levels:3", (0, 2), (0, 9)),
        ("every_n_nodes:2", (3, 0), (8, 0)),  # over 4, 6 and 8 at once
        ("every_n_nodes:2", (0, 0), (10, 0)),
        ("every_level", (0, 0), (0, 4)),
    ],
)
def test_jumping_over_several_boundaries_is_due_once(frequency, before, after):
    assert CheckpointPolicy.parse(frequency).due(before, after)


@pytest.mark.parametrize("frequency", ["sometimes", "every_n_levels:x", "every_n_nodes:", ""])
def test_parse_rejects_unknown_frequencies(frequency):
    with pytest.raises(ValueError):
        CheckpointPolicy.parse(frequency)


# -- stores -----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryCheckpointStore()
    return FileCheckpointStore(tmp_path / "checkpoints")


WORKFLOW = build({"start": START, "a": value(1), "end": END}, "start>a, a>end")


def record(finished: int = 0, execution_id: str = "e1") -> dict[str, Any]:
    """A real execution record (plain data, without outputs) with the first ``finished``
    nodes of start>a>end succeeded."""
    machine = Machine(WORKFLOW, build_plan(WORKFLOW), rng=random.Random(1))
    rec = machine.new_record(execution_id, {})
    machine.start(rec, 0.0)
    for i, node_id in enumerate(["start", "a", "end"][:finished]):
        machine.node_started(rec, node_id, 1, i + 0.1)
        machine.node_succeeded(rec, node_id, 1, {"n": i}, i + 0.2)
    return rec.to_dict()


def save(store, outputs: dict[str, Any], *, rec=None, keep: int = 10, at: float = 1.0, eid="e1"):
    return store.save(eid, "automatic", at, "hash-1", rec or record(), outputs, keep)


def saved_execution(execution_id: str = "e1") -> SavedExecution:
    return SavedExecution(
        execution_id=execution_id,
        workflow={"metadata": {"name": "w"}, "nodes": [], "edges": []},
        library={"child.yaml": {"nodes": [], "edges": []}},
        workflow_hash="abc",
        inputs={"x": [1, 2], "y": None},
        config={"mode": "levels", "max_checkpoints": 3},
        source="/tmp/w.yaml",
    )


def test_save_execution_round_trip(store):
    saved = saved_execution()
    store.save_execution(saved)
    got = store.execution("e1")
    assert isinstance(got, SavedExecution)
    assert got == saved


def test_save_execution_replaces_the_previous_one(store):
    store.save_execution(saved_execution())
    newer = SavedExecution("e1", {}, {}, "def", {}, {}, None)
    store.save_execution(newer)
    assert store.execution("e1") == newer


def test_unknown_execution_raises_execution_error(store):
    store.save_execution(saved_execution("e1"))
    with pytest.raises(ExecutionError, match="no saved execution with id e2"):
        store.execution("e2")


def test_list_of_an_execution_without_checkpoints_is_empty(store):
    assert store.list("nothing-here") == []


def test_keep_prunes_to_the_newest_oldest_first(store):
    made = [save(store, {"a": i}, keep=2, at=float(i)) for i in range(5)]
    assert [cp.id for cp in made] == ["1", "2", "3", "4", "5"]
    kept = store.list("e1")
    assert [cp.id for cp in kept] == ["4", "5"]
    assert [cp.created_at for cp in kept] == [3.0, 4.0]
    assert [store.outputs(cp) for cp in kept] == [{"a": 3}, {"a": 4}]


def test_ids_keep_increasing_after_pruning(store):
    for _ in range(3):
        save(store, {}, keep=1)
    assert [cp.id for cp in store.list("e1")] == ["3"]
    assert save(store, {}, keep=1).id == "4"
    assert [cp.id for cp in store.list("e1")] == ["4"]


def test_checkpoints_of_executions_are_apart(store):
    save(store, {"a": 1}, eid="e1")
    save(store, {"a": 2}, eid="e2")
    save(store, {"a": 3}, eid="e2")
    assert [cp.id for cp in store.list("e1")] == ["1"]
    assert [cp.id for cp in store.list("e2")] == ["1", "2"]
    assert [store.outputs(cp) for cp in store.list("e2")] == [{"a": 2}, {"a": 3}]


def test_listed_checkpoint_equals_the_returned_one(store):
    cp = store.save("e1", "paused", 12.5, "hash-9", record(1), {"start": {"n": 0}}, 5)
    assert store.list("e1") == [cp]
    assert cp.execution_id == "e1"
    assert cp.reason == "paused"
    assert cp.created_at == 12.5
    assert cp.workflow_hash == "hash-9"
    assert cp.record == record(1)
    assert set(cp.outputs) == {"start"}
    assert all(isinstance(ref, str) for ref in cp.outputs.values())


def test_outputs_are_those_of_save_time(store):
    outputs = {"a": {"items": [1, 2]}, "b": "text"}
    first = save(store, outputs)
    outputs["a"]["items"].append(3)  # the caller changes its values afterwards
    outputs["b"] = "changed"
    second = save(store, outputs)
    save(store, {"a": None})
    assert store.outputs(first) == {"a": {"items": [1, 2]}, "b": "text"}
    assert store.outputs(second) == {"a": {"items": [1, 2, 3]}, "b": "changed"}
    listed = store.list("e1")
    assert store.outputs(listed[0]) == {"a": {"items": [1, 2]}, "b": "text"}
    assert store.outputs(listed[2]) == {"a": None}


def test_record_is_not_affected_by_later_changes_of_the_callers_dict(store):
    rec = record(1)
    expected = copy.deepcopy(rec)
    cp = save(store, {}, rec=rec)
    rec["state"] = "failed"
    rec["nodes"]["start"]["state"] = "failed"
    rec["level_remaining"].append(99)
    assert store.list("e1")[0].record == expected
    assert cp.record == expected


def test_identical_outputs_share_one_reference(store):
    cp = save(store, {"a": {"x": 1, "y": [2]}, "b": {"y": [2], "x": 1}, "c": 3})
    assert cp.outputs["a"] == cp.outputs["b"]  # same value, key order aside
    assert cp.outputs["a"] != cp.outputs["c"]
    later = save(store, {"a": 3})
    assert later.outputs["a"] == cp.outputs["c"]
    assert store.outputs(later) == {"a": 3}


def test_file_store_writes_each_output_once(tmp_path):
    store = FileCheckpointStore(tmp_path)
    save(store, {"a": {"v": 1}, "b": {"v": 1}, "c": "x"})
    save(store, {"a": {"v": 1}, "b": "x", "c": "new"})
    blobs = sorted(p.name for p in (tmp_path / "e1" / "blobs").iterdir())
    assert len(blobs) == 3  # {"v": 1}, "x", "new"
    assert all(name.endswith(".json") for name in blobs)
    checkpoints = sorted(p.name for p in (tmp_path / "e1" / "checkpoints").iterdir())
    assert checkpoints == ["1.json", "2.json"]


def test_file_store_is_read_by_a_new_instance(tmp_path):
    FileCheckpointStore(tmp_path).save_execution(saved_execution())
    cp = save(FileCheckpointStore(tmp_path), {"a": [1]})
    other = FileCheckpointStore(tmp_path)
    assert other.execution("e1") == saved_execution()
    assert other.list("e1") == [cp]
    assert other.outputs(cp) == {"a": [1]}
    assert save(other, {}).id == "2"


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "", "/abs"])
def test_file_store_refuses_bad_execution_ids(tmp_path, bad):
    store = FileCheckpointStore(tmp_path / "root")
    with pytest.raises(ExecutionError, match="bad execution id"):
        store.save_execution(saved_execution(bad))
    with pytest.raises(ExecutionError, match="bad execution id"):
        store.execution(bad)
    with pytest.raises(ExecutionError, match="bad execution id"):
        save(store, {"a": 1}, eid=bad)
    with pytest.raises(ExecutionError, match="bad execution id"):
        store.list(bad)
    assert not Path(tmp_path / "x").exists()
    assert not (tmp_path / "root").exists()


def test_memory_store_forgets_the_oldest_executions():
    store = MemoryCheckpointStore(max_executions=2)
    for eid in ("e1", "e2", "e3"):
        store.save_execution(saved_execution(eid))
        save(store, {"a": eid}, eid=eid)
    with pytest.raises(ExecutionError):
        store.execution("e1")
    assert store.list("e1") == []
    assert store.execution("e3").execution_id == "e3"
    assert [store.outputs(cp) for cp in store.list("e2")] == [{"a": "e2"}]


# -- Checkpoint -------------------------------------------------------------------------------


def test_summary_counts_progress():
    cp = Checkpoint("7", "e1", 3.5, "automatic", "h", record(2), {})
    assert cp.state == "running"
    assert cp.summary() == {
        "id": "7",
        "created_at": 3.5,
        "reason": "automatic",
        "state": "running",
        "finished_nodes": 2,
        "total_nodes": 3,
        "completed_levels": 2,
        "succeeded": 2,
    }


def test_summary_of_a_finished_record():
    cp = Checkpoint("1", "e1", 0.0, "finished", "h", record(3), {})
    summary = cp.summary()
    assert summary["state"] == "completed"
    assert summary["finished_nodes"] == summary["total_nodes"] == 3
    assert summary["completed_levels"] == 3
    assert summary["succeeded"] == 3


def test_checkpoint_dict_round_trip():
    cp = Checkpoint("2", "e1", 1.0, "paused", "h", record(1), {"start": "d1"})
    assert Checkpoint.from_dict(cp.to_dict()) == cp


# -- pick -------------------------------------------------------------------------------------


def checkpoints(*ids: str) -> list[Checkpoint]:
    return [Checkpoint(i, "e1", float(n), "automatic", "h", {}, {}) for n, i in enumerate(ids)]


def test_pick_newest_by_default():
    cps = checkpoints("3", "4", "5")
    assert pick(cps, "e1", None) is cps[-1]


def test_pick_a_given_id():
    cps = checkpoints("3", "4", "5")
    assert pick(cps, "e1", "4") is cps[1]


def test_pick_an_unknown_id_names_the_known_ones():
    with pytest.raises(ExecutionError) as info:
        pick(checkpoints("3", "4"), "e1", "9")
    assert str(info.value) == "execution e1 has no checkpoint 9 (it has: 3, 4)"


@pytest.mark.parametrize("wanted", [None, "1"])
def test_pick_without_checkpoints(wanted):
    with pytest.raises(ExecutionError, match="execution e1 has no checkpoints") as info:
        pick([], "e1", wanted)
    assert "checkpoint_frequency" in str(info.value)


def test_file_store_prunes_executions_not_touched_for_long(tmp_path: Path):

    store = FileCheckpointStore(tmp_path)
    for eid in ("old", "kept", "new"):
        store.save_execution(SavedExecution(eid, {}, {}, "h", {}, {}))
        store.save(eid, "automatic", 1.0, "h", {"state": "running"}, {"n": 1}, keep=3)
    long_ago = 1_000_000.0
    for eid in ("old", "kept"):
        for path in (tmp_path / eid).rglob("*.json"):
            os.utime(path, (long_ago, long_ago))
    gone = store.prune(older_than=2_000_000.0, keep=lambda eid: eid == "kept")
    assert gone == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "new"]
