"""The execution state machine: pure, shared by the embedded and the distributed runner.

Given an :class:`ExecutionRecord` and an event (start, node started, node succeeded, node
failed, cancel), the machine updates the record and returns :data:`Action` values that tell
the runner what to do (run these nodes, possibly after a delay; cancel those) and what
happened (levels, skips, retries, the end of the execution). It performs no I/O, reads no
clock (``now`` is passed in) and draws jitter from a ``random.Random`` it is given.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from oxify.engine.options import ExecutionConfig
from oxify.engine.plan import Plan
from oxify.engine.state import (
    ExecutionRecord,
    ExecutionState,
    NodeRecord,
    NodeState,
    NodeTable,
    SkipReason,
)
from oxify.model.workflow import RetryConfig, UseDefault, Workflow

Mode = Literal["levels", "dataflow"]
MODES: tuple[Mode, ...] = ("levels", "dataflow")

Degradation = Literal["skip", "execute_with_defaults", "fail_immediately"]
DEGRADATIONS: tuple[Degradation, ...] = ("skip", "execute_with_defaults", "fail_immediately")
"""What happens, under ``continue_on_error``, to the dependents of a failed node: they are
skipped; they run with the failed node's ``default_output`` as its output; or the execution
fails as soon as one of them would run."""

MAX_LOST_ATTEMPTS = 3
"""How many times a node whose worker vanished is run again before it fails."""

JITTER = 0.1
"""Retry delays are stretched by a random factor in ``[1, 1 + JITTER)``."""


# -- actions ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunNode:
    """Run attempt ``attempt`` (1-based) of a node, ``delay`` seconds from now."""

    node_id: str
    attempt: int
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeRetrying:
    """A failed attempt will be retried (a ``RunNode`` with the delay follows)."""

    node_id: str
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True, slots=True)
class NodeFinished:
    """A node reached a terminal state (succeeded, failed, skipped)."""

    node_id: str
    state: NodeState


@dataclass(frozen=True, slots=True)
class LevelStarted:
    level: int
    node_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LevelCompleted:
    level: int


@dataclass(frozen=True, slots=True)
class CancelNodes:
    """Stop these queued or running nodes; their results will be ignored."""

    node_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExecutionFinished:
    state: ExecutionState
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionPaused:
    """No new node starts until the execution is resumed (running ones finish)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ExecutionResumed:
    """A paused execution goes on: queued nodes may start again."""


Action = (
    RunNode
    | NodeRetrying
    | NodeFinished
    | LevelStarted
    | LevelCompleted
    | CancelNodes
    | ExecutionFinished
    | ExecutionPaused
    | ExecutionResumed
)


@dataclass(frozen=True, slots=True)
class NodeFailure:
    """How an attempt failed: the message, whether retrying may help, whether it timed out."""

    message: str
    retryable: bool = False
    timed_out: bool = False


