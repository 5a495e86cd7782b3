"""The embedded runner: the engine's state machine driven in-process, nodes on threads.

``Engine.run()`` drives the execution on the calling thread and returns its result;
``Engine.start()`` drives it on a background thread and returns an :class:`Execution` handle
(``wait``, ``cancel``, ``pause``, ``resume``, ``events``). Composite nodes run their child
executions on threads of their own. Checkpoints go to the engine's checkpoint store, from
which ``Engine.resume`` and ``Engine.replay`` start again. No Redis, no workers: for
development, tests, small jobs.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oxify import events as ev
from oxify.checkpoints import (
    CheckpointPolicy,
    CheckpointStore,
    MemoryCheckpointStore,
    SavedExecution,
    pick,
    progress,
)
from oxify.definition import Definition, load_definition
from oxify.durable import check_pinned, find_node, rebuild, reusable_outputs
from oxify.engine.describe import describe, node_started, workflow_started
from oxify.engine.machine import Action, CancelNodes, RunNode
from oxify.engine.plan import Plan, PlanCache
from oxify.engine.scope import Scope, index_names
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.engine.validate import ValidationReport, ensure_valid, validate
from oxify.errors import ConfigError, ExecutionError, OxifyError
from oxify.events import Event
from oxify.execution import ExecutionConfig, ExecutionResult, build_result, make_machine
from oxify.hooks import Hooks
from oxify.model.io import load_workflow, parse_workflow, workflow_to_data
from oxify.model.workflow import Workflow
from oxify.nodes import composite
from oxify.nodes.attempt import (
    VisibleOutputs,
    execute,
    failure_of,
    json_copy,
    node_timeout,
    settle,
    timeout_failure,
)
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, CompositeStep
from oxify.nodes.registry import NodeRegistry
from oxify.pool import Attempt, WorkerPool

log = logging.getLogger("oxify")

EventCallback = Callable[[Event], None]
WorkflowSource = Workflow | Definition | str | Path


@dataclass(frozen=True)
class _Origin:
    """How an execution came to be (other than a fresh start)."""

    record: ExecutionRecord
    rerun: frozenset[str] = frozenset()
    event: tuple[str, dict[str, Any]] | None = None


class Execution:
    """One embedded execution. Obtain it from :meth:`Engine.start`."""

    def __init__(
        self,
        engine: Engine,
        definition: Definition,
        plan: Plan,
        inputs: dict[str, Any],
        config: ExecutionConfig,
        execution_id: str,
        on_event: EventCallback | None,
        *,
        origin: _Origin | None = None,
        parent: dict[str, Any] | None = None,
        depth: int = 0,
        on_done: Callable[[ExecutionResult], None] | None = None,
        checkpoints: CheckpointStore | None = None,
        start_paused: bool = False,
    ) -> None:
        self.id = execution_id
        self.definition = definition
        self.workflow = workflow = definition.workflow
        self.config = config
        self._engine = engine
        self._plan = plan
        self._on_event = on_event
        self._on_done = on_done
        self._origin = origin
        self._checkpoints = checkpoints
        self._policy = CheckpointPolicy.parse(config.checkpoint_frequency)
        self.machine = make_machine(workflow, plan, config, random.Random(config.seed))
        if origin is not None:
            self.record = origin.record
        else:
            self.record = self.machine.new_record(execution_id, inputs)
            self.record.parent, self.record.depth = parent, depth
        self._mark = progress(self.record.to_dict(with_outputs=False))
        self._held: list[tuple[str, int]] = []  # nodes queued while paused
        self._start_paused = start_paused
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, tuple[Any, ...]]] = []
        self._timer_seq = itertools.count()
        self._ready: deque[tuple[str, int]] = deque()
        self._running: dict[str, Attempt] = {}
        self._pool: WorkerPool | None = None
        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._readers = 0  # threads blocked in events(): only then is a notify needed
        self._finished = threading.Event()
        self._result: ExecutionResult | None = None
        self._names = index_names([(n.name, n.id) for n in workflow.nodes])

    # -- public handle ---------------------------------------------------------------------
    @property
    def state(self) -> ExecutionState:
        return self.record.state

    def cancel(self, reason: str | None = None) -> None:
        """Ask the execution to stop: queued nodes never start, running ones are signalled,
        child executions are cancelled."""
        self._inbox.put(("cancel", reason or "cancelled by request"))

    def pause(self, reason: str = "requested") -> None:
        """No new node starts until :meth:`resume`; running nodes finish and are recorded."""
        self._inbox.put(("pause", reason))

    def resume(self) -> None:
        """Let a paused execution go on."""
        self._inbox.put(("unpause",))

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        """Block until the execution ends; ``TimeoutError`` if it does not within ``timeout``."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"execution {self.id} still running after {timeout} s")
        assert self._result is not None
        return self._result

    def done(self) -> bool:
        return self._finished.is_set()

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Every event of this execution, from the first, as they happen; ends with the
        execution (``TimeoutError`` if nothing new arrives for ``timeout`` seconds)."""
        index = 0
        while True:
            with self._cond:
                while index >= len(self._events) and not self._finished.is_set():
                    self._readers += 1
                    try:
                        woke = self._cond.wait(timeout)
                    finally:
                        self._readers -= 1
                    if not woke:
                        raise TimeoutError(f"no event from execution {self.id} for {timeout} s")
                batch = self._events[index:]
                finished = self._finished.is_set()
            yield from batch
            index += len(batch)
            if finished and index >= len(self._events):
                return

    @property
    def event_log(self) -> list[Event]:
        """The events so far (a copy)."""
        with self._cond:
            return list(self._events)

    # -- the loop --------------------------------------------------------------------------
    def _drive(self) -> ExecutionResult:
        try:
            self._loop()
        except KeyboardInterrupt:
            self._apply(self.machine.cancel(self.record, time.time(), "interrupted"))
        except BaseException as e:  # an engine bug must still end the execution
            log.exception("embedded runner crashed")
            self._apply(self.machine.fail(self.record, f"internal error: {e!r}", time.time()))
        finally:
            if self._pool is not None:
                self._pool.shutdown()
            self._checkpoint(self.record.state.value, announce=False)
            self._result = self._build_result()
            with self._cond:
                self._finished.set()
                self._cond.notify_all()
            self._engine._forget(self.id, self._result)
            if self._on_done is not None:
                self._on_done(self._result)
        return self._result

    def _loop(self) -> None:
        origin = self._origin
        if origin is not None and origin.event is not None:
            type_, data = origin.event
        else:
            type_, data = workflow_started(self.workflow, self.config.mode)
        self._emit(type_, **data)
        if self.config.timeout is not None:
            self._add_timer(self.config.timeout, ("workflow_deadline",))
        now = time.time()
        if origin is not None:
            actions = self.machine.restart(self.record, now, origin.rerun)
        else:
            actions = self.machine.start(self.record, now)
        if self._start_paused:  # a child started while its parent is paused
            actions += self.machine.pause(self.record, now, "parent paused")
        self._apply(actions)
        while not self.record.state.terminal:
            wait = None
            if self._timers:
                wait = max(0.0, self._timers[0][0] - time.monotonic())
            try:
                msg = self._inbox.get(timeout=wait) if wait != 0.0 else self._inbox.get_nowait()
            except queue.Empty:
                msg = None
            if msg is not None:
                self._handle(msg)
            self._fire_timers()

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "result":
            job: Attempt = msg[1]
            output, error = msg[2], msg[3]
            if self._running.get(job.node_id) is not job:
                return  # a timed-out or cancelled attempt finishing late
            del self._running[job.node_id]
            self._apply(self._outcome(job.node_id, job.attempt, output, error))
            self._fill_slots()
        elif kind == "child":
            self._child_finished(msg[1], msg[2], msg[3], msg[4])
        elif kind == "cancel":
            self._apply(self.machine.cancel(self.record, time.time(), msg[1]))
        elif kind == "pause":
            self._apply(self.machine.pause(self.record, time.time(), msg[1]))
            if self.record.state is ExecutionState.PAUSED:
                self._checkpoint("paused")
                for cid in self._running_children():
                    self._engine._signal_child(cid, "pause")
        elif kind == "unpause":
            self._apply(self.machine.unpause(self.record, time.time()))
            for cid in self._running_children():
                self._engine._signal_child(cid, "resume")
            held, self._held = self._held, []
            self._apply([RunNode(node_id, attempt) for node_id, attempt in held])

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now and not self.record.state.terminal:
            _, _, payload = heapq.heappop(self._timers)
            if payload[0] == "run":
                self._apply([RunNode(payload[1], payload[2])])
            elif payload[0] == "deadline":
                self._timed_out(payload[1], payload[2], payload[3])
            elif payload[0] == "wait_deadline":
                self._wait_expired(payload[1], payload[2])
            elif payload[0] == "workflow_deadline":
                message = f"execution timed out after {self.config.timeout:g} s"
                self._apply(self.machine.fail(self.record, message, time.time()))

    def _timed_out(self, node_id: str, attempt: int, limit: float) -> None:
        job = self._running.get(node_id)
        if job is None or job.attempt != attempt:
            return
        del self._running[node_id]
        job.ctx.cancel_event.set()
        assert self._pool is not None
        self._pool.abandon(job)
        failure = timeout_failure(self.workflow, node_id, limit)
        self._apply(self.machine.node_failed(self.record, node_id, attempt, failure, time.time()))
        self._fill_slots()

    def _add_timer(self, delay: float, payload: tuple[Any, ...]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), payload))

    # -- actions ---------------------------------------------------------------------------
    def _apply(self, actions: list[Action]) -> None:
        pending: deque[Action] = deque(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, RunNode):
                if action.delay > 0:
                    self._add_timer(action.delay, ("run", action.node_id, action.attempt))
                else:
                    pending.extend(self._dispatch(action.node_id, action.attempt))
                continue
            if isinstance(action, CancelNodes):
                self._cancel_nodes(action.node_ids)
            for type_, data in describe(action, self.record, self.workflow, self._plan):
                self._emit(type_, **data)
        if self._policy.enabled and not self.record.state.terminal:
            now_mark = progress(self.record.to_dict(with_outputs=False))
            if self._policy.due(self._mark, now_mark):
                self._checkpoint("automatic")

    def _dispatch(self, node_id: str, attempt: int) -> list[Action]:
        if self.record.state is ExecutionState.PAUSED:
            self._held.append((node_id, attempt))
            return []
        node = self.workflow.nodes_by_id[node_id]
        try:
            spec = self._engine.registry.resolve(node)
        except Exception as e:
            return self.machine.node_failed(
                self.record, node_id, attempt, failure_of(e), time.time()
            )
        if not spec.inline and len(self._running) >= self.config.max_concurrent_nodes:
            self._ready.append((node_id, attempt))
            return []
        if not self.machine.node_started(self.record, node_id, attempt, time.time()):
            return []
        type_, data = node_started(self.workflow, node_id, attempt)
        self._emit(type_, **data)
        if spec.composite is not None:
            ctx = self._context(node_id, attempt, None)
            step = composite.begin(spec.composite, ctx, time.time(), self.config.max_depth)
            return self._composite(node_id, attempt, step)
        timeout = self._node_timeout(node_id)
        ctx = self._context(node_id, attempt, timeout)
        job = Attempt(node_id, attempt, ctx, spec)
        if spec.inline:
            output, error = self._execute(job)
            return self._outcome(node_id, attempt, output, error)
        self._running[node_id] = job
        if timeout is not None:
            self._add_timer(timeout, ("deadline", node_id, attempt, timeout))
        if self._pool is None:
            self._pool = WorkerPool(
                self.config.max_concurrent_nodes, f"oxify-{self.id[:8]}", self._run_job
            )
        self._pool.submit(job)
        return []

    def _fill_slots(self) -> None:
        while self._ready and len(self._running) < self.config.max_concurrent_nodes:
            node_id, attempt = self._ready.popleft()
            self._apply(self._dispatch(node_id, attempt))

    def _outcome(
        self, node_id: str, attempt: int, output: Any, error: BaseException | None
    ) -> list[Action]:
        now = time.time()
        output, routes, failure = settle(output, error)
        if failure is not None:
            return self.machine.node_failed(self.record, node_id, attempt, failure, now)
        return self.machine.node_succeeded(self.record, node_id, attempt, output, now, routes)

    def _run_job(self, job: Attempt) -> None:
        output, error = self._execute(job)
        self._inbox.put(("result", job, output, error))

    def _execute(self, job: Attempt) -> tuple[Any, BaseException | None]:
        return execute(job.spec, job.ctx, self._engine.hooks)

    def _node_timeout(self, node_id: str) -> float | None:
        return node_timeout(self.workflow, node_id, self.config.node_timeout)

    def _context(self, node_id: str, attempt: int, timeout: float | None) -> NodeContext:
        record = self.record
        node = self.workflow.nodes_by_id[node_id]
        plan = self._plan

        def output(n: str) -> Any:
            return record.nodes[n].output

        def succeeded(n: str) -> bool:
            rec = record.nodes[n]
            return rec.state is NodeState.SUCCEEDED or (
                rec.state is NodeState.FAILED and rec.output is not None
            )

        upstream = VisibleOutputs(plan.preds[node_id], output, succeeded)

        def scope() -> Scope:
            outputs = VisibleOutputs(plan.ancestors(node_id), output, succeeded)
            return Scope(record.inputs, outputs, self._names, node=node.name)

        return NodeContext(
            execution_id=self.id,
            workflow=self.workflow,
            node=node,
            attempt=attempt,
            inputs=record.inputs,
            scope_factory=scope,
            upstream=upstream,
            successors=plan.succs[node_id],
            deadline=None if timeout is None else time.monotonic() + timeout,
            depth=record.depth,
        )

    # -- composite nodes -------------------------------------------------------------------
    def _composite(self, node_id: str, attempt: int, step: CompositeStep) -> list[Action]:
        """Carry out a composite node's step: cancel and start children, or finish it."""
        rec = self.record.nodes[node_id]
        for cid in step.cancel:
            self._engine._signal_child(cid, "cancel")
        now = time.time()
        if step.wait is None:
            rec.wait = None
            if step.failure is not None:
                return self.machine.node_failed(self.record, node_id, attempt, step.failure, now)
            output, _, failure = settle(step.output, None)
            if failure is not None:
                return self.machine.node_failed(self.record, node_id, attempt, failure, now)
            return self.machine.node_succeeded(self.record, node_id, attempt, output, now)
        first = rec.state is not NodeState.WAITING
        new_wait = first or rec.wait is None or rec.wait["seq"] != step.wait.seq
        rec.wait = step.wait.to_dict()
        if first:
            self.machine.node_waiting(self.record, node_id, attempt)
            name = self.workflow.nodes_by_id[node_id].name
            self._emit(ev.NODE_WAITING, node_id=node_id, name=name)
        due = step.wait.next_deadline()
        if new_wait and due is not None:
            self._add_timer(max(0.0, due - now), ("wait_deadline", node_id, attempt))
        for child in step.start:
            self._start_child(node_id, attempt, child)
        return []

    def _start_child(self, node_id: str, attempt: int, child: dict[str, Any]) -> None:
        cid = child["id"]
        self._emit(ev.CHILD_STARTED, node_id=node_id, child_id=cid, label=child["label"])

        def done(result: ExecutionResult) -> None:
            outcome = ChildResult(
                child["label"], _child_state(result.state), result.outputs, result.error, cid
            )
            self._inbox.put(("child", node_id, attempt, cid, outcome))

        try:
            definition = self.definition.resolve(child["ref"])
            self._engine._start_child(
                definition,
                child["inputs"],
                self.config.for_child(),
                cid,
                {"execution_id": self.id, "node_id": node_id, "attempt": attempt, "child": cid},
                self.record.depth + 1,
                done,
                paused=self.record.state is ExecutionState.PAUSED,
            )
        except OxifyError as e:
            failed = ChildResult(child["label"], "failed", None, str(e), cid)
            self._inbox.put(("child", node_id, attempt, cid, failed))

    def _running_children(self) -> list[str]:
        return [
            child["id"]
            for rec in self.record.nodes.values()
            if rec.wait is not None
            for child in rec.wait["children"]
            if child["status"] == "running"
        ]

    def _child_finished(self, node_id: str, attempt: int, cid: str, result: ChildResult) -> None:
        rec = self.record.nodes[node_id]
        if rec.attempts != attempt or rec.state is not NodeState.WAITING or rec.wait is None:
            return
        spec = self._engine.registry.resolve(self.workflow.nodes_by_id[node_id])
        assert spec.composite is not None
        ctx = self._context(node_id, attempt, None)
        step = composite.child_done(
            spec.composite, ctx, rec.wait, cid, result, time.time(), self.config.max_depth
        )
        if step is None:
            return
        self._emit(
            ev.CHILD_FINISHED,
            node_id=node_id,
            child_id=cid,
            label=result.label,
            state=result.state,
            error=result.error,
        )
        self._apply(self._composite(node_id, attempt, step))

    def _wait_expired(self, node_id: str, attempt: int) -> None:
        rec = self.record.nodes[node_id]
        if rec.attempts != attempt or rec.wait is None or rec.state is not NodeState.WAITING:
            return
        spec = self._engine.registry.resolve(self.workflow.nodes_by_id[node_id])
        assert spec.composite is not None
        ctx = self._context(node_id, attempt, None)
        step = composite.expired(spec.composite, ctx, rec.wait, time.time(), self.config.max_depth)
        if step is not None:
            self._apply(self._composite(node_id, attempt, step))

    # -- checkpoints -----------------------------------------------------------------------
    def _checkpoint(self, reason: str, *, announce: bool = True) -> None:
        """Save a checkpoint; the final one (kept for replay) is not announced: the
        execution's last event is its end."""
        store = self._checkpoints
        if store is None:
            return
        data = self.record.to_dict(with_outputs=False)
        self._mark = progress(data)
        try:
            cp = store.save(
                self.id,
                reason,
                time.time(),
                self.definition.hash,
                data,
                reusable_outputs(self.record),
                self.config.max_checkpoints,
            )
        except (OSError, TypeError, ValueError) as e:
            log.error("execution %s: cannot save a checkpoint: %s", self.id, e)
            return
        if not announce:
            return
        self._emit(
            ev.CHECKPOINT_CREATED,
            checkpoint_id=cp.id,
            reason=reason,
            level=self.record.current_level,
            completed_nodes=self.record.finished_count,
        )

    # -- events ----------------------------------------------------------------------------
    def _cancel_nodes(self, node_ids: tuple[str, ...]) -> None:
        ready = set(node_ids)
        self._ready = deque(item for item in self._ready if item[0] not in ready)
        self._held = [item for item in self._held if item[0] not in ready]
        for node_id in node_ids:
            job = self._running.pop(node_id, None)
            if job is not None:
                job.ctx.cancel_event.set()
            wait = self.record.nodes[node_id].wait
            if wait is not None:
                for child in wait["children"]:
                    if child["status"] == "running":
                        self._engine._signal_child(child["id"], "cancel")

    def _emit(self, type_: str, **data: Any) -> None:
        with self._cond:
            event = Event(
                type_, self.id, self.record.workflow_id, len(self._events), time.time(), data
            )
            self._events.append(event)
            if self._readers:
                self._cond.notify_all()
        for callback in (self._on_event, self._engine.hooks.on_event):
            if callback is None:
                continue
            try:
                callback(event)
            except Exception:
                log.exception("event callback failed for %s", type_)

    # -- result ----------------------------------------------------------------------------
    def _build_result(self) -> ExecutionResult:
        nodes = self.record.nodes
        outputs = {n: r.output for n, r in nodes.items() if r.state is NodeState.SUCCEEDED}
        return build_result(self.workflow, self.record, outputs)


