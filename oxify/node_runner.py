"""The worker side of distributed mode: run one attempt of one node.

Claim the attempt (a lease on Redis' clock), run the executor on a thread while renewing
the lease, watching for a cancel and for the time limit, then report the outcome — fenced
by attempt and worker, so a duplicate delivery or a worker that lost its lease records
nothing — and, unless a chord callback will, drive the execution on.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from oxify.dispatch import event_dict
from oxify.engine.describe import node_started
from oxify.engine.machine import NodeFailure
from oxify.engine.state import ExecutionState
from oxify.nodes.attempt import execute, failure_of, node_timeout, settle, timeout_failure
from oxify.nodes.base import NodeContext
from oxify.nodes.registry import ExecutorSpec
from oxify.remote_context import remote_context
from oxify.store.base import Outcome

if TYPE_CHECKING:
    from oxify.coordinator import Coordinator

Watched = Literal["done", "timeout", "fenced"]


class NodeRunner:
    """Runs node attempts for a :class:`~oxify.coordinator.Coordinator` (its store,
    registry, hooks, lease and workflow cache)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.c = coordinator

    def run(
        self, execution_id: str, node_id: str, attempt: int, workflow_hash: str, *, notify: bool
    ) -> str:
        """Returns ``done``, ``stale``/``busy`` (another delivery owns the attempt or it is
        not wanted any more) or ``fenced`` (this worker lost its lease while running)."""
        c = self.c
        workflow, plan, names = c.workflow(execution_id, workflow_hash)
        if node_id not in workflow.nodes_by_id:
            return "stale"
        type_, data = node_started(workflow, node_id, attempt)
        event = event_dict(type_, execution_id, workflow.metadata.id, data)
        worker = f"{c.worker_id}:{threading.get_ident()}"
        claim = c.store.claim(execution_id, node_id, attempt, worker, c.lease, event)
        if claim.status != "ok":
            return claim.status
        started = time.time()
        limit = node_timeout(workflow, node_id, claim.config.get("node_timeout"))
        deadline = None if limit is None else time.monotonic() + limit
        ctx = remote_context(
            c.store, execution_id, workflow, plan, names, node_id, attempt, claim.inputs, deadline
        )
        failure: NodeFailure | None
        value: Any = None
        routes: tuple[str, ...] | None = None
        try:
            spec = c.registry.resolve(ctx.node)
        except Exception as e:  # this worker lacks the executor: a clear, final failure
            failure = failure_of(e)
        else:
            watched, output, error = self._watch(execution_id, attempt, worker, spec, ctx, limit)
            if watched == "fenced":
                return "fenced"
            if watched == "timeout":
                assert limit is not None
                failure = timeout_failure(workflow, node_id, limit)
            else:
                value, routes, failure = settle(output, error)
        finished = time.time()
        if failure is None:
            outcome = Outcome(
                node_id,
                attempt,
                True,
                value,
                routes=list(routes) if routes is not None else None,
                started_at=started,
                finished_at=finished,
            )
        else:
            outcome = Outcome(
                node_id,
                attempt,
                False,
                error=failure.message,
                retryable=failure.retryable,
                timed_out=failure.timed_out,
                started_at=started,
                finished_at=finished,
            )
        accepted = c.store.report(execution_id, outcome, worker)
        if accepted and notify:
            c.drive(execution_id)
        return "done" if accepted else "stale"

    def _watch(
        self,
        eid: str,
        attempt: int,
        worker: str,
        spec: ExecutorSpec,
        ctx: NodeContext,
        limit: float | None,
    ) -> tuple[Watched, Any, BaseException | None]:
        """Run the executor on a thread; meanwhile renew the lease, watch for a cancel and
        for the time limit."""
        c = self.c
        node_id = ctx.node.id
        result: list[Any] = []
        finished = threading.Event()

        def target() -> None:
            result.extend(execute(spec, ctx, c.hooks))
            finished.set()

        threading.Thread(target=target, name=f"oxify-node-{node_id}", daemon=True).start()
        began = time.monotonic()
        renew_every = max(0.05, c.lease / 3)
        next_renew = began + renew_every
        while not finished.wait(min(0.25, max(0.0, next_renew - time.monotonic()))):
            now = time.monotonic()
            if limit is not None and now - began >= limit:
                ctx.cancel_event.set()
                return "timeout", None, None
            if now >= next_renew:
                next_renew = now + renew_every
                if not c.store.renew(eid, node_id, attempt, worker, c.lease):
                    ctx.cancel_event.set()
                    return "fenced", None, None
                if self._cancelled(eid):
                    ctx.cancel_event.set()
        return "done", result[0], result[1]

    def _cancelled(self, eid: str) -> bool:
        state, cancel = self.c.store.status(eid)
        return cancel is not None or state is None or ExecutionState(state).terminal
