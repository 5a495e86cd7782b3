"""The runtime's roles on the in-process store, with a dispatcher that records what it is
asked to send: the driver decides where nodes run from static facts, never from the
executors of pool nodes; a producer needs no executor either."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import oxify
from oxify.engine.loading import load_definition
from oxify.engine.state import ExecutionState, NodeState
from oxify.nodes.registry import NodeRegistry
from oxify.runtime.dispatch import NodeTask
from oxify.runtime.runtime import Runtime, RuntimeOptions
from oxify.store.memory import MemoryStore
from tests.support import END, START, build, custom, if_else


class Recording:
    """A dispatcher that keeps what it is asked to do (nothing runs)."""

    def __init__(self) -> None:
        self.sent: list[NodeTask] = []
        self.started: list[str] = []
        self.revoked: list[tuple[str, int]] = []

    def send(self, tasks: Sequence[NodeTask], level: int | None) -> None:
        self.sent += tasks

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        self.started.append(execution_id)

    def revoke(self, execution_id: str, attempts: Sequence[tuple[str, int]]) -> None:
        self.revoked += attempts


def runtime(registry: NodeRegistry | None = None, **options: Any) -> tuple[Runtime, Recording]:
    dispatcher = Recording()
    plain = registry or NodeRegistry.default(load_entry_points=False)
    return Runtime(MemoryStore(), dispatcher, plain, options=RuntimeOptions(**options)), dispatcher


def submit(rt: Runtime, wf: Any, inputs: dict[str, Any] | None = None, **config: Any) -> str:
    eid = str(uuid.uuid4())
    cfg = oxify.ExecutionConfig(**config)
    rt.producer.submit(load_definition(wf), inputs or {}, cfg, execution_id=eid)
    return eid


WF = build(
    {
        "start": START,
        "route": if_else("x > 1", "gpu", "cpu"),
        "gpu": custom("acme.embed"),
        "cpu": custom("acme.small"),
        "end": END,
    },
    "start>route, route>gpu, route>cpu, gpu>end, cpu>end",
    gpu={"queue": "acme.gpu"},
)


def test_the_driver_sends_plugin_nodes_it_has_no_executor_for():
    rt, dispatcher = runtime()  # no acme plugin in this process
    eid = submit(rt, WF, {"x": 2}, mode="dataflow")
    assert dispatcher.started == [eid]
    rt.driver.drive(eid)  # Start and IfElse run in the step; gpu is sent to its queue
    (task,) = dispatcher.sent
    assert (task.node_id, task.queue, task.attempt, task.kind) == ("gpu", "acme.gpu", 1, "Custom")
    result = rt.producer.result(eid)
    assert result.state is ExecutionState.RUNNING
    assert result.node("route").output["branch"] == "gpu"
    assert result.node("cpu").state is NodeState.SKIPPED
    assert result.node("gpu").state is NodeState.QUEUED  # not failed: a pool runs it


def test_a_producer_without_plugins_pauses_resumes_and_cancels():
    rt, dispatcher = runtime()
    eid = submit(rt, WF, {"x": 2})
    rt.driver.drive(eid)
    rt.producer.pause(eid)
    assert rt.producer.result(eid).state is ExecutionState.PAUSED
    rt.producer.unpause(eid)
    assert rt.producer.result(eid).state is ExecutionState.RUNNING
    assert [t.node_id for t in dispatcher.sent] == ["gpu", "gpu"]  # held, sent again
    rt.producer.cancel(eid)
    result = rt.producer.result(eid)
    assert result.state is ExecutionState.CANCELLED
    assert result.node("gpu").state is NodeState.CANCELLED
    assert dispatcher.revoked == [("gpu", 1)]


def test_inline_executors_run_in_the_step_only_where_allowed():
    registry = NodeRegistry.default(load_entry_points=False)
    registry.register_custom("acme.embed", lambda ctx: "embedded", inline=True)
    registry.register_custom("acme.small", lambda ctx: "small")
    # distributed mode: the driver must not depend on a pool's executor
    rt, dispatcher = runtime(registry)
    eid = submit(rt, WF, {"x": 2})
    rt.driver.drive(eid)
    assert [t.node_id for t in dispatcher.sent] == ["gpu"]
    # embedded mode: the driver has every executor, and runs the cheap ones itself
    rt, dispatcher = runtime(registry, inline_executors=True)
    eid = submit(rt, WF, {"x": 2})
    rt.driver.drive(eid)
    assert dispatcher.sent == []
    result = rt.producer.result(eid)
    assert result.state is ExecutionState.COMPLETED
    assert result.outputs == {"gpu": "embedded"}


def test_a_child_whose_parent_is_being_cancelled_ends_on_its_first_step():
    rt, dispatcher = runtime()
    body = {
        "metadata": {"name": "body"},
        "nodes": [{"id": "s", "kind": START}, {"id": "e", "kind": END}],
        "edges": [{"from": "s", "to": "e"}],
    }
    wf = build(
        {"start": START, "sub": {"type": "SubWorkflow", "config": {"workflow": body}}, "end": END},
        "start>sub, sub>end",
    )
    eid = submit(rt, wf)
    rt.driver.drive(eid)  # the SubWorkflow creates its child (not driven yet)
    (child,) = [e for e in dispatcher.started if e != eid]
    rt.store.request_cancel(eid, "stop")  # as if a cancel landed before the child existed
    rt.driver.drive(child)
    state, own_flag = rt.store.status(child)
    assert state == "cancelled" and own_flag is None  # it ended itself
    events = rt.store.events(child)
    assert events[-1].type == "workflow.cancelled"
    assert events[-1].data["reason"] == "parent cancelled it"
