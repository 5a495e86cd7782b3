"""The node runner: the worker side of a node attempt, and the only place where the
executor of a pool node is looked up and called.

Claim the attempt (a lease on the store's clock), run the executor under a
:class:`Supervision` (which keeps the lease, watches for a cancel and for the time limit),
then report the outcome — fenced by attempt and claim, so a duplicate delivery or a worker
that lost its lease records nothing — and, unless a chord callback will, drive the
execution on. A worker that lacks the executor reports a clear, final failure at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from oxify.engine.describe import node_started
from oxify.engine.machine import NodeFailure
from oxify.model.workflow import Workflow
from oxify.nodes.attempt import failure_of, node_timeout, settle, timeout_failure
from oxify.nodes.base import NodeContext
from oxify.nodes.registry import ExecutorSpec
from oxify.runtime.context import node_context
from oxify.runtime.dispatch import NodeTask
from oxify.runtime.hooks import Hooks, call_executor
from oxify.store.base import NewEvent, Outcome

if TYPE_CHECKING:
    from oxify.runtime.runtime import Runtime

Watched = Literal["done", "timeout", "fenced"]
"""How a supervised attempt ended: the executor returned; it ran past its time limit; or
the worker lost the attempt (its lease was not renewed: the execution ended, was cancelled
or reset, or another worker took over) and must not report."""

RunStatus = Literal["done", "stale", "busy", "fenced"]


class Supervision(Protocol):
    """Runs an executor and watches it."""

    def run(
        self, attempt: Claimed, spec: ExecutorSpec, ctx: NodeContext, hooks: Hooks
    ) -> tuple[Watched, Any, BaseException | None]:
        """Run ``spec``'s executor for ``ctx``. ``attempt.renew()`` keeps the lease (False:
        fenced off); ``attempt.time_out()`` reports that the time limit passed (for
        supervisions that watch from another thread, which then return ``fenced``)."""
        ...


@dataclass(slots=True)
class Claimed:
    """An attempt this worker holds: what its supervision and its report need."""

    runner: NodeRunner
    task: NodeTask
    workflow: Workflow
    worker: str
    started: float
    limit: float | None
    """The attempt's time limit in seconds (None: none)."""

    def renew(self) -> bool:
        """Extend the lease; False when this worker is fenced off."""
        rt, t = self.runner.rt, self.task
        return rt.store.renew(t.execution_id, t.node_id, t.attempt, self.worker, rt.options.lease)

    def report(self, outcome: Outcome) -> bool:
        return self.runner.rt.store.report(self.task.execution_id, outcome, self.worker)

    def fail(self, failure: NodeFailure) -> bool:
        """Report a failed attempt; whether the store took it."""
        t = self.task
        return self.report(
            Outcome(
                t.node_id,
                t.attempt,
                False,
                error=failure.message,
                retryable=failure.retryable,
                timed_out=failure.timed_out,
                started_at=self.started,
                finished_at=time.time(),
            )
        )

    def timeout_failure(self) -> NodeFailure:
        assert self.limit is not None
        return timeout_failure(self.workflow, self.task.node_id, self.limit)

    def time_out(self) -> None:
        """The time limit passed (seen from another thread): report it, drive on."""
        if self.fail(self.timeout_failure()):
            self.runner.rt.driver.drive(self.task.execution_id)


class ThreadSupervision:
    """The executor runs on a thread of its own while the calling thread renews the lease
    every third of it, watches the time limit, and stops waiting when fenced off (the
    executor is told, through ``ctx.cancelled()``)."""

    def __init__(self, lease: float) -> None:
        self.lease = lease

    def run(
        self, attempt: Claimed, spec: ExecutorSpec, ctx: NodeContext, hooks: Hooks
    ) -> tuple[Watched, Any, BaseException | None]:
        result: list[Any] = []
        finished = threading.Event()

        def target() -> None:
            result.extend(call_executor(spec.executor, ctx, hooks))
            finished.set()

        name = f"oxify-node-{attempt.task.node_id}"
        threading.Thread(target=target, name=name, daemon=True).start()
        limit = attempt.limit
        began = time.monotonic()
        renew_every = max(0.05, self.lease / 3)
        next_renew = began + renew_every
        while not finished.wait(min(0.25, max(0.0, next_renew - time.monotonic()))):
            now = time.monotonic()
            if limit is not None and now - began >= limit:
                ctx.cancel_event.set()
                return "timeout", None, None
            if now >= next_renew:
                next_renew = now + renew_every
                if not attempt.renew():
                    ctx.cancel_event.set()
                    return "fenced", None, None
        return "done", result[0], result[1]


class NodeRunner:
    """Runs node attempts for a :class:`~oxify.runtime.runtime.Runtime`."""

    def __init__(self, runtime: Runtime, supervision: Supervision | None = None) -> None:
        self.rt = runtime
        self.supervision: Supervision = supervision or ThreadSupervision(runtime.options.lease)

    def run(self, task: NodeTask, *, notify: bool | None = None) -> RunStatus:
        """Run one attempt: ``done``; ``stale``/``busy`` (the attempt is not wanted any more,
        or another delivery holds it); ``fenced`` (this worker lost it while running).
        Then drive the execution on if ``notify`` (default: the task's own ``notify``)."""
        rt = self.rt
        store, eid, node_id, attempt = rt.store, task.execution_id, task.node_id, task.attempt
        prepared = rt.definitions.get(eid, task.workflow_hash)
        workflow = prepared.definition.workflow
        if node_id not in workflow.nodes_by_id:
            return "stale"
        worker = f"{rt.options.worker_id}:{threading.get_ident()}"
        type_, data = node_started(workflow, node_id, attempt)
        now = time.time()
        claim = store.claim(
            eid,
            node_id,
            attempt,
            worker,
            rt.options.lease,
            NewEvent(type_, data, now),
            workflow.metadata.id,
        )
        if claim.status != "ok":
            return claim.status
        if claim.event is not None:
            rt.events.published(eid, [claim.event])
        limit = node_timeout(workflow, node_id, claim.node_timeout)
        held = Claimed(self, task, workflow, worker, now, limit)
        deadline = None if limit is None else time.monotonic() + limit
        ctx = node_context(store, eid, prepared, node_id, attempt, claim.inputs, deadline=deadline)
        try:
            spec = rt.registry.resolve(ctx.node)
        except Exception as e:  # this worker lacks the executor: a clear, final failure
            accepted = held.fail(failure_of(e))
        else:
            watched, output, error = self.supervision.run(held, spec, ctx, rt.hooks)
            if watched == "fenced":
                return "fenced"
            if watched == "timeout":
                accepted = held.fail(held.timeout_failure())
            else:
                value, routes, failure = settle(output, error)
                if failure is not None:
                    accepted = held.fail(failure)
                else:
                    accepted = held.report(
                        Outcome(
                            node_id,
                            attempt,
                            True,
                            value,
                            routes=list(routes) if routes is not None else None,
                            started_at=now,
                            finished_at=time.time(),
                        )
                    )
        if accepted and (task.notify if notify is None else notify):
            rt.driver.drive(eid)
        return "done" if accepted else "stale"
