"""Distributed execution: the engine's state machine driven through a StateStore.

Any process may drive an execution (an orchestrator task, a worker that just finished a
node, the reconciler): a step loads the record, feeds the machine what happened (outcomes
reported by workers, a cancel request, an expired deadline, lost workers), runs the cheap
inline nodes (Start, End, IfElse, Switch) on the spot, and commits the new record with a
compare-and-set on its version. Only after a successful commit are the next nodes sent to
the worker pools, so a conflicting step that loses the race has sent nothing; a process
that dies between commit and send is covered by the reconciler, which re-sends attempts
nobody claimed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oxify.definition import Definition, load_definition
from oxify.dispatch import (
    ORCHESTRATOR_QUEUE,
    Dispatcher,
    NodeTask,
    OutputRef,
    event_dict,
    queue_for,
    task_id,
)
from oxify.engine.describe import describe, node_started, workflow_started
from oxify.engine.machine import (
    Action,
    CancelNodes,
    Machine,
    NodeFailure,
    NodeFinished,
    RunNode,
)
from oxify.engine.plan import Plan, build_plan
from oxify.engine.scope import index_names
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.engine.validate import ensure_valid
from oxify.errors import ExecutionError
from oxify.execution import (
    ExecutionConfig,
    ExecutionResult,
    build_result,
    json_inputs,
    make_machine,
)
from oxify.hooks import Hooks
from oxify.model.io import parse_text, parse_workflow, workflow_to_data
from oxify.model.workflow import Workflow
from oxify.nodes.attempt import (
    execute,
    failure_of,
    settle,
)
from oxify.nodes.registry import NodeRegistry
from oxify.recovery import checkpoint_request
from oxify.remote_context import remote_context
from oxify.repair import due_here, held_tasks, lost_work
from oxify.store.base import (
    CHILD_PREFIX,
    Commit,
    Dispatched,
    NewExecution,
    Outcome,
    Snapshot,
    StateStore,
)

log = logging.getLogger("oxify.coordinator")

__all__ = [
    "ORCHESTRATOR_QUEUE",
    "Coordinator",
    "Dispatcher",
    "NodeTask",
    "OutputRef",
    "event_dict",
    "queue_for",
    "task_id",
]

MAX_CONFLICTS = 100
DRIVE_TTL = 30.0
"""Seconds a driver holds an execution's drive lock (a dead driver's lock lapses; the
reconciler then takes over)."""


@dataclass
class _Step:
    commit: Commit
    chords: dict[int, list[NodeTask]] = field(default_factory=dict)
    singles: list[NodeTask] = field(default_factory=list)
    revoke: list[tuple[str, int]] = field(default_factory=list)
    children: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    """Child executions to create and start: (node, attempt, child of its wait)."""
    cancel_children: list[str] = field(default_factory=list)
    wake: float | None = None
    """Drive the execution again after this many seconds (a composite's deadline)."""


@dataclass
class _Run:
    """One orchestration step's view of an execution."""

    eid: str
    workflow: Workflow
    plan: Plan
    names: dict[str, str]
    machine: Machine
    record: ExecutionRecord
    cfg: ExecutionConfig
    now: float
    definition: Definition
    step: _Step = field(default_factory=lambda: _Step(Commit(record={}, state="")))
    overlay: dict[str, Any] = field(default_factory=dict)
    """Outputs decided in this step and not yet in the store (inline nodes read them)."""
    changed: bool = False
    """The record changed without a machine action (a composite's wait moved on)."""


class Coordinator:
    """Drives distributed executions (orchestrator side) and runs node attempts (worker side)."""

    def __init__(
        self,
        store: StateStore,
        dispatcher: Dispatcher,
        registry: NodeRegistry | None = None,
        *,
        hooks: Hooks | None = None,
        result_ttl: int | None = 7 * 24 * 3600,
        lease: float = 10.0,
        dispatch_timeout: float = 300.0,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.registry = registry or NodeRegistry.default()
        self.hooks = hooks or Hooks()
        self.result_ttl = result_ttl
        self.lease = lease
        self.dispatch_timeout = dispatch_timeout
        self.worker_id = worker_id or f"{socket.gethostname()}:{_pid()}"
        self._workflows: OrderedDict[str, tuple[Definition, Plan, dict[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    # -- producer side ----------------------------------------------------------------------
    def submit(
        self,
        workflow: Workflow | Definition,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        idempotency_key: str | None = None,
        execution_id: str | None = None,
        parent: dict[str, Any] | None = None,
        depth: int = 0,
        paused: bool = False,
    ) -> tuple[str, bool]:
        """Validate and store a new execution, then ask an orchestrator to start it.
        Returns ``(execution id, created)``; an invalid workflow stores nothing. A plain
        :class:`Workflow` that names sub-workflow files has them loaded relative to the
        current directory (pass a :class:`~oxify.definition.Definition` to choose)."""
        cfg = config or ExecutionConfig()
        definition = workflow if isinstance(workflow, Definition) else load_definition(workflow)
        wf = definition.workflow
        plan = ensure_valid(wf)
        clean_inputs = json_inputs(inputs)
        eid = execution_id or str(uuid.uuid4())
        machine = make_machine(wf, plan, cfg)
        record = machine.new_record(eid, clean_inputs)
        record.workflow_hash = definition.hash
        record.parent, record.depth = parent, depth
        type_, payload = workflow_started(wf, cfg.mode)
        new = self._new_execution(
            definition, record, cfg, [event_dict(type_, eid, wf.metadata.id, payload)]
        )
        eid, created = self.store.create(new, idempotency_key)
        if created:
            if paused:  # a child started while its parent is paused
                self.store.request_pause(eid, "parent paused")
            self.dispatcher.start(eid)
        return eid, created

    def _new_execution(
        self,
        definition: Definition,
        record: ExecutionRecord,
        cfg: ExecutionConfig,
        events: list[dict[str, Any]],
        outputs: dict[str, Any] | None = None,
        restart: list[str] | None = None,
    ) -> NewExecution:
        data = record.to_dict(with_outputs=False)
        data["config"] = cfg.model_dump()
        if restart is not None:
            data["restart"] = restart
        created_at = self.store.now()
        library = definition.library_data()
        return NewExecution(
            execution_id=record.execution_id,
            workflow_json=_dumps(workflow_to_data(definition.workflow)),
            workflow_hash=definition.hash,
            record=data,
            inputs=record.inputs,
            created_at=created_at,
            deadline=None if cfg.timeout is None else created_at + cfg.timeout,
            events=events,
            config=cfg.model_dump(),
            library_json=_dumps(library) if library else "",
            outputs=outputs or {},
        )

    def cancel(self, execution_id: str, reason: str = "cancelled by request") -> None:
        """Flag the execution as cancelled and drive it to its end at once (its child
        executions are cancelled with it)."""
        self.store.request_cancel(execution_id, reason)
        self.advance(execution_id)

    def pause(self, execution_id: str, reason: str = "requested") -> None:
        """Pause: no new node starts (queued ones are held); running ones finish. Child
        executions of composite nodes are paused with it."""
        state, _ = self.store.status(execution_id)
        if state is None:
            raise ExecutionError(f"no execution with id {execution_id}")
        if ExecutionState(state).terminal:
            raise ExecutionError(f"execution {execution_id} is {state}: it cannot be paused")
        self.store.request_pause(execution_id, reason)
        self.advance(execution_id)
        for cid in self._running_children(execution_id):
            with contextlib.suppress(ExecutionError):  # finished meanwhile
                self.pause(cid, "parent paused")

    def unpause(self, execution_id: str) -> None:
        """Let a paused execution go on: held nodes are sent (and its children go on)."""
        self.store.clear_pause(execution_id)
        self.advance(execution_id)
        for cid in self._running_children(execution_id):
            with contextlib.suppress(ExecutionError):
                self.unpause(cid)

    def _running_children(self, execution_id: str) -> list[str]:
        record = self.store.load(execution_id).record
        return [
            child["id"]
            for rec in record["nodes"].values()
            if rec.get("wait")
            for child in rec["wait"]["children"]
            if child["status"] == "running"
        ]

    def resume(
        self,
        execution_id: str,
        *,
        checkpoint: str | None = None,
        definition: Definition | None = None,
        allow_changed: bool = False,
    ) -> None:
        """Resume: see :func:`oxify.recovery.resume`."""
        from oxify.recovery import resume

        resume(self, execution_id, checkpoint, definition, allow_changed)

    def replay(
        self,
        execution_id: str,
        from_node: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        checkpoint: str | None = None,
        definition: Definition | None = None,
        allow_changed: bool = False,
        new_execution_id: str | None = None,
    ) -> str:
        """Replay: see :func:`oxify.recovery.replay`. Returns the new execution's id."""
        from oxify.recovery import replay

        return replay(
            self,
            execution_id,
            from_node,
            inputs,
            checkpoint,
            definition,
            allow_changed,
            new_execution_id,
        )

    def result(self, execution_id: str) -> ExecutionResult:
        """The execution as it stands (finished or not)."""
        snap = self.store.load(execution_id)
        workflow = self.definition(execution_id, snap.workflow_hash)[0].workflow
        record = ExecutionRecord.from_dict(snap.record, snap.inputs)
        outputs = self.store.outputs(execution_id)
        running = self.store.claims(execution_id) if not record.state.terminal else {}
        return build_result(workflow, record, outputs, running)

    # -- orchestrator side ------------------------------------------------------------------
    def workflow(
        self, execution_id: str, workflow_hash: str
    ) -> tuple[Workflow, Plan, dict[str, str]]:
        """The workflow an execution is pinned to (parsed once per process and hash)."""
        definition, plan, names = self.definition(execution_id, workflow_hash)
        return definition.workflow, plan, names

    def definition(
        self, execution_id: str, workflow_hash: str
    ) -> tuple[Definition, Plan, dict[str, str]]:
        """The definition (workflow and sub-workflow library) an execution is pinned to."""
        with self._lock:
            cached = self._workflows.get(workflow_hash)
            if cached is not None:
                self._workflows.move_to_end(workflow_hash)
                return cached
        text = self.store.workflow_json(execution_id)
        workflow = parse_workflow(parse_text(text, "json"))
        library = self.store.library_json(execution_id)
        definition = Definition.from_data(workflow, json.loads(library) if library else None)
        return self._remember(workflow_hash, definition)

    def _remember(
        self, workflow_hash: str, definition: Definition
    ) -> tuple[Definition, Plan, dict[str, str]]:
        workflow = definition.workflow
        entry = (
            definition,
            build_plan(workflow),
            index_names([(n.name, n.id) for n in workflow.nodes]),
        )
        with self._lock:
            self._workflows[workflow_hash] = entry
            while len(self._workflows) > 100:
                self._workflows.popitem(last=False)
        return entry

    def advance(self, execution_id: str, *, reconcile: bool = False) -> bool:
        """Drive an execution as far as it can go now. False if there was nothing to do."""
        for _ in range(MAX_CONFLICTS):
            snap = self.store.load(execution_id)
            if ExecutionState(snap.record["state"]).terminal:
                return False
            step, resend = self._step(execution_id, snap, reconcile)
            if step is None:
                if resend:
                    self.dispatcher.send(execution_id, snap.workflow_hash, resend, None)
                return bool(resend)
            if self.store.commit(execution_id, snap.version, step.commit, self.result_ttl):
                self._after_commit(execution_id, snap.workflow_hash, step, resend)
                return True
        raise ExecutionError(
            f"execution {execution_id}: gave up after {MAX_CONFLICTS} conflicting updates"
        )

    def drive(self, execution_id: str) -> None:
        """Advance, single-flight: when another process is driving this execution already,
        leave it a mark to go round once more instead of competing with it (many workers
        finishing at once would otherwise retry each other's compare-and-set)."""
        token = uuid.uuid4().hex
        if not self.store.begin_drive(execution_id, token, DRIVE_TTL):
            return
        try:
            while True:
                self.advance(execution_id)
                if self.store.finish_drive(execution_id, token, DRIVE_TTL):
                    return
        except BaseException:
            self.store.abort_drive(execution_id, token)
            raise

    def _after_commit(
        self, eid: str, workflow_hash: str, step: _Step, resend: list[NodeTask]
    ) -> None:
        """Send what a committed step decided: node tasks, revocations, children."""
        for level, tasks in step.chords.items():
            self.dispatcher.send(eid, workflow_hash, tasks, level)
        if step.singles or resend:
            self.dispatcher.send(eid, workflow_hash, step.singles + resend, None)
        if step.revoke:
            self.dispatcher.revoke(eid, step.revoke)
        from oxify.children import after_commit

        after_commit(self, eid, workflow_hash, step)

    def _step(
        self, eid: str, snap: Snapshot, reconcile: bool
    ) -> tuple[_Step | None, list[NodeTask]]:
        definition, plan, names = self.definition(eid, snap.workflow_hash)
        workflow = definition.workflow
        cfg = ExecutionConfig(**snap.record.get("config", {}))
        record = ExecutionRecord.from_dict(snap.record, snap.inputs)
        machine = make_machine(workflow, plan, cfg, random.Random())
        now = snap.now
        run = _Run(eid, workflow, plan, names, machine, record, cfg, now, definition)
        actions: list[Action] = []
        if record.state is ExecutionState.PENDING:
            rerun = snap.record.get("restart")
            if rerun is not None:
                actions += machine.restart(record, now, rerun)
            else:
                actions += machine.start(record, now)
        resend: list[NodeTask] = []
        if snap.pause is not None:
            actions += machine.pause(record, now, snap.pause)
        elif record.state is ExecutionState.PAUSED:
            actions += machine.unpause(record, now)
            resend += held_tasks(self, run)
        if snap.cancel is not None:
            actions += machine.cancel(record, now, snap.cancel)
        if snap.deadline is not None and now >= snap.deadline:
            message = (
                f"execution timed out after {cfg.timeout:g} s"
                if cfg.timeout
                else "execution timed out"
            )
            actions += machine.fail(record, message, now)
        consumed: list[tuple[str, int]] = []
        for outcome in sorted(snap.outcomes, key=lambda o: o.finished_at or 0.0):
            consumed.append((outcome.node_id, outcome.attempt))
            if outcome.node_id in record.nodes:
                actions += self._apply_outcome(run, outcome)
        from oxify.children import apply_child, check_waits

        for payload in snap.children:
            consumed.append((CHILD_PREFIX + payload["child"], 0))
            actions += apply_child(self, run, payload)
        actions += check_waits(self, run, reconcile)
        actions += due_here(self, run)
        if reconcile and not record.state.terminal:
            actions += lost_work(self, run, consumed, resend)
        if not actions and not consumed and not run.changed:
            return None, resend
        self._process(run, actions)
        step = run.step
        data = record.to_dict(with_outputs=False)
        data["config"] = snap.record.get("config", {})
        step.commit.record = data
        step.commit.state = record.state.value
        step.commit.terminal = record.state.terminal
        step.commit.consumed = consumed
        step.commit.checkpoint = checkpoint_request(run, snap, actions, data)
        return step, resend

    def _apply_outcome(self, run: _Run, outcome: Outcome) -> list[Action]:
        machine, record = run.machine, run.record
        rec = record.nodes[outcome.node_id]
        if outcome.attempt != rec.attempts or rec.state not in (
            NodeState.QUEUED,
            NodeState.RUNNING,
        ):
            return []
        started = outcome.started_at if outcome.started_at is not None else time.time()
        finished = outcome.finished_at if outcome.finished_at is not None else started
        machine.node_started(record, outcome.node_id, outcome.attempt, started)
        if outcome.ok:
            value: Any = OutputRef(outcome.output_ref) if outcome.output_ref else outcome.output
            run.overlay[outcome.node_id] = value
            return machine.node_succeeded(
                record, outcome.node_id, outcome.attempt, value, finished, outcome.routes
            )
        failure = NodeFailure(outcome.error or "failed", outcome.retryable, outcome.timed_out)
        return machine.node_failed(record, outcome.node_id, outcome.attempt, failure, finished)

    def _task(
        self, workflow: Workflow, node_id: str, attempt: int, delay: float, notify: bool
    ) -> NodeTask:
        node = workflow.nodes_by_id[node_id]
        return NodeTask(
            node_id, attempt, queue_for(workflow, node_id), node.name, node.kind_name, delay, notify
        )

    def _process(self, run: _Run, actions: list[Action]) -> None:
        """Carry out the machine's actions: inline nodes now, the rest into the commit."""
        workflow, plan, machine, record, now = (
            run.workflow,
            run.plan,
            run.machine,
            run.record,
            run.now,
        )
        step = run.step
        commit = step.commit
        pending: deque[Action] = deque(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, RunNode):
                node = workflow.nodes_by_id[action.node_id]
                try:
                    spec = self.registry.resolve(node)
                except Exception as e:
                    failure = failure_of(e)
                    pending.extend(
                        machine.node_failed(record, action.node_id, action.attempt, failure, now)
                    )
                    continue
                local = spec.inline or spec.composite is not None
                if record.state is ExecutionState.PAUSED or (local and action.delay > 0):
                    # held (sent or run when the execution is resumed), or a retry of a node
                    # the orchestrator runs itself, due later: a wake-up comes back for it
                    commit.dispatched[action.node_id] = Dispatched(
                        action.attempt, now + action.delay
                    )
                    if local and action.delay > 0:
                        delay = action.delay + 0.05
                        step.wake = delay if step.wake is None else min(step.wake, delay)
                    continue
                if spec.composite is not None:
                    from oxify.children import begin_composite

                    pending.extend(begin_composite(self, run, action, spec.composite))
                    continue
                if spec.inline:
                    pending.extend(self._inline(run, action))
                    continue
                commit.dispatched[action.node_id] = Dispatched(action.attempt, now + action.delay)
                in_chord = run.cfg.mode == "levels" and action.attempt == 1 and action.delay <= 0
                task = self._task(
                    workflow, action.node_id, action.attempt, action.delay, not in_chord
                )
                if in_chord:
                    step.chords.setdefault(plan.level_of[action.node_id], []).append(task)
                else:
                    step.singles.append(task)
                continue
            if isinstance(action, CancelNodes):
                step.revoke += [(n, record.nodes[n].attempts) for n in action.node_ids]
                for n in action.node_ids:
                    wait = record.nodes[n].wait
                    if wait is not None:
                        step.cancel_children += [
                            c["id"] for c in wait["children"] if c["status"] == "running"
                        ]
            if isinstance(action, NodeFinished) and record.nodes[action.node_id].has_output:
                commit.outputs[action.node_id] = record.nodes[action.node_id].output
                run.overlay.setdefault(action.node_id, record.nodes[action.node_id].output)
            for type_, data in describe(action, record, workflow, plan):
                commit.events.append(event_dict(type_, run.eid, record.workflow_id, data))
        for level, tasks in list(step.chords.items()):
            if len(tasks) == 1:  # a chord of one buys nothing: the worker drives on itself
                del step.chords[level]
                step.singles.append(dataclasses.replace(tasks[0], notify=True))

    def _inline(self, run: _Run, action: RunNode) -> list[Action]:
        """Run a cheap, pure node (Start, End, IfElse, Switch) right here, in the step."""
        machine, record, node_id = run.machine, run.record, action.node_id
        if not machine.node_started(record, node_id, action.attempt, time.time()):
            return []
        type_, data = node_started(run.workflow, node_id, action.attempt)
        run.step.commit.events.append(event_dict(type_, run.eid, record.workflow_id, data))
        ctx = remote_context(
            self.store,
            run.eid,
            run.workflow,
            run.plan,
            run.names,
            node_id,
            action.attempt,
            record.inputs,
            None,
            run.overlay,
        )
        spec = self.registry.resolve(run.workflow.nodes_by_id[node_id])
        output, error = execute(spec, ctx, self.hooks)
        output, routes, failure = settle(output, error)
        if failure is not None:
            return machine.node_failed(record, node_id, action.attempt, failure, time.time())
        run.overlay[node_id] = output
        return machine.node_succeeded(record, node_id, action.attempt, output, time.time(), routes)

    # -- worker side ------------------------------------------------------------------------
    def run_node(
        self,
        execution_id: str,
        node_id: str,
        attempt: int,
        workflow_hash: str,
        *,
        notify: bool = True,
    ) -> str:
        """Run one attempt of one node (the body of the ``run_node`` task); see
        :meth:`oxify.node_runner.NodeRunner.run`."""
        from oxify.node_runner import NodeRunner

        return NodeRunner(self).run(execution_id, node_id, attempt, workflow_hash, notify=notify)

    # -- reconciler -------------------------------------------------------------------------
    def reconcile(self, stall_after: float) -> int:
        """Drive every execution that made no progress for ``stall_after`` seconds (lost
        messages, lost chord callbacks, killed workers, deadlines). Returns how many moved."""
        moved = 0
        for eid in self.store.stalled(time.time() - stall_after):
            try:
                state, _ = self.store.status(eid)
                if state is None or ExecutionState(state).terminal:
                    self.store.forget_stalled(eid)  # ended (or expired) since it was listed
                    continue
                if self.advance(eid, reconcile=True):
                    moved += 1
            except Exception:  # one broken execution must not stop the others
                log.exception("reconciler: cannot drive execution %s", eid)
        return moved


def _pid() -> int:
    import os

    return os.getpid()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
