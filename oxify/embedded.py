"""One embedded execution: the engine's state machine driven in-process, nodes on threads.

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
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oxify import events as ev
from oxify.checkpoints import (
    CheckpointPolicy,
    CheckpointStore,
    progress,
)
from oxify.definition import Definition
from oxify.durable import reusable_outputs
from oxify.embedded_children import carry_out, child_finished, running_children, wait_expired
from oxify.engine.describe import describe, node_started, workflow_started
from oxify.engine.machine import Action, CancelNodes, RunNode
from oxify.engine.plan import Plan
from oxify.engine.scope import Scope, index_names
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.events import Event
from oxify.execution import ExecutionConfig, ExecutionResult, build_result, make_machine
from oxify.model.workflow import Workflow
from oxify.nodes import composite
from oxify.nodes.attempt import (
    VisibleOutputs,
    execute,
    failure_of,
    node_timeout,
    settle,
    timeout_failure,
)
from oxify.nodes.base import NodeContext
from oxify.pool import Attempt, WorkerPool

if TYPE_CHECKING:
    from oxify.local import Engine

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
        self._mark = progress(self.record)
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
            child_finished(self, msg[1], msg[2], msg[3], msg[4])
        elif kind == "cancel":
            self._apply(self.machine.cancel(self.record, time.time(), msg[1]))
        elif kind == "pause":
            self._apply(self.machine.pause(self.record, time.time(), msg[1]))
            if self.record.state is ExecutionState.PAUSED:
                self._checkpoint("paused")
                for cid in running_children(self):
                    self._engine._signal_child(cid, "pause")
        elif kind == "unpause":
            self._apply(self.machine.unpause(self.record, time.time()))
            for cid in running_children(self):
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
                wait_expired(self, payload[1], payload[2])
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
            now_mark = progress(self.record)
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
            step = composite.begin(
                spec.composite,
                ctx,
                time.time(),
                self.config.max_depth,
                max_running=self.config.max_concurrent_nodes,
            )
            return carry_out(self, node_id, attempt, step)
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
            return record.nodes[n].has_output

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
                log.exception("on_event callback failed for %s", type_)

    # -- result ----------------------------------------------------------------------------
    def _build_result(self) -> ExecutionResult:
        nodes = self.record.nodes
        outputs = {n: r.output for n, r in nodes.items() if r.state is NodeState.SUCCEEDED}
        return build_result(self.workflow, self.record, outputs)
