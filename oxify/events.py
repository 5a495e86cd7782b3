"""Execution events: the OxiFY event names, one small immutable record each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKFLOW_STARTED = "workflow.started"
WORKFLOW_COMPLETED = "workflow.completed"
WORKFLOW_FAILED = "workflow.failed"
WORKFLOW_CANCELLED = "workflow.cancelled"
WORKFLOW_PAUSED = "workflow.paused"
WORKFLOW_RESUMED = "workflow.resumed"
LEVEL_STARTED = "level.started"
LEVEL_COMPLETED = "level.completed"
NODE_STARTED = "node.started"
NODE_COMPLETED = "node.completed"
NODE_FAILED = "node.failed"
NODE_RETRY = "node.retry"
NODE_SKIPPED = "node.skipped"
NODE_CANCELLED = "node.cancelled"
NODE_WAITING = "node.waiting"
CHILD_STARTED = "child.started"
CHILD_FINISHED = "child.finished"
PROGRESS_UPDATE = "progress.update"
CHECKPOINT_CREATED = "checkpoint.created"

EVENT_TYPES: tuple[str, ...] = (
    WORKFLOW_STARTED,
    WORKFLOW_COMPLETED,
    WORKFLOW_FAILED,
    WORKFLOW_CANCELLED,
    WORKFLOW_PAUSED,
    WORKFLOW_RESUMED,
    LEVEL_STARTED,
    LEVEL_COMPLETED,
    NODE_STARTED,
    NODE_COMPLETED,
    NODE_FAILED,
    NODE_RETRY,
    NODE_SKIPPED,
    NODE_CANCELLED,
    NODE_WAITING,
    CHILD_STARTED,
    CHILD_FINISHED,
    PROGRESS_UPDATE,
    CHECKPOINT_CREATED,
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in an execution. ``seq`` orders the events of an execution."""

    type: str
    execution_id: str
    workflow_id: str
    seq: int
    timestamp: float
    data: dict[str, Any] = field(default_factory=dict)
    cursor: str | None = None
    """Where this event sits in a stored stream (distributed mode): resume after it."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], cursor: str | None = None) -> Event:
        return cls(
            type=data["type"],
            execution_id=data["execution_id"],
            workflow_id=data["workflow_id"],
            seq=data.get("seq", 0),
            timestamp=data["timestamp"],
            data=data.get("data", {}),
            cursor=cursor,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "data": self.data,
        }
