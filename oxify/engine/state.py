"""Execution and node records: the state the machine updates and the stores keep.

A record is read from a store as a *snapshot*: the execution-level fields are copied, and
the node records are copied only when a step reads them (:class:`NodeTable`), so a step
costs what it touches and the nodes it touched are what it writes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from oxify.engine.options import ExecutionConfig
from oxify.engine.waits import Wait


class ExecutionState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_EXECUTION


_TERMINAL_EXECUTION = frozenset(
    {ExecutionState.COMPLETED, ExecutionState.FAILED, ExecutionState.CANCELLED}
)


class NodeState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_NODE


_TERMINAL_NODE = frozenset(
    {NodeState.SUCCEEDED, NodeState.FAILED, NodeState.SKIPPED, NodeState.CANCELLED}
)


class SkipReason(StrEnum):
    """Why a node was skipped."""

    BRANCH_NOT_TAKEN = "branch_not_taken"
    """Every incoming edge comes from a router (IfElse/Switch) that chose another branch,
    or from nodes skipped for that reason."""
    UPSTREAM_FAILED = "upstream_failed"
    """A dependency failed (only under ``continue_on_error``)."""
    UPSTREAM_SKIPPED = "upstream_skipped"
    """Every dependency was skipped for another reason (for example a timeout with Skip)."""
    TIMEOUT = "timeout"
    """The node timed out and its ``timeout_action`` is ``Skip``."""


@dataclass(slots=True)
class NodeRecord:
    """What happened to one node. Times are seconds since the epoch.

    ``output`` is set by the machine during a step (a store keeps outputs apart, by node);
    a record read from a store does not carry it.
    """

    state: NodeState = NodeState.PENDING
    attempts: int = 0
    output: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    routes: tuple[str, ...] | None = None
    skip_reason: SkipReason | None = None
    lost: int = 0
    """Attempts lost with their worker (killed, vanished): retried without counting
    against ``retry_config``, up to :data:`oxify.engine.machine.MAX_LOST_ATTEMPTS`."""
    wait: Wait | None = None
    """A composite node (Loop, TryCatch, SubWorkflow, Parallel) waiting for its child
    executions."""
    pending: int = 0
    """Dependencies not finished yet (dataflow scheduling releases the node at 0)."""

    @property
    def has_output(self) -> bool:
        """Whether downstream nodes see an output (set in this step): the node succeeded, or
        it failed and a default output stands in for it
        (``on_upstream_failure="execute_with_defaults"``)."""
        return self.state is NodeState.SUCCEEDED or (
            self.state is NodeState.FAILED and self.output is not None
        )

    def copy(self) -> NodeRecord:
        """An independent copy (a wait is never changed in place, so it is shared)."""
        return NodeRecord(
            self.state,
            self.attempts,
            self.output,
            self.error,
            self.started_at,
            self.finished_at,
            self.routes,
            self.skip_reason,
            self.lost,
            self.wait,
            self.pending,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, without the output (stores keep outputs apart)."""
        data: dict[str, Any] = {
            "state": self.state.value,
            "attempts": self.attempts,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "routes": list(self.routes) if self.routes is not None else None,
            "skip_reason": self.skip_reason.value if self.skip_reason else None,
            "lost": self.lost,
            "pending": self.pending,
        }
        if self.wait is not None:
            data["wait"] = self.wait.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeRecord:
        routes = data.get("routes")
        reason = data.get("skip_reason")
        wait = data.get("wait")
        return cls(
            state=NodeState(data["state"]),
            attempts=data.get("attempts", 0),
            error=data.get("error"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            routes=tuple(routes) if routes is not None else None,
            skip_reason=SkipReason(reason) if reason else None,
            lost=data.get("lost", 0),
            wait=Wait.from_dict(wait) if wait is not None else None,
            pending=data.get("pending", 0),
        )


class NodeTable(MutableMapping[str, NodeRecord]):
    """The node records of one snapshot: read from ``base`` (a store's own records, or
    their plain data) and copied (``load``) the first time a step reads each one, so the
    step never changes what the store holds. :attr:`touched` are the copies it made (or
    records it set): what a commit writes back."""

    __slots__ = ("_base", "_load", "touched")

    def __init__(
        self,
        base: Mapping[str, Any],
        load: Callable[[Any], NodeRecord] | None = None,
    ) -> None:
        self._base = base
        self._load = load
        self.touched: dict[str, NodeRecord] = {}

    @classmethod
    def of(cls, records: dict[str, NodeRecord]) -> NodeTable:
        """A table owning ``records`` (a new record: every node is touched)."""
        table = cls(records)
        table.touched = records
        return table

    def __getitem__(self, node_id: str) -> NodeRecord:
        rec = self.touched.get(node_id)
        if rec is None:
            raw = self._base[node_id]
            rec = self.touched[node_id] = raw.copy() if self._load is None else self._load(raw)
        return rec

    def __setitem__(self, node_id: str, record: NodeRecord) -> None:
        if node_id not in self._base and self.touched is not self._base:
            raise KeyError(f"no node {node_id!r} in this execution")
        self.touched[node_id] = record

    def __delitem__(self, node_id: str) -> None:
        raise TypeError("nodes are never removed from an execution")

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._base

    def peek(self, node_id: str) -> NodeRecord:
        """A node's record to read, not to change (not copied when the base holds records)."""
        rec = self.touched.get(node_id)
        if rec is not None:
            return rec
        return self._base[node_id] if self._load is None else self[node_id]

    def raw(self, node_id: str) -> Any:
        """A node's plain data without copying it (for writing back untouched nodes)."""
        rec = self.touched.get(node_id)
        if rec is None and self._load is None:  # the base holds records (a store's own)
            rec = self._base[node_id]
        return rec.to_dict() if rec is not None else self._base[node_id]


@dataclass(frozen=True, slots=True)
class ParentLink:
    """For a child execution: the composite node (of its parent) that started it."""

    execution_id: str
    node_id: str
    attempt: int
    child: str
    """The child's own execution id (its key in the parent's wait)."""
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "node_id": self.node_id,
            "attempt": self.attempt,
            "child": self.child,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParentLink:
        return cls(
            data["execution_id"],
            data["node_id"],
            int(data["attempt"]),
            data["child"],
            data.get("label", ""),
        )


@dataclass(slots=True)
class ExecutionRecord:
    """The whole state of one execution, but its outputs.

    ``level_remaining`` (per level, the nodes not yet finished) and each node's
    ``pending`` are counters the machine keeps so that an event costs time proportional to
    the nodes it touches. ``level_remaining`` changes through :meth:`level_done` only: a
    snapshot shares the store's list until its first change (then copies it). ``config``
    is the execution's options; ``restart`` (set by a resume or a replay, cleared by the
    step that acts on it) lists the nodes to run again.
    """

    execution_id: str
    workflow_id: str
    workflow_hash: str
    mode: str
    inputs: dict[str, Any]
    nodes: NodeTable
    level_remaining: list[int]
    state: ExecutionState = ExecutionState.PENDING
    current_level: int = 0
    finished_count: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    failed_nodes: list[str] = field(default_factory=list)
    parent: ParentLink | None = None
    depth: int = 0
    """0 for a top-level execution, parent's depth + 1 for a child."""
    config: ExecutionConfig = field(default_factory=ExecutionConfig)
    restart: list[str] | None = None
    own_levels: bool = field(default=True, repr=False, compare=False)
    """Whether ``level_remaining`` is this record's own list (a snapshot shares the store's
    until it changes it: :meth:`level_done` copies it first)."""

    def level_done(self, level: int) -> None:
        """One more node of ``level`` finished."""
        if not self.own_levels:
            self.level_remaining = list(self.level_remaining)
            self.own_levels = True
        self.level_remaining[level] -= 1

    def snapshot(self) -> ExecutionRecord:
        """A copy whose nodes are copied when read, of a record that holds every node
        (as a store keeps it); the record itself stays as it is."""
        return ExecutionRecord(
            self.execution_id,
            self.workflow_id,
            self.workflow_hash,
            self.mode,
            self.inputs,
            NodeTable(self.nodes.touched),
            self.level_remaining,
            self.state,
            self.current_level,
            self.finished_count,
            self.started_at,
            self.finished_at,
            self.error,
            list(self.failed_nodes),
            self.parent,
            self.depth,
            self.config,
            None if self.restart is None else list(self.restart),
            own_levels=False,
        )

    def absorb(self, changed: ExecutionRecord) -> None:
        """Take a committed snapshot's changes: its execution-level fields and the nodes
        it touched."""
        self.workflow_hash = changed.workflow_hash
        self.state = changed.state
        self.current_level = changed.current_level
        self.finished_count = changed.finished_count
        self.started_at = changed.started_at
        self.finished_at = changed.finished_at
        self.error = changed.error
        self.failed_nodes = list(changed.failed_nodes)
        self.level_remaining = changed.level_remaining
        changed.own_levels = False  # shared with this record now
        self.config = changed.config
        self.restart = None if changed.restart is None else list(changed.restart)
        self.nodes.touched.update(changed.nodes.touched)

    def header(self) -> dict[str, Any]:
        """The execution-level fields as plain data (inputs and nodes apart)."""
        return {
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "workflow_hash": self.workflow_hash,
            "mode": self.mode,
            "state": self.state.value,
            "current_level": self.current_level,
            "finished_count": self.finished_count,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "failed_nodes": list(self.failed_nodes),
            "parent": self.parent.to_dict() if self.parent is not None else None,
            "depth": self.depth,
            "level_remaining": list(self.level_remaining),
            "config": self.config.model_dump(),
            "restart": self.restart,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data without outputs and inputs (nodes not read are not re-encoded)."""
        data = self.header()
        data["nodes"] = {n: self.nodes.raw(n) for n in self.nodes}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], inputs: dict[str, Any]) -> ExecutionRecord:
        """A record from plain data; node records are built when first read."""
        nodes: dict[str, Any] = dict(data["nodes"])
        old_counters = data.get("pending_preds")  # records written before per-node counters
        if old_counters:
            nodes = {n: {**raw, "pending": old_counters.get(n, 0)} for n, raw in nodes.items()}
        parent = data.get("parent")
        return cls(
            execution_id=data["execution_id"],
            workflow_id=data["workflow_id"],
            workflow_hash=data["workflow_hash"],
            mode=data["mode"],
            inputs=inputs,
            nodes=NodeTable(nodes, NodeRecord.from_dict),
            level_remaining=list(data["level_remaining"]),
            state=ExecutionState(data["state"]),
            current_level=data["current_level"],
            finished_count=data["finished_count"],
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
            failed_nodes=list(data.get("failed_nodes", [])),
            parent=ParentLink.from_dict(parent) if parent else None,
            depth=data.get("depth", 0),
            config=ExecutionConfig.model_construct(**data.get("config", {})),
            restart=data.get("restart"),
        )
