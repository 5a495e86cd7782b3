"""Child executions and their parent, with the worst interleaving forced: the parent is
cancelled exactly between the check that it still runs and the creation of its child."""

from __future__ import annotations

import time
import uuid
from typing import Any

from oxify import ExecutionConfig, ExecutionState
from oxify.engine.loading import load_definition
from tests.support import END, START, build, custom


class _CancelParentFirst:
    """A real store that, right before it creates a child execution, lets the parent be
    cancelled (fault injection: the cancel lands after the parent check, before the
    child exists)."""

    def __init__(self, real: Any, cancel: Any) -> None:
        self.real = real
        self.cancel = cancel
        self.children: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def create(self, new: Any, idempotency_key: str | None = None) -> Any:
        parent = new.parent_id
        if parent:
            self.cancel(parent)
            self.children.append(new.execution_id)
        return self.real.create(new, idempotency_key)


class _NoStartFor:
    """The real dispatcher, except that the start message of one execution is lost (the
    test drives that one itself)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.skip: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        if execution_id not in self.skip:
            self.real.start(execution_id, delay)


def test_a_child_created_as_its_parent_is_cancelled_ends_cancelled(client):
    from tests.integration.test_distributed import runtime_on

    body = {
        "metadata": {"name": "body"},
        "nodes": [
            {"id": "s", "kind": START},
            {"id": "w", "kind": custom("test.count", seconds=1.0, output="done")},
            {"id": "e", "kind": END},
        ],
        "edges": [{"from": "s", "to": "w"}, {"from": "w", "to": "e"}],
    }
    wf = build(
        {"start": START, "sub": {"type": "SubWorkflow", "config": {"workflow": body}}, "end": END},
        "start>sub, sub>end",
    )
    faulty = _CancelParentFirst(client.store, client.cancel)
    dispatcher = _NoStartFor(client.runtime.dispatcher)
    driver = runtime_on(client, dispatcher, faulty)
    eid = "parent-" + uuid.uuid4().hex
    dispatcher.skip.add(eid)
    driver.producer.submit(load_definition(wf), {}, ExecutionConfig(), execution_id=eid)
    driver.driver.advance(eid)  # Start runs, the SubWorkflow spawns its child: the race
    assert len(faulty.children) == 1
    assert client.get(eid).state is ExecutionState.CANCELLED
    child = faulty.children[0]
    deadline = time.monotonic() + 30
    while not client.get(child).state.terminal:
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.05)
    assert client.get(child).state is ExecutionState.CANCELLED
