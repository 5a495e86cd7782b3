"""The one driver: the only code that moves an execution's state machine.

Any process may drive an execution — an orchestrator task, the worker that just finished a
node, a producer that paused it, a thread of the embedded runner. A *step* reads a
snapshot from the store, feeds the machine what happened (a start or restart, flags,
outcomes reported by workers, results of child executions, deadlines, repairs), runs the
nodes the driver runs itself (Start, End, IfElse, Switch: cheap and pure; composite nodes:
their begin/resume logic), and commits the new record with a compare-and-set on its
version. Only after a successful commit does it send what the step decided: node tasks,
revocations, child executions to create or signal, a later wake-up, the parent's wake-up.
A conflicting step that loses the race has sent nothing; a process that dies between its
commit and its sends is covered by the reconciler.

The driver never looks up the executor of a node that runs on a pool: where a node runs is
a static fact of its kind (:mod:`oxify.nodes.kinds`).
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from oxify.engine.checkpoints import CheckpointPolicy, checkpoint_policy, progress
from oxify.engine.describe import describe, node_started
from oxify.engine.machine import (
    Action,
    CancelNodes,
    ExecutionPaused,
    ExecutionResumed,
    Machine,
    NodeFailure,
    NodeFinished,
    RunNode,
    make_machine,
)
from oxify.engine.options import ExecutionConfig
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.engine.waits import ChildEntry
from oxify.errors import ExecutionError
from oxify.events import Event
from oxify.model.workflow import Workflow
from oxify.nodes.attempt import failure_of, settle
from oxify.nodes.kinds import Placement, placement
from oxify.runtime import composites
from oxify.runtime.context import node_context
from oxify.runtime.definitions import Prepared
from oxify.runtime.dispatch import NodeTask
from oxify.runtime.hooks import call_executor
from oxify.store.base import (
    CheckpointRequest,
    Commit,
    Dispatched,
    NewEvent,
    Outcome,
    OutputRef,
    Snapshot,
)

if TYPE_CHECKING:
    from oxify.runtime.runtime import Runtime

log = logging.getLogger("oxify.driver")

MAX_CONFLICTS = 100
DRIVE_TTL = 30.0
"""Seconds a driver holds an execution's drive lock (a dead driver's lock lapses; the
reconciler then takes over)."""
WAKE_MARGIN = 0.05
"""Seconds added to a timed wake-up, so that the deadline has passed when it comes."""

_RNG = random.Random()
_TOKENS = itertools.count()


@dataclass(slots=True)
class Effects:
    """What a committed step leaves to do, in this order: publish its events, send node
    tasks (a level as one chord), revoke, signal and create child executions, schedule a
    wake-up, tell the parent."""

    chords: dict[int, list[NodeTask]] = field(default_factory=dict)
    singles: list[NodeTask] = field(default_factory=list)
    revoke: list[tuple[str, int]] = field(default_factory=list)
    start_children: list[tuple[str, int, ChildEntry]] = field(default_factory=list)
    """(composite node, its attempt, the child to create and start)."""
    cancel_children: list[str] = field(default_factory=list)
    pause_children: list[str] = field(default_factory=list)
    resume_children: list[str] = field(default_factory=list)
    wake: float | None = None
    """Drive the execution again after this many seconds (a deadline, a delayed retry of
    a node the driver runs itself)."""

    def wake_in(self, delay: float) -> None:
        self.wake = delay if self.wake is None else min(self.wake, delay)


@dataclass(slots=True)
class Step:
    """One step's working state: the snapshot, its record (changed in place), the commit
    and the effects it builds up."""

    execution_id: str
    snapshot: Snapshot
    prepared: Prepared
    config: ExecutionConfig
    machine: Machine
    commit: Commit
    now: float
    effects: Effects = field(default_factory=Effects)
    overlay: dict[str, Any] = field(default_factory=dict)
    """Outputs decided in this step and not yet in the store (inline nodes read them)."""
    changed: bool = False
    """The record changed without a machine action (a composite's wait moved on)."""
    record: ExecutionRecord = field(init=False)
    """The snapshot's record, changed in place by the step (the commit's record)."""
    workflow: Workflow = field(init=False)
    resend: list[NodeTask] = field(default_factory=list)
    """Attempts to send again, committed already (held while paused, lost messages)."""
    needs_commit: bool = True
    """False when the step only re-sends attempts (nothing to record)."""
    clock: float = field(default_factory=time.time)
    """When the step ran (this process's clock): the time of the events it emits."""

    def __post_init__(self) -> None:
        self.record = self.commit.record
        self.workflow = self.prepared.definition.workflow

    def event(self, type_: str, **data: Any) -> None:
        self.commit.events.append(NewEvent(type_, data, self.clock))


class Repairs(Protocol):
    """What a reconcile pass adds to a step (see :class:`~oxify.runtime.reconciler`)."""

    def lost_work(self, step: Step, consumed: set[str]) -> list[Action]:
        """Attempts whose worker vanished (new attempts), attempts never claimed (sent
        again, through ``step.resend``)."""
        ...

    def check_child(self, step: Step, node_id: str, attempt: int, child: ChildEntry) -> None:
        """A running child: create it if it was never created; deliver its result if it
        ended without telling its parent."""
        ...


class Driver:
    """Drives executions for a :class:`~oxify.runtime.runtime.Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._machines: dict[tuple[str, int], tuple[ExecutionConfig, Machine]] = {}
        self._here: dict[str, dict[str, None]] = {}

    # -- entry points -----------------------------------------------------------------------
    def drive(self, execution_id: str) -> None:
        """Advance, single-flight: when another process or thread is driving this execution
        already, leave it a mark to go round once more instead of competing with it (many
        workers finishing at once would otherwise retry each other's compare-and-set)."""
        store = self.rt.store
        token = f"{self.rt.options.worker_id}:{next(_TOKENS)}"
        if not store.begin_drive(execution_id, token, DRIVE_TTL):
            return
        try:
            while True:
                self.advance(execution_id)
                if store.finish_drive(execution_id, token, DRIVE_TTL):
                    return
        except BaseException:
            store.abort_drive(execution_id, token)
            raise

    def advance(self, execution_id: str, repairs: Repairs | None = None) -> bool:
        """Drive an execution as far as it can go now; False if there was nothing to do."""
        store = self.rt.store
        for _ in range(MAX_CONFLICTS):
            snap = store.load(execution_id)
            if snap.record.state.terminal:
                return False
            st = self.step(execution_id, snap, repairs)
            if st is None:
                return False
            if not st.needs_commit:
                self._send(st.resend, None)
                return True
            events = store.commit(execution_id, snap.version, st.commit, self.rt.options.result_ttl)
            if events is not None:
                self._after_commit(st, events)
                return True
        raise ExecutionError(
            f"execution {execution_id}: gave up after {MAX_CONFLICTS} conflicting updates"
        )

    def here(self, prepared: Prepared) -> dict[str, None]:
        """The nodes the driver runs itself, in plan order: Start, End, IfElse, Switch and
        the composites, and (with ``inline_executors``) pool nodes whose executor this
        process registered ``inline`` (a dict: ordered, and quick to test)."""
        known = self._here.get(prepared.definition.hash)
        if known is not None:
            return known
        here = set(prepared.local)
        if self.rt.options.inline_executors:
            nodes = prepared.definition.workflow.nodes_by_id
            for node_id in prepared.routes:
                try:
                    if self.rt.registry.resolve(nodes[node_id]).inline:
                        here.add(node_id)
                except Exception:
                    continue  # the node runner reports a missing executor
        known = dict.fromkeys(n for n in prepared.plan.order if n in here)
        if len(self._here) > 1000:
            self._here.clear()
        self._here[prepared.definition.hash] = known
        return known

    def _machine(self, prepared: Prepared, cfg: ExecutionConfig, seed: int | None) -> Machine:
        """The machine of an execution: without a seed, one per definition and options (it
        keeps no state of its own), built once."""
        if seed is not None:
            rng = random.Random(seed)
            return make_machine(
                prepared.definition.workflow, prepared.plan, cfg, rng, routers=prepared.routers
            )
        key = (prepared.definition.hash, id(cfg))  # the entry keeps cfg: its id is not reused
        entry = self._machines.get(key)
        if entry is not None and entry[0] is cfg:
            return entry[1]
        if len(self._machines) > 1000:
            self._machines.clear()
        workflow = prepared.definition.workflow
        machine = make_machine(workflow, prepared.plan, cfg, _RNG, routers=prepared.routers)
        self._machines[key] = (cfg, machine)
        return machine

    # -- one step ---------------------------------------------------------------------------
    def step(self, execution_id: str, snap: Snapshot, repairs: Repairs | None) -> Step | None:
        """What the execution does now, from ``snap`` (None if nothing can happen)."""
        record = snap.record
        prepared = self.rt.definitions.get(execution_id, snap.workflow_hash)
        cfg = record.config
        seed = None if cfg.seed is None else hash((cfg.seed, snap.version))
        machine = self._machine(prepared, cfg, seed)
        st = Step(execution_id, snap, prepared, cfg, machine, Commit(record), snap.now)
        policy = checkpoint_policy(cfg.checkpoint_frequency)
        before = progress(record) if policy.enabled else (0, 0)
        actions: list[Action] = []
        if record.state is ExecutionState.PENDING:
            actions += self._begin(st)
        if snap.pause is not None:
            actions += machine.pause(record, st.now, snap.pause)
        elif record.state is ExecutionState.PAUSED:
            actions += machine.unpause(record, st.now)
        if snap.cancel is not None:
            actions += machine.cancel(record, st.now, snap.cancel)
        if snap.deadline is not None and st.now >= snap.deadline:
            limit = f" after {cfg.timeout:g} s" if cfg.timeout else ""
            actions += machine.fail(record, f"execution timed out{limit}", st.now)
        consumed: set[str] = set()
        outcomes = snap.outcomes
        if len(outcomes) > 1:
            outcomes = sorted(outcomes, key=lambda o: o.finished_at or 0.0)
        for outcome in outcomes:
            st.commit.consumed.append((outcome.node_id, outcome.attempt))
            consumed.add(outcome.node_id)
            if outcome.node_id in record.nodes:
                actions += self._apply_outcome(st, outcome)
        for child in snap.children:
            st.commit.consumed_children.append(child.child)
            actions += composites.apply_child(self.rt, st, child)
        actions += composites.check_waits(self.rt, st, repairs)
        actions += self._due_here(st)
        if repairs is not None and not record.state.terminal:
            actions += repairs.lost_work(st, consumed)
        if not actions and not consumed and not snap.children and not st.changed:
            st.needs_commit = False
            return st if st.resend else None
        self._process(st, actions)
        st.commit.checkpoint = self._checkpoint(st, actions, policy, before)
        return st

    def _begin(self, st: Step) -> list[Action]:
        """A pending execution starts, or restarts (a resume or a replay), unless it is a
        child whose parent ended or is being cancelled meanwhile: then it ends at once
        (a child is created after its parent's step committed; a cancel may land between
        the two)."""
        record, now = st.record, st.now
        parent = record.parent
        if parent is not None and record.restart is None:
            state, cancel = self.rt.store.status(parent.execution_id)
            if state is None or cancel is not None or ExecutionState(state).terminal:
                why = "parent cancelled it" if cancel is not None else "parent ended"
                return st.machine.cancel(record, now, why)
        if st.snapshot.deadline is not None:  # enforce the time limit without a poller
            st.effects.wake_in(max(0.0, st.snapshot.deadline - now) + WAKE_MARGIN)
        rerun, record.restart = record.restart, None
        if rerun is not None:
            return st.machine.restart(record, now, rerun)
        return st.machine.start(record, now)

    def _apply_outcome(self, st: Step, outcome: Outcome) -> list[Action]:
        machine, record = st.machine, st.record
        rec = record.nodes[outcome.node_id]
        if outcome.attempt != rec.attempts or rec.state not in (
            NodeState.QUEUED,
            NodeState.RUNNING,
        ):
            return []
        started = outcome.started_at if outcome.started_at is not None else st.now
        finished = outcome.finished_at if outcome.finished_at is not None else started
        machine.node_started(record, outcome.node_id, outcome.attempt, started)
        if outcome.ok:
            value: Any = OutputRef(outcome.output_ref) if outcome.output_ref else outcome.output
            st.overlay[outcome.node_id] = value
            return machine.node_succeeded(
                record, outcome.node_id, outcome.attempt, value, finished, outcome.routes
            )
        failure = NodeFailure(outcome.error or "failed", outcome.retryable, outcome.timed_out)
        return machine.node_failed(record, outcome.node_id, outcome.attempt, failure, finished)

    def _due_here(self, st: Step) -> list[Action]:
        """Queued attempts of nodes the driver runs itself whose retry delay has passed."""
        record = st.record
        if record.state is not ExecutionState.RUNNING:
            return []
        here = self.here(st.prepared)
        local = [n for n in here if record.nodes.peek(n).state is NodeState.QUEUED]
        if not local:
            return []
        dispatched = self.rt.store.dispatched(st.execution_id)
        out: list[Action] = []
        for node_id in local:
            sent = dispatched.get(node_id)
            attempt = record.nodes[node_id].attempts
            if sent is not None and sent.attempt == attempt and sent.due <= st.now:
                out.append(RunNode(node_id, attempt))
        return out

    # -- carrying out the machine's actions -------------------------------------------------
    def _process(self, st: Step, actions: list[Action]) -> None:
        """Run the nodes the driver runs itself; put the rest into the commit and effects."""
        record, workflow, plan = st.record, st.workflow, st.prepared.plan
        pending: deque[Action] = deque(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, RunNode):
                pending.extend(self._run_node(st, action))
                continue
            if isinstance(action, NodeFinished):
                rec = record.nodes[action.node_id]
                if rec.has_output:
                    st.commit.outputs[action.node_id] = rec.output
                    st.overlay.setdefault(action.node_id, rec.output)
            elif isinstance(action, CancelNodes):
                st.effects.revoke += [(n, record.nodes[n].attempts) for n in action.node_ids]
                for n in action.node_ids:
                    wait = record.nodes[n].wait
                    if wait is not None:
                        st.effects.cancel_children += [c.id for c in wait.running()]
            elif isinstance(action, ExecutionPaused):
                st.effects.pause_children += composites.running_children(st)
            elif isinstance(action, ExecutionResumed):
                st.effects.resume_children += composites.running_children(st)
                st.resend += self._held(st)
            for type_, data in describe(action, record, workflow, plan):
                st.event(type_, **data)
        for level, tasks in list(st.effects.chords.items()):
            if len(tasks) == 1:  # a chord of one buys nothing: the worker drives on itself
                del st.effects.chords[level]
                st.effects.singles.append(replace(tasks[0], notify=True))

    def _run_node(self, st: Step, action: RunNode) -> list[Action]:
        record, now = st.record, st.now
        node_id, attempt, delay = action.node_id, action.attempt, action.delay
        node = st.workflow.nodes_by_id[node_id]
        where = placement(node)
        local = node_id in self.here(st.prepared)
        if record.state is ExecutionState.PAUSED or (local and delay > 0):
            # held (sent or run when the execution is resumed), or a retry of a node the
            # driver runs itself, due later: a wake-up comes back for it
            st.commit.dispatched[node_id] = Dispatched(attempt, now + delay)
            if local and delay > 0:
                st.effects.wake_in(delay + WAKE_MARGIN)
            return []
        if where is Placement.COMPOSITE:
            return composites.begin(self.rt, st, action)
        if local:  # Start, End, IfElse, Switch, and inline executors where allowed
            return self._inline(st, action)
        st.commit.dispatched[node_id] = Dispatched(attempt, now + delay)
        in_chord = st.config.mode == "levels" and delay <= 0
        task = self.task(st, node_id, attempt, delay, notify=not in_chord)
        if in_chord:
            st.effects.chords.setdefault(st.prepared.plan.level_of[node_id], []).append(task)
        else:
            st.effects.singles.append(task)
        return []

    def task(
        self, st: Step, node_id: str, attempt: int, delay: float = 0.0, notify: bool = True
    ) -> NodeTask:
        """The message of an attempt of a pool node."""
        queue, name, kind = st.prepared.routes[node_id]
        return NodeTask(
            st.execution_id,
            node_id,
            attempt,
            st.snapshot.workflow_hash,
            queue,
            name,
            kind,
            delay,
            notify,
        )

    def _inline(self, st: Step, action: RunNode) -> list[Action]:
        """Run a cheap, pure node (Start, End, IfElse, Switch) right here, in the step."""
        machine, record, node_id = st.machine, st.record, action.node_id
        if not machine.node_started(record, node_id, action.attempt, time.time()):
            return []
        type_, data = node_started(st.workflow, node_id, action.attempt)
        st.event(type_, **data)
        ctx = node_context(
            self.rt.store,
            st.execution_id,
            st.prepared,
            node_id,
            action.attempt,
            record.inputs,
            overlay=st.overlay,
            depth=record.depth,
        )
        try:
            spec = self.rt.registry.resolve(ctx.node)
        except Exception as e:  # a registry without the built-in kinds
            missing = failure_of(e)
            return machine.node_failed(record, node_id, action.attempt, missing, time.time())
        output, error = call_executor(spec.executor, ctx, self.rt.hooks)
        output, routes, failure = settle(output, error)
        if failure is not None:
            return machine.node_failed(record, node_id, action.attempt, failure, time.time())
        st.overlay[node_id] = output
        return machine.node_succeeded(record, node_id, action.attempt, output, time.time(), routes)

    def _held(self, st: Step) -> list[NodeTask]:
        """The queued attempts a resumed (unpaused) execution sends to the pools: those held
        while it was paused (the driver's own nodes held then are run by the next step)."""
        here = self.here(st.prepared)
        queued = [
            (n, r.attempts)
            for n, r in st.record.nodes.items()
            if r.state is NodeState.QUEUED and n not in here
        ]
        if not queued:
            return []
        claims = self.rt.store.claims(st.execution_id)
        return [
            self.task(st, n, attempt)
            for n, attempt in queued
            if n not in claims or claims[n].attempt != attempt
        ]

    def _checkpoint(
        self, st: Step, actions: list[Action], policy: CheckpointPolicy, before: tuple[int, int]
    ) -> CheckpointRequest | None:
        record = st.record
        keep_final = self.rt.options.keep_final_checkpoint and record.parent is None
        if not policy.enabled and not (keep_final and record.state.terminal):
            return None
        if record.state.terminal:
            reason = record.state.value
        elif any(isinstance(a, ExecutionPaused) for a in actions):
            reason = "paused"
        elif policy.due(before, progress(record)):
            reason = "automatic"
        else:
            return None
        return CheckpointRequest(
            reason,
            st.now,
            st.snapshot.workflow_hash,
            st.config.max_checkpoints,
            announce=policy.enabled,
        )

    # -- after the commit -------------------------------------------------------------------
    def _after_commit(self, st: Step, events: list[Event]) -> None:
        rt, eid, effects = self.rt, st.execution_id, st.effects
        rt.events.published(eid, events)
        for level, tasks in effects.chords.items():
            self._send(tasks, level)
        self._send(effects.singles + st.resend, None)
        if effects.revoke:
            rt.dispatcher.revoke(eid, effects.revoke)
        composites.after_commit(rt, st)
        if effects.wake is not None:
            rt.dispatcher.start(eid, effects.wake)
        record = st.record
        if record.state.terminal and record.parent is not None:
            composites.notify_parent(rt, record)

    def _send(self, tasks: list[NodeTask], level: int | None) -> None:
        if tasks:
            self.rt.dispatcher.send(tasks, level)