def retry_delay(policy: RetryConfig, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed.

    ``min(initial * multiplier**(attempt-1), max)``, stretched by up to ``JITTER`` at random.
    """
    base_ms = policy.initial_delay_ms * policy.backoff_multiplier ** (attempt - 1)
    capped = min(base_ms, float(policy.max_delay_ms)) / 1000.0
    return capped * (1.0 + (rng.random() * JITTER if rng is not None else 0.0))


_LIVE = frozenset({ExecutionState.RUNNING, ExecutionState.PAUSED})
_ACTIVE_NODE = frozenset({NodeState.QUEUED, NodeState.RUNNING, NodeState.WAITING})


def _must_redo(rec: NodeRecord) -> bool:
    """Whether a restart runs a node again (it did not succeed, nor was it rightly skipped)."""
    if not rec.state.terminal or rec.state in (NodeState.FAILED, NodeState.CANCELLED):
        return True
    return rec.skip_reason in (SkipReason.UPSTREAM_FAILED, SkipReason.TIMEOUT)


def default_output(node: Any) -> Any:
    """A node's ``default_output`` (oxify extension field; ``None`` when absent): what its
    dependents see when it failed under ``on_upstream_failure="execute_with_defaults"``."""
    return (node.model_extra or {}).get("default_output")


def parse_default(text: str) -> Any:
    """A ``UseDefault`` value: JSON when it parses, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def routers_of(workflow: Workflow) -> frozenset[str]:
    """The nodes that choose which successors run (IfElse, Switch)."""
    return frozenset(n.id for n in workflow.nodes if n.kind.type in ("IfElse", "Switch"))


class Machine:
    """Drives one workflow's executions. Create one per (workflow, plan, options)."""

    def __init__(
        self,
        workflow: Workflow,
        plan: Plan,
        *,
        mode: Mode = "levels",
        continue_on_error: bool = False,
        on_upstream_failure: Degradation = "skip",
        rng: random.Random | None = None,
        routers: frozenset[str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown scheduling mode {mode!r} (known: {', '.join(MODES)})")
        if on_upstream_failure not in DEGRADATIONS:
            raise ValueError(
                f"unknown on_upstream_failure {on_upstream_failure!r} "
                f"(known: {', '.join(DEGRADATIONS)})"
            )
        self.workflow = workflow
        self.plan = plan
        self.mode: Mode = mode
        self.continue_on_error = continue_on_error
        self.on_upstream_failure: Degradation = on_upstream_failure
        self.rng = rng or random.Random()
        self._routers = routers if routers is not None else routers_of(workflow)

    # -- records ----------------------------------------------------------------------------
    def new_record(self, execution_id: str, inputs: dict[str, Any]) -> ExecutionRecord:
        """A fresh record for an execution of this machine's workflow."""
        plan = self.plan
        return ExecutionRecord(
            execution_id=execution_id,
            workflow_id=self.workflow.metadata.id,
            workflow_hash=self.workflow.content_hash,
            mode=self.mode,
            inputs=inputs,
            nodes=NodeTable.of({n: NodeRecord(pending=len(plan.preds[n])) for n in plan.order}),
            level_remaining=[len(level) for level in plan.levels],
        )

    # -- events -----------------------------------------------------------------------------
    def start(self, record: ExecutionRecord, now: float) -> list[Action]:
        """Begin the execution: the first nodes to run (and skips, level events)."""
        if record.state is not ExecutionState.PENDING:
            return []
        record.state = ExecutionState.RUNNING
        record.started_at = now
        actions: list[Action] = []
        if not self.plan.order:
            return self._finish(record, now, actions)
        if self.mode == "levels":
            self._open_level(record, 0, now, actions)
            self._advance_levels(record, now, actions)
        else:
            self._decide_all(
                record, [n for n in self.plan.order if not self.plan.preds[n]], now, actions
            )
        return actions

    def node_started(self, record: ExecutionRecord, node_id: str, attempt: int, now: float) -> bool:
        """A runner began attempt ``attempt``. False if that attempt is stale (ignore it)."""
        node = record.nodes[node_id]
        if record.state not in _LIVE or node.attempts != attempt:
            return False
        if node.state not in (NodeState.QUEUED, NodeState.RUNNING):
            return False
        node.state = NodeState.RUNNING
        if node.started_at is None:
            node.started_at = now
        return True

    def node_waiting(self, record: ExecutionRecord, node_id: str, attempt: int) -> bool:
        """A composite node started child executions and waits for them (holding no worker
        slot). False if that attempt is stale."""
        node = record.nodes[node_id]
        if not self._current(record, node, attempt):
            return False
        node.state = NodeState.WAITING
        return True

    def node_succeeded(
        self,
        record: ExecutionRecord,
        node_id: str,
        attempt: int,
        output: Any,
        now: float,
        routes: Iterable[str] | None = None,
    ) -> list[Action]:
        """Attempt ``attempt`` returned ``output`` (routers also name the successors to run)."""
        node = record.nodes[node_id]
        if not self._current(record, node, attempt):
            return []
        node.output = output
        node.error = None
        if node_id in self._routers:
            node.routes = tuple(routes or ())
        actions: list[Action] = []
        self._terminal(record, node_id, NodeState.SUCCEEDED, now, actions)
        return actions

    def node_failed(
        self, record: ExecutionRecord, node_id: str, attempt: int, failure: NodeFailure, now: float
    ) -> list[Action]:
        """Attempt ``attempt`` failed: retry, apply the timeout action, or fail."""
        node = record.nodes[node_id]
        if not self._current(record, node, attempt):
            return []
        actions: list[Action] = []
        wf_node = self.workflow.nodes_by_id[node_id]
        policy = wf_node.retry_config
        if failure.retryable and policy is not None and attempt <= policy.max_retries:
            delay = retry_delay(policy, attempt, self.rng)
            node.error = failure.message
            node.state = NodeState.QUEUED
            node.attempts = attempt + 1
            actions.append(NodeRetrying(node_id, attempt, delay, failure.message))
            actions.append(RunNode(node_id, attempt + 1, delay))
            return actions
        timeout = wf_node.timeout_config
        if failure.timed_out and timeout is not None and timeout.timeout_action != "Fail":
            if isinstance(timeout.timeout_action, UseDefault):
                node.output = parse_default(timeout.timeout_action.UseDefault)
                node.error = failure.message
                self._terminal(record, node_id, NodeState.SUCCEEDED, now, actions)
            else:
                node.error = failure.message
                node.skip_reason = SkipReason.TIMEOUT
                self._terminal(record, node_id, NodeState.SKIPPED, now, actions)
            return actions
        node.error = failure.message
        if not self.continue_on_error:
            node.state = NodeState.FAILED
            node.finished_at = now
            record.failed_nodes.append(node_id)
            actions.append(NodeFinished(node_id, NodeState.FAILED))
            label = wf_node.label
            return self._stop(
                record,
                ExecutionState.FAILED,
                f"node {label} failed: {failure.message}",
                now,
                actions,
            )
        record.failed_nodes.append(node_id)
        if self.on_upstream_failure == "execute_with_defaults":
            node.output = default_output(wf_node)
        self._terminal(record, node_id, NodeState.FAILED, now, actions)
        return actions

    def node_lost(
        self, record: ExecutionRecord, node_id: str, attempt: int, now: float
    ) -> list[Action]:
        """The worker running attempt ``attempt`` vanished (killed, lease expired): run the
        node again as a new attempt, at once, without using up its ``retry_config``; after
        :data:`MAX_LOST_ATTEMPTS` such losses the node fails."""
        node = record.nodes[node_id]
        if not self._current(record, node, attempt):
            return []
        node.lost += 1
        if node.lost > MAX_LOST_ATTEMPTS:
            failure = NodeFailure(f"the worker running it was lost {node.lost} times")
            return self.node_failed(record, node_id, attempt, failure, now)
        node.error = "worker lost"
        node.state = NodeState.QUEUED
        node.attempts = attempt + 1
        return [NodeRetrying(node_id, attempt, 0.0, "worker lost"), RunNode(node_id, attempt + 1)]

    def cancel(
        self, record: ExecutionRecord, now: float, reason: str | None = None
    ) -> list[Action]:
        """Cancel the execution: queued and running nodes are stopped."""
        if record.state.terminal:
            return []
        return self._stop(record, ExecutionState.CANCELLED, reason, now, [])

    def pause(self, record: ExecutionRecord, now: float, reason: str = "requested") -> list[Action]:
        """Pause: queued nodes are held back (the runner does not start them); running
        nodes finish and their results are kept. No-op unless the execution is running."""
        if record.state is not ExecutionState.RUNNING:
            return []
        record.state = ExecutionState.PAUSED
        return [ExecutionPaused(reason)]

    def unpause(self, record: ExecutionRecord, now: float) -> list[Action]:
        """Resume a paused execution: the runner starts the queued nodes again."""
        if record.state is not ExecutionState.PAUSED:
            return []
        record.state = ExecutionState.RUNNING
        return [ExecutionResumed()]

    def restart(
        self, record: ExecutionRecord, now: float, rerun: Iterable[str] = ()
    ) -> list[Action]:
        """Continue a stopped (failed, cancelled, paused, interrupted) execution from what
        ``record`` holds: nodes that succeeded or were skipped keep their state and output;
        every node that failed, was cancelled or had not finished, the nodes in ``rerun``,
        and everything downstream of those run again (with fresh attempt numbers)."""
        plan = self.plan
        redo = self.restart_set(record, rerun)
        for nid in redo:
            rec = record.nodes[nid]
            pending = sum(1 for p in plan.preds[nid] if p in redo)
            record.nodes[nid] = NodeRecord(attempts=rec.attempts, pending=pending)
        record.failed_nodes = [n for n in record.failed_nodes if n not in redo]
        record.level_remaining = [sum(1 for n in level if n in redo) for level in plan.levels]
        record.finished_count = len(record.nodes) - len(redo)
        record.state = ExecutionState.RUNNING
        record.error = None
        record.finished_at = None
        if record.started_at is None:
            record.started_at = now
        actions: list[Action] = []
        if not redo:
            return self._finish(record, now, actions)
        if self.mode == "levels":
            first = min(plan.level_of[n] for n in redo)
            record.current_level = first
            self._open_level(record, first, now, actions)
            self._advance_levels(record, now, actions)
        else:
            ready = [n for n in plan.order if n in redo and record.nodes[n].pending == 0]
            self._decide_all(record, ready, now, actions)
        return actions

    def restart_set(self, record: ExecutionRecord, rerun: Iterable[str] = ()) -> set[str]:
        """The nodes :meth:`restart` runs again (the others keep state and output)."""
        redo: set[str] = set(rerun)
        for nid, rec in record.nodes.items():
            if _must_redo(rec):
                redo.add(nid)
        stack = list(redo)
        while stack:
            for s in self.plan.succs[stack.pop()]:
                if s not in redo:
                    redo.add(s)
                    stack.append(s)
        return redo

    def fail(self, record: ExecutionRecord, error: str, now: float) -> list[Action]:
        """Fail the whole execution (for example, its time limit passed)."""
        if record.state.terminal:
            return []
        return self._stop(record, ExecutionState.FAILED, error, now, [])

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _current(record: ExecutionRecord, node: NodeRecord, attempt: int) -> bool:
        return record.state in _LIVE and node.attempts == attempt and node.state in _ACTIVE_NODE

    def _stop(
        self,
        record: ExecutionRecord,
        state: ExecutionState,
        error: str | None,
        now: float,
        actions: list[Action],
    ) -> list[Action]:
        active = tuple(n for n, rec in record.nodes.items() if rec.state in _ACTIVE_NODE)
        for rec in record.nodes.values():
            if not rec.state.terminal:
                rec.state = NodeState.CANCELLED
                if rec.started_at is not None:
                    rec.finished_at = now
        if active:
            actions.append(CancelNodes(active))
        record.state = state
        record.error = error
        record.finished_at = now
        actions.append(ExecutionFinished(state, error))
        return actions

    def _terminal(
        self,
        record: ExecutionRecord,
        node_id: str,
        state: NodeState,
        now: float,
        actions: list[Action],
    ) -> None:
        """Mark a node finished, then release whatever that makes ready."""
        self._mark(record, node_id, state, now, actions)
        if self.mode == "levels":
            self._advance_levels(record, now, actions)
        elif record.finished_count == len(record.nodes):
            self._finish(record, now, actions)

    def _mark(
        self,
        record: ExecutionRecord,
        node_id: str,
        state: NodeState,
        now: float,
        actions: list[Action],
    ) -> None:
        """Record a terminal state and update the counters. In dataflow mode, decide every
        successor whose dependencies are now all finished (skips cascade, iteratively)."""
        work = [(node_id, state)]
        while work:
            nid, st = work.pop()
            rec = record.nodes[nid]
            rec.state = st
            rec.finished_at = now
            record.finished_count += 1
            record.level_done(self.plan.level_of[nid])
            actions.append(NodeFinished(nid, st))
            if self.mode != "dataflow":
                continue  # levels mode opens whole levels: no per-node counters to keep
            for s in self.plan.succs[nid]:
                succ = record.nodes[s]
                succ.pending -= 1
                if succ.pending == 0:
                    verdict = self._verdict(record, s)
                    if verdict is None:
                        self._queue(record, s, actions)
                    elif self._fails_now(record, s, verdict, now, actions):
                        return
                    else:
                        record.nodes[s].skip_reason = verdict
                        work.append((s, NodeState.SKIPPED))

    def _advance_levels(self, record: ExecutionRecord, now: float, actions: list[Action]) -> None:
        """Levels mode: close every finished level and open the next, until one has work."""
        levels = self.plan.levels
        while record.state in _LIVE and record.level_remaining[record.current_level] == 0:
            done = record.current_level
            actions.append(LevelCompleted(done))
            if done + 1 == len(levels):
                self._finish(record, now, actions)
                return
            record.current_level = done + 1
            self._open_level(record, done + 1, now, actions)

    def _open_level(
        self, record: ExecutionRecord, level: int, now: float, actions: list[Action]
    ) -> None:
        ids = tuple(n for n in self.plan.levels[level] if not record.nodes[n].state.terminal)
        actions.append(LevelStarted(level, ids))
        skipped: list[tuple[str, SkipReason]] = []
        for nid in ids:
            verdict = self._verdict(record, nid)
            if verdict is None:
                self._queue(record, nid, actions)
            elif self._fails_now(record, nid, verdict, now, actions):
                return
            else:
                skipped.append((nid, verdict))
        for nid, verdict in skipped:
            record.nodes[nid].skip_reason = verdict
            self._mark(record, nid, NodeState.SKIPPED, now, actions)

    def _decide_all(
        self, record: ExecutionRecord, ids: list[str], now: float, actions: list[Action]
    ) -> None:
        for nid in ids:
            verdict = self._verdict(record, nid)
            if verdict is None:
                self._queue(record, nid, actions)
            elif self._fails_now(record, nid, verdict, now, actions):
                return
            else:
                record.nodes[nid].skip_reason = verdict
                self._mark(record, nid, NodeState.SKIPPED, now, actions)
            if record.state.terminal:
                return
        if record.finished_count == len(record.nodes):
            self._finish(record, now, actions)

    def _queue(self, record: ExecutionRecord, node_id: str, actions: list[Action]) -> None:
        rec = record.nodes[node_id]
        rec.state = NodeState.QUEUED
        rec.attempts += 1  # attempt numbers only grow, also across restarts
        actions.append(RunNode(node_id, rec.attempts))

    def _fails_now(
        self,
        record: ExecutionRecord,
        node_id: str,
        verdict: SkipReason,
        now: float,
        actions: list[Action],
    ) -> bool:
        """Under ``on_upstream_failure="fail_immediately"``, a node whose dependency failed
        fails the execution instead of being skipped."""
        if verdict is not SkipReason.UPSTREAM_FAILED or self.on_upstream_failure != (
            "fail_immediately"
        ):
            return False
        failed = next(
            (p for p in self.plan.preds[node_id] if record.nodes.peek(p).state is NodeState.FAILED),
            None,
        )
        label = self.workflow.nodes_by_id[node_id].label
        cause = f": dependency {self.workflow.nodes_by_id[failed].label} failed" if failed else ""
        self._stop(record, ExecutionState.FAILED, f"node {label} cannot run{cause}", now, actions)
        return True

    def _verdict(self, record: ExecutionRecord, node_id: str) -> SkipReason | None:
        """None to run the node, or why it is skipped. All its dependencies are finished."""
        preds = self.plan.preds[node_id]
        if not preds:
            return None
        active = False
        pruned = False
        for p in preds:
            rec = record.nodes.peek(p)
            if rec.state is NodeState.FAILED and self.on_upstream_failure == (
                "execute_with_defaults"
            ):
                active = True  # it stands in with its default_output
                continue
            if rec.state is NodeState.FAILED or rec.skip_reason is SkipReason.UPSTREAM_FAILED:
                return SkipReason.UPSTREAM_FAILED
            if rec.state is NodeState.SUCCEEDED:
                if rec.routes is None or node_id in rec.routes:
                    active = True
                else:
                    pruned = True
            elif rec.skip_reason is SkipReason.BRANCH_NOT_TAKEN:
                pruned = True
        if active:
            return None
        return SkipReason.BRANCH_NOT_TAKEN if pruned else SkipReason.UPSTREAM_SKIPPED

    def _finish(self, record: ExecutionRecord, now: float, actions: list[Action]) -> list[Action]:
        if record.state.terminal:
            return actions
        record.state = ExecutionState.COMPLETED
        record.finished_at = now
        actions.append(ExecutionFinished(ExecutionState.COMPLETED, None))
        return actions


def make_machine(
    workflow: Workflow,
    plan: Plan,
    config: ExecutionConfig,
    rng: random.Random | None = None,
    *,
    routers: frozenset[str] | None = None,
) -> Machine:
    """The state machine for an execution of ``workflow`` run with ``config`` (``routers``:
    the workflow's IfElse and Switch nodes, when the caller knows them already)."""
    return Machine(
        workflow,
        plan,
        mode=config.mode,
        continue_on_error=config.continue_on_error,
        on_upstream_failure=config.on_upstream_failure,
        rng=rng,
        routers=routers,
    )
