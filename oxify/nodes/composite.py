"""Composite nodes: nodes that run child executions and wait for them.

A composite executor (Loop, TryCatch, SubWorkflow, Parallel) is a small state machine of its
own. :meth:`CompositeExecutor.begin` either returns the node's output at once (an expression
body, as in the OxiFY format) or a :class:`Spawn`: child executions to run, and a JSON
``state`` to remember. When the children are done (or the first success, or the first
failure, as the spawn asks), :meth:`CompositeExecutor.resume` gets the state and their
results and again returns the output or another spawn (the next loop iteration, the catch
block, the finally block, ...).

Meanwhile the node is ``waiting``: it holds no worker slot. The driver keeps its
:class:`~oxify.engine.waits.Wait` in the node's record, starts children — at most
``max_concurrency`` at a time — and feeds their results to :func:`child_done`. The
functions are pure: they must give the same answer when a step is retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from oxify.engine.machine import NodeFailure
from oxify.engine.waits import FINISHED, ChildEntry, ChildStatus, Until, Wait
from oxify.nodes.attempt import failure_of, timeout_failure
from oxify.nodes.base import NodeContext

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "ChildEntry",
    "ChildResult",
    "ChildSpec",
    "CompositeExecutor",
    "CompositeStep",
    "Spawn",
    "Until",
    "Wait",
    "begin",
    "child_done",
    "child_id",
    "expired",
]

DEFAULT_MAX_DEPTH = 16
"""Sub-workflows may nest this deep (a recursive workflow stops here with a clear error)."""

_NAMESPACE = uuid.UUID("5b0c8d3e-2f4a-4c61-9a57-0f1d2e3c4b5a")


@dataclass(frozen=True)
class ChildSpec:
    """One child execution to run: the sub-workflow (a reference, see
    :mod:`oxify.definition`), its inputs, and a label for results and events."""

    ref: str
    inputs: Mapping[str, Any]
    label: str


@dataclass(frozen=True)
class Spawn:
    """Run these children, then call ``resume`` with ``state`` and their results."""

    children: list[ChildSpec]
    state: Any = None
    max_concurrency: int | None = None
    until: Until = "all"
    timeout: float | None = None
    """Seconds; when they pass, running children are cancelled and reported ``timed_out``."""


@dataclass(frozen=True)
class ChildResult:
    """How one child execution ended (``output`` is its End node's output)."""

    label: str
    state: ChildStatus
    output: Any = None
    error: str | None = None
    execution_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "completed"


class CompositeExecutor(Protocol):
    """A node that may run child executions. Raise :class:`~oxify.errors.NodeError` to
    fail the node."""

    def begin(self, ctx: NodeContext, /) -> Any:
        """The node's output, or a :class:`Spawn`."""
        ...

    def resume(self, ctx: NodeContext, state: Any, results: list[ChildResult], /) -> Any:
        """Children are done: the node's output, or another :class:`Spawn`."""
        ...


def child_id(execution_id: str, node_id: str, attempt: int, seq: int, index: int) -> str:
    """The id of a child execution: deterministic, so that starting it twice (a step
    retried, a repair) is harmless, and unique per attempt (attempt numbers never repeat,
    even across a resume), so that a resumed node never meets its old children."""
    return str(uuid.uuid5(_NAMESPACE, f"{execution_id}/{node_id}/{attempt}/{seq}/{index}"))


def start_next(wait: Wait) -> list[ChildEntry]:
    """Mark as many pending children running as the concurrency limit allows."""
    room = len(wait.children)
    if wait.max_concurrency is not None:
        room = wait.max_concurrency - len(wait.running())
    started: list[ChildEntry] = []
    for i, c in enumerate(wait.children):
        if room <= 0:
            break
        if c.status == "pending":
            started.append(wait.update(i, status="running"))
            room -= 1
    return started


def is_over(wait: Wait) -> bool:
    statuses = [c.status for c in wait.children]
    if all(s in FINISHED for s in statuses):
        return True
    if wait.until == "all_ok":
        return any(s in ("failed", "cancelled", "timed_out") for s in statuses)
    if wait.until == "first_ok":
        return "completed" in statuses
    return False


def close(wait: Wait, running_as: ChildStatus = "cancelled") -> list[str]:
    """End a wait early: running children become ``running_as`` (returned, to be
    cancelled), pending ones ``not_started``."""
    stop: list[str] = []
    for i, c in enumerate(wait.children):
        if c.status == "running":
            error = c.error or ("timed out" if running_as == "timed_out" else "cancelled")
            wait.update(i, status=running_as, error=error)
            stop.append(c.id)
        elif c.status == "pending":
            wait.update(i, status="not_started")
    return stop


def results(wait: Wait) -> list[ChildResult]:
    return [ChildResult(c.label, c.status, c.output, c.error, c.id) for c in wait.children]


@dataclass
class CompositeStep:
    """What the runner does next for a composite node.

    With ``wait`` set the node (still) waits: start the children in ``start``. Otherwise it
    finished: with ``output`` (``failure`` None) or with ``failure``. Children in ``cancel``
    are to be cancelled either way.
    """

    wait: Wait | None = None
    start: list[ChildEntry] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    output: Any = None
    failure: NodeFailure | None = None


def begin(
    executor: CompositeExecutor,
    ctx: NodeContext,
    now: float,
    max_depth: int = DEFAULT_MAX_DEPTH,
    *,
    max_running: int | None = None,
) -> CompositeStep:
    """Start a composite node's attempt. The node's own ``timeout_config`` (not the
    execution's default ``node_timeout``, meant for single calls) limits the whole attempt,
    children included. ``max_running`` caps the children running at once, whatever the
    node asks (the embedded runner's thread budget)."""
    try:
        answer = executor.begin(ctx)
    except Exception as e:
        return CompositeStep(failure=failure_of(e))
    limit = _own_timeout(ctx)
    node_deadline = None if limit is None else now + limit
    return _settle(executor, answer, ctx, 0, now, max_depth, [], node_deadline, max_running)


def _own_timeout(ctx: NodeContext) -> float | None:
    tc = ctx.node.timeout_config
    return None if tc is None else tc.execution_timeout_ms / 1000.0


def child_done(
    executor: CompositeExecutor,
    ctx: NodeContext,
    waiting: Wait,
    cid: str,
    result: ChildResult,
    now: float,
    max_depth: int = DEFAULT_MAX_DEPTH,
    *,
    max_running: int | None = None,
) -> CompositeStep | None:
    """A child finished. None if it is not one this wait still runs (a late report)."""
    wait = waiting.copy()
    i = wait.index(cid)
    if i is None or wait.children[i].status != "running":
        return None
    wait.update(i, status=result.state, output=result.output, error=result.error)
    return _next(executor, ctx, wait, now, max_depth, [], max_running)


def expired(
    executor: CompositeExecutor,
    ctx: NodeContext,
    waiting: Wait,
    now: float,
    max_depth: int = DEFAULT_MAX_DEPTH,
    *,
    max_running: int | None = None,
) -> CompositeStep | None:
    """A deadline passed. The node's own time limit: running children are cancelled and the
    attempt fails as timed out (retried, skipped or defaulted as its policies say). The
    spawn's limit (Parallel's ``timeout_ms``): running children are stopped and reported
    ``timed_out`` to ``resume``. None if no deadline has passed."""
    wait = waiting.copy()
    if wait.node_deadline is not None and now >= wait.node_deadline:
        cancel = close(wait)
        limit = _own_timeout(ctx) or 0.0
        return CompositeStep(
            cancel=cancel, failure=timeout_failure(ctx.workflow, ctx.node.id, limit)
        )
    if wait.deadline is None or now < wait.deadline:
        return None
    cancel = close(wait, "timed_out")
    return _resume(executor, ctx, wait, now, max_depth, cancel, max_running)


def _next(
    executor: CompositeExecutor,
    ctx: NodeContext,
    wait: Wait,
    now: float,
    max_depth: int,
    cancel: list[str],
    max_running: int | None = None,
) -> CompositeStep:
    if not is_over(wait):
        return CompositeStep(wait=wait, start=start_next(wait), cancel=cancel)
    return _resume(executor, ctx, wait, now, max_depth, cancel + close(wait), max_running)


def _resume(
    executor: CompositeExecutor,
    ctx: NodeContext,
    wait: Wait,
    now: float,
    max_depth: int,
    cancel: list[str],
    max_running: int | None = None,
) -> CompositeStep:
    try:
        answer = executor.resume(ctx, wait.state, results(wait))
    except Exception as e:
        return CompositeStep(cancel=cancel, failure=failure_of(e))
    return _settle(
        executor,
        answer,
        ctx,
        wait.seq + 1,
        now,
        max_depth,
        cancel,
        wait.node_deadline,
        max_running,
    )


def _settle(
    executor: CompositeExecutor,
    answer: Any,
    ctx: NodeContext,
    seq: int,
    now: float,
    max_depth: int,
    cancel: list[str],
    node_deadline: float | None = None,
    max_running: int | None = None,
) -> CompositeStep:
    if not isinstance(answer, Spawn):
        return CompositeStep(cancel=cancel, output=answer)
    if ctx.depth + 1 > max_depth:
        return CompositeStep(
            cancel=cancel,
            failure=NodeFailure(
                f"sub-workflow depth limit reached: node {ctx.node.label} would start a child "
                f"at depth {ctx.depth + 1} (the limit is {max_depth}; a workflow that runs "
                "itself needs a stopping condition)"
            ),
        )
    children = [
        ChildEntry(
            child_id(ctx.execution_id, ctx.node.id, ctx.attempt, seq, i),
            spec.label,
            spec.ref,
            dict(spec.inputs),
        )
        for i, spec in enumerate(answer.children)
    ]
    wait = Wait(
        seq=seq,
        state=answer.state,
        until=answer.until,
        max_concurrency=_cap(answer.max_concurrency, max_running),
        deadline=None if answer.timeout is None else now + answer.timeout,
        children=children,
        node_deadline=node_deadline,
    )
    return _next(executor, ctx, wait, now, max_depth, cancel, max_running)


def _cap(asked: int | None, budget: int | None) -> int | None:
    if asked is None:
        return budget
    return asked if budget is None else min(asked, budget)
