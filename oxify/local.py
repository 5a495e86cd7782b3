"""The embedded runner: the engine's state machine driven in-process, nodes on threads.

``Engine.run()`` drives the execution on the calling thread and returns its result;
``Engine.start()`` drives it on a background thread and returns an :class:`Execution` handle
(``wait``, ``cancel``, ``events``). No Redis, no workers: for development, tests, small jobs.
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
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oxify.engine.describe import describe, node_started, workflow_started
from oxify.engine.machine import (
    Action,
    CancelNodes,
    Machine,
    RunNode,
)
from oxify.engine.plan import Plan, PlanCache
from oxify.engine.scope import Scope, index_names
from oxify.engine.state import ExecutionState, NodeState
from oxify.engine.validate import ValidationReport, ensure_valid, validate
from oxify.errors import ConfigError, ExecutionError
from oxify.events import Event
from oxify.execution import ExecutionConfig, ExecutionResult, build_result
from oxify.hooks import Hooks
from oxify.model.io import load_workflow
from oxify.model.workflow import Workflow
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
from oxify.nodes.registry import NodeRegistry
from oxify.pool import Attempt, WorkerPool

log = logging.getLogger("oxify")

EventCallback = Callable[[Event], None]


class Execution:
    """One embedded execution. Obtain it from :meth:`Engine.start`."""

    def __init__(
        self,
        engine: Engine,
        workflow: Workflow,
        plan: Plan,
        inputs: dict[str, Any],
        config: ExecutionConfig,
        execution_id: str,
        on_event: EventCallback | None,
    ) -> None:
        self.id = execution_id
        self.workflow = workflow
        self.config = config
        self._engine = engine
        self._plan = plan
        self._on_event = on_event
        self.machine = Machine(
            workflow,
            plan,
            mode=config.mode,
            continue_on_error=config.continue_on_error,
            rng=random.Random(config.seed),
        )
        self.record = self.machine.new_record(execution_id, inputs)
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
        """Ask the execution to stop: queued nodes never start, running ones are signalled."""
        self._inbox.put(("cancel", reason or "cancelled by request"))

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
            self._result = self._build_result()
            with self._cond:
                self._finished.set()
                self._cond.notify_all()
            self._engine._forget(self.id)
        return self._result

    def _loop(self) -> None:
        type_, data = workflow_started(self.workflow, self.config.mode)
        self._emit(type_, **data)
        if self.config.timeout is not None:
            self._add_timer(self.config.timeout, ("workflow_deadline",))
        self._apply(self.machine.start(self.record, time.time()))
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
        elif kind == "cancel":
            self._apply(self.machine.cancel(self.record, time.time(), msg[1]))

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now and not self.record.state.terminal:
            _, _, payload = heapq.heappop(self._timers)
            if payload[0] == "run":
                self._apply([RunNode(payload[1], payload[2])])
            elif payload[0] == "deadline":
                self._timed_out(payload[1], payload[2], payload[3])
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

    def _dispatch(self, node_id: str, attempt: int) -> list[Action]:
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
            return record.nodes[n].state is NodeState.SUCCEEDED

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
        )

    # -- events ----------------------------------------------------------------------------
    def _cancel_nodes(self, node_ids: tuple[str, ...]) -> None:
        ready = set(node_ids)
        self._ready = deque(item for item in self._ready if item[0] not in ready)
        for node_id in node_ids:
            job = self._running.pop(node_id, None)
            if job is not None:
                job.ctx.cancel_event.set()

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


@dataclass
class Engine:
    """Runs workflows in-process.

    >>> engine = Engine()
    >>> result = engine.run("examples/diamond.json", {"x": 2})  # doctest: +SKIP
    """

    registry: NodeRegistry = field(default_factory=NodeRegistry.default)
    hooks: Hooks = field(default_factory=Hooks)
    plan_cache_size: int = 100

    def __post_init__(self) -> None:
        self.plans = PlanCache(self.plan_cache_size)
        self._executions: dict[str, Execution] = {}
        self._lock = threading.Lock()

    def validate(self, workflow: Workflow | str | Path) -> ValidationReport:
        """Every problem of a workflow (errors and warnings), without running it."""
        return validate(self._workflow(workflow))

    def plan(self, workflow: Workflow | str | Path) -> Plan:
        """Validate (raising :class:`~oxify.errors.ValidationError`) and plan, with caching."""
        wf = self._workflow(workflow)
        if wf in self.plans:
            return self.plans.get(wf)
        ensure_valid(wf)
        return self.plans.get(wf)

    def start(
        self,
        workflow: Workflow | str | Path,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str | None = None,
        on_event: EventCallback | None = None,
        **options: Any,
    ) -> Execution:
        """Start an execution on a background thread and return its handle.

        Options may be given as an :class:`ExecutionConfig` or as keyword arguments
        (``mode="dataflow"``, ``max_concurrent_nodes=4``, ...).
        """
        execution = self._prepare(workflow, inputs, config, execution_id, on_event, options)
        thread = threading.Thread(
            target=execution._drive, name=f"oxify-exec-{execution.id[:8]}", daemon=True
        )
        thread.start()
        return execution

    def run(
        self,
        workflow: Workflow | str | Path,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str | None = None,
        on_event: EventCallback | None = None,
        **options: Any,
    ) -> ExecutionResult:
        """Run a workflow to its end on the calling thread and return the result."""
        execution = self._prepare(workflow, inputs, config, execution_id, on_event, options)
        return execution._drive()

    def cancel(self, execution_id: str) -> None:
        """Cancel a running execution of this engine."""
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            raise ExecutionError(f"no running execution with id {execution_id}")
        execution.cancel()

    def _prepare(
        self,
        workflow: Workflow | str | Path,
        inputs: Mapping[str, Any] | None,
        config: ExecutionConfig | None,
        execution_id: str | None,
        on_event: EventCallback | None,
        options: dict[str, Any],
    ) -> Execution:
        if config is not None and options:
            raise ConfigError("pass either config= or keyword options, not both")
        cfg = config if config is not None else ExecutionConfig.make(**options)
        if cfg.checkpoint_frequency != "never":
            raise ConfigError(
                "checkpoints are not available yet (checkpoint_frequency must be 'never'); "
                "they arrive with durable executions"
            )
        wf = self._workflow(workflow)
        plan = self.plan(wf)
        try:
            clean_inputs = json_copy(dict(inputs or {}))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"workflow inputs must be JSON values: {e}") from None
        eid = execution_id or str(uuid.uuid4())
        execution = Execution(self, wf, plan, clean_inputs, cfg, eid, on_event)
        with self._lock:
            if eid in self._executions:
                raise ExecutionError(f"execution {eid} is already running")
            self._executions[eid] = execution
        return execution

    def _forget(self, execution_id: str) -> None:
        with self._lock:
            self._executions.pop(execution_id, None)

    @staticmethod
    def _workflow(workflow: Workflow | str | Path) -> Workflow:
        return workflow if isinstance(workflow, Workflow) else load_workflow(workflow)