def _child_state(state: ExecutionState) -> composite.ChildState:
    if state is ExecutionState.COMPLETED:
        return "completed"
    if state is ExecutionState.CANCELLED:
        return "cancelled"
    return "failed"


@dataclass
class Engine:
    """Runs workflows in-process.

    ``checkpoints`` keeps executions and their checkpoints for :meth:`resume` and
    :meth:`replay` (in memory by default; a :class:`~oxify.checkpoints.FileCheckpointStore`
    survives the process; ``None`` keeps nothing).

    >>> engine = Engine()
    >>> result = engine.run("examples/diamond.json", {"x": 2})  # doctest: +SKIP
    """

    registry: NodeRegistry = field(default_factory=NodeRegistry.default)
    hooks: Hooks = field(default_factory=Hooks)
    plan_cache_size: int = 100
    checkpoints: CheckpointStore | None = field(default_factory=MemoryCheckpointStore)

    def __post_init__(self) -> None:
        self.plans = PlanCache(self.plan_cache_size)
        self._executions: dict[str, Execution] = {}
        self._results: OrderedDict[str, ExecutionResult] = OrderedDict()
        self._lock = threading.Lock()

    def result(self, execution_id: str) -> ExecutionResult:
        """The result of a finished execution (the newest 1,000 are kept), child
        executions of composite nodes included."""
        with self._lock:
            result = self._results.get(execution_id)
            running = execution_id in self._executions
        if result is None:
            state = "still running" if running else "unknown to this engine"
            raise ExecutionError(f"execution {execution_id} is {state}")
        return result

    def validate(self, workflow: Workflow | str | Path) -> ValidationReport:
        """Every problem of a workflow (errors and warnings), without running it."""
        return validate(_root(workflow))

    def plan(self, workflow: Workflow | str | Path) -> Plan:
        """Validate (raising :class:`~oxify.errors.ValidationError`) and plan, with caching."""
        wf = _root(workflow)
        if wf in self.plans:
            return self.plans.get(wf)
        ensure_valid(wf)
        return self.plans.get(wf)

    def start(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str | None = None,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
        **options: Any,
    ) -> Execution:
        """Start an execution on a background thread and return its handle.

        Options may be given as an :class:`ExecutionConfig` or as keyword arguments
        (``mode="dataflow"``, ``max_concurrent_nodes=4``, ...). Sub-workflow paths are
        relative to ``base_dir`` (default: the workflow file's directory).
        """
        execution = self._prepare(
            workflow, inputs, config, execution_id, on_event, options, base_dir
        )
        self._launch(execution)
        return execution

    def run(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str | None = None,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
        **options: Any,
    ) -> ExecutionResult:
        """Run a workflow to its end on the calling thread and return the result."""
        execution = self._prepare(
            workflow, inputs, config, execution_id, on_event, options, base_dir
        )
        return execution._drive()

    def get(self, execution_id: str) -> Execution:
        """A running execution of this engine."""
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            raise ExecutionError(f"no running execution with id {execution_id}")
        return execution

    def cancel(self, execution_id: str) -> None:
        """Cancel a running execution of this engine (and its child executions)."""
        self.get(execution_id).cancel()

    def pause(self, execution_id: str) -> None:
        """Pause a running execution: no new node starts until :meth:`resume`."""
        self.get(execution_id).pause()

    def resume(
        self,
        execution_id: str,
        *,
        checkpoint: str | None = None,
        workflow: WorkflowSource | None = None,
        allow_changed: bool = False,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
    ) -> Execution:
        """Resume an execution: a paused one goes on; a failed, cancelled or interrupted one
        continues from its newest checkpoint (or ``checkpoint``), in the background.

        With ``workflow`` (say, the file fixed since), its definition must be the one the
        execution is pinned to, unless ``allow_changed``: then changed nodes run again.
        """
        with self._lock:
            running = self._executions.get(execution_id)
        if running is not None:
            if running.record.state is not ExecutionState.PAUSED and checkpoint is None:
                raise ExecutionError(f"execution {execution_id} is running, not paused")
            running.resume()
            return running
        store = self._store()
        saved = store.execution(execution_id)
        cp = pick(store.list(execution_id), execution_id, checkpoint)
        stored = Definition.from_data(parse_workflow(saved.workflow), saved.library)
        definition = stored
        if workflow is not None:
            definition = self._definition(workflow, base_dir)
            check_pinned(execution_id, saved.workflow_hash, definition, allow_changed)
        cfg = ExecutionConfig(**saved.config)
        plan = self.plan(definition.workflow)
        machine = make_machine(definition.workflow, plan, cfg)
        record, changed = rebuild(
            machine, execution_id, stored.workflow, cp.record, store.outputs(cp), saved.inputs
        )
        if definition.hash != saved.workflow_hash:
            store.save_execution(_saved(execution_id, definition, saved.inputs, cfg))
        origin = _Origin(
            record,
            frozenset(changed),
            (ev.WORKFLOW_RESUMED, {"checkpoint_id": cp.id, "rerun": sorted(changed)}),
        )
        execution = Execution(
            self,
            definition,
            plan,
            saved.inputs,
            cfg,
            execution_id,
            on_event,
            origin=origin,
            checkpoints=store,
        )
        self._register(execution)
        self._launch(execution)
        return execution

    def replay(
        self,
        execution_id: str,
        from_node: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        checkpoint: str | None = None,
        workflow: WorkflowSource | None = None,
        allow_changed: bool = False,
        new_execution_id: str | None = None,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
    ) -> Execution:
        """Start a new execution that reuses the recorded outputs of every node not
        downstream of ``from_node`` (id or name) and runs ``from_node`` and everything
        downstream of it again. ``inputs`` update the recorded inputs."""
        store = self._store()
        saved = store.execution(execution_id)
        cp = pick(store.list(execution_id), execution_id, checkpoint)
        stored = Definition.from_data(parse_workflow(saved.workflow), saved.library)
        definition = stored
        if workflow is not None:
            definition = self._definition(workflow, base_dir)
            check_pinned(execution_id, saved.workflow_hash, definition, allow_changed)
        start_at = find_node(definition.workflow, from_node)
        cfg = ExecutionConfig(**saved.config)
        plan = self.plan(definition.workflow)
        new_inputs = _json_inputs({**saved.inputs, **dict(inputs or {})})
        eid = new_execution_id or str(uuid.uuid4())
        machine = make_machine(definition.workflow, plan, cfg)
        record, changed = rebuild(
            machine, eid, stored.workflow, cp.record, store.outputs(cp), new_inputs
        )
        record.started_at = None
        store.save_execution(_saved(eid, definition, new_inputs, cfg))
        event = workflow_started(definition.workflow, cfg.mode)
        data = {**event[1], "replay_of": execution_id, "from_node": start_at}
        origin = _Origin(record, frozenset(changed | {start_at}), (event[0], data))
        execution = Execution(
            self,
            definition,
            plan,
            new_inputs,
            cfg,
            eid,
            on_event,
            origin=origin,
            checkpoints=store,
        )
        self._register(execution)
        self._launch(execution)
        return execution

    def checkpoint_list(self, execution_id: str) -> list[dict[str, Any]]:
        """Summaries of an execution's checkpoints, oldest first."""
        return [cp.summary() for cp in self._store().list(execution_id)]

    # -- internals ---------------------------------------------------------------------------
    def _store(self) -> CheckpointStore:
        if self.checkpoints is None:
            raise ExecutionError("this engine keeps no checkpoints (checkpoints=None)")
        return self.checkpoints

    def _launch(self, execution: Execution) -> None:
        thread = threading.Thread(
            target=execution._drive, name=f"oxify-exec-{execution.id[:8]}", daemon=True
        )
        thread.start()

    def _register(self, execution: Execution) -> None:
        with self._lock:
            if execution.id in self._executions:
                raise ExecutionError(f"execution {execution.id} is already running")
            self._executions[execution.id] = execution

    def _prepare(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None,
        config: ExecutionConfig | None,
        execution_id: str | None,
        on_event: EventCallback | None,
        options: dict[str, Any],
        base_dir: str | Path | None = None,
    ) -> Execution:
        if config is not None and options:
            raise ConfigError("pass either config= or keyword options, not both")
        cfg = config if config is not None else ExecutionConfig.make(**options)
        definition = self._definition(workflow, base_dir)
        plan = self.plan(definition.workflow)
        clean_inputs = _json_inputs(dict(inputs or {}))
        eid = execution_id or str(uuid.uuid4())
        store = self.checkpoints
        execution = Execution(
            self, definition, plan, clean_inputs, cfg, eid, on_event, checkpoints=store
        )
        self._register(execution)
        if store is not None:
            store.save_execution(_saved(eid, definition, clean_inputs, cfg))
        return execution

    def _start_child(
        self,
        definition: Definition,
        inputs: dict[str, Any],
        config: ExecutionConfig,
        execution_id: str,
        parent: dict[str, Any],
        depth: int,
        on_done: Callable[[ExecutionResult], None],
        paused: bool = False,
    ) -> None:
        plan = self.plan(definition.workflow)
        execution = Execution(
            self,
            definition,
            plan,
            _json_inputs(inputs),
            config,
            execution_id,
            None,
            parent=parent,
            depth=depth,
            on_done=on_done,
            start_paused=paused,
        )
        self._register(execution)
        self._launch(execution)

    def _signal_child(self, execution_id: str, what: str) -> None:
        """Cancel, pause or resume a child execution with its parent."""
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            return
        if what == "cancel":
            execution.cancel("parent cancelled it")
        elif what == "pause":
            execution.pause("parent paused")
        else:
            execution.resume()

    def _forget(self, execution_id: str, result: ExecutionResult) -> None:
        with self._lock:
            self._executions.pop(execution_id, None)
            self._results[execution_id] = result
            while len(self._results) > 1000:
                self._results.popitem(last=False)

    @staticmethod
    def _definition(workflow: WorkflowSource, base_dir: str | Path | None) -> Definition:
        if isinstance(workflow, Definition):
            return workflow
        return load_definition(workflow, base_dir)


def _root(workflow: WorkflowSource) -> Workflow:
    if isinstance(workflow, Definition):
        return workflow.workflow
    return workflow if isinstance(workflow, Workflow) else load_workflow(workflow)


def _json_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    try:
        clean: dict[str, Any] = json_copy(inputs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"workflow inputs must be JSON values: {e}") from None
    return clean


def _saved(
    eid: str, definition: Definition, inputs: dict[str, Any], cfg: ExecutionConfig
) -> SavedExecution:
    return SavedExecution(
        execution_id=eid,
        workflow=workflow_to_data(definition.workflow),
        library=definition.library_data(),
        workflow_hash=definition.hash,
        inputs=inputs,
        config=cfg.model_dump(),
        source=definition.source,
    )
